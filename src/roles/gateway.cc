// deltaswarm gateway: a seed-only mirror for the nodes behind a constrained
// uplink. Each version's artifacts cross the uplink once, into
// DIR/chunks/<id>/<kind>/, and reach the nodes through the swarm; the nodes
// read the metadata from DIR/mirror/, a directory bucket served over HTTP
// (HTTPS when the gateway has a certificate).
//
// Invariant of the mirror: a version enters it in this order — its artifacts
// fetched and checked against the signed manifest, seeded, then its torrents
// and indexes written, then its manifest, then the upstream's signed
// refs/latest, byte for byte, once the version it names is held — so a
// manifest is there only once all its artifacts are held, verified and
// seeded, and refs/latest names only a held version. A failure before the manifest
// leaves the version out of the mirror, and the next sync tries it again.
// Every mirrored version holds all its artifacts, and the mirrored versions
// run contiguously up from a keyframe (a restart fetches a damaged or missing
// middle version again, or drops what no keyframe reaches any more), so any
// node finds either its delta chain or a keyframe path.
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <unistd.h>

#include "bucket/bucket_server.h"
#include "core/file.h"
#include "core/file_system.h"
#include "deltaswarm/bucket.h"
#include "deltaswarm/delta_index.h"
#include "deltaswarm/gateway.h"
#include "deltaswarm/swarm.h"
#include "deltaswarm/tls.h"
#include "deltaswarm/utc_time.h"
#include "roles/artifact_transfer.h"
#include "roles/bucket_layout.h"
#include "roles/follower.h"
#include "roles/latest_view.h"
#include "roles/role_metrics.h"
#include "roles/swarm_fetch.h"
#include "roles/version_graph.h"

namespace deltaswarm {

namespace {

// The gateway's directory, locked for one process.
struct GatewayDir {
  std::string root;
  int lock_fd = -1;
  std::unique_ptr<Bucket> mirror;

  ~GatewayDir() {
    if (lock_fd >= 0) ::close(lock_fd);
  }
  std::string ChunksDir(uint64_t id) const { return root + "/chunks/" + std::to_string(id); }
};

Result<std::unique_ptr<GatewayDir>> OpenGatewayDir(const std::string& root) {
  DS_RETURN_IF_ERROR(MakeDirectories(root + "/chunks"));
  auto dir = std::make_unique<GatewayDir>();
  dir->root = root;
  DS_ASSIGN_OR_RETURN(dir->lock_fd, LockExclusively(root + "/lock", root));
  DS_ASSIGN_OR_RETURN(dir->mirror, OpenBucket(root + "/mirror", /*create=*/true));
  return dir;
}

class Gateway {
 public:
  // upstream_swarm (may be null) fetches from upstream peers; seeds (may be
  // null: a sync) serves the nodes; stop (may be null) ends a download.
  Gateway(const GatewayOptions& o, Bucket& upstream, GatewayDir& dir, std::vector<TrustedKey> trusted,
          Swarm* upstream_swarm, Swarm* seeds, const StopSignal* stop,
          const std::function<void(const GatewayEvent&)>& on_event, const ProgressFn& progress)
      : o_(o), upstream_(upstream), dir_(dir), mirror_(*dir.mirror), trusted_(std::move(trusted)),
        upstream_swarm_(upstream_swarm), seeds_(seeds), stop_(stop), on_event_(on_event), progress_(progress),
        held_(VersionNamer(*dir.mirror, o.model)) {}

  // Loads what the mirror holds and drops half-mirrored versions (a gateway
  // killed mid-version); when serving, checks and seeds each held version (a
  // damaged chunk is fetched again from upstream). A version damaged in the
  // mirror, or missing from it, that later ones are built on is fetched again
  // from upstream; what no keyframe reaches any more is dropped, with a warning.
  Status Restore() {
    DS_ASSIGN_OR_RETURN(std::vector<uint64_t> ids, ListVersions(mirror_, o_.model));
    std::vector<uint64_t> damaged;  // out of the mirror, their chunks kept for a cheap fetch again
    for (uint64_t id : ids) {
      auto m = FetchManifest(mirror_, o_.model, id, trusted_);
      if (m.ok()) {
        held_.Add(std::move(m).value());
        continue;
      }
      if (m.status().code() != Code::kNotFound)  // else half-mirrored: nothing to say
        Emit("warning", id, "version " + std::to_string(id) + " is damaged in the mirror: " + m.status().message());
      DS_RETURN_IF_ERROR(ForgetVersion(id));
      damaged.push_back(id);
    }
    if (seeds_) {
      for (uint64_t id : held_.ids()) {
        Status st = CheckAndSeed(id);
        if (st.ok()) continue;
        if (st.code() == Code::kCancelled) return st;  // stopped while checking: nothing is wrong with it
        Emit("warning", id, "version " + std::to_string(id) + " is damaged: " + st.message());
        DS_RETURN_IF_ERROR(ForgetVersion(id));
        damaged.push_back(id);
      }
    }
    DS_RETURN_IF_ERROR(RefetchGaps());
    for (uint64_t id : held_.CheckContiguity().unreachable) {
      Emit("warning", id,
           "dropping version " + std::to_string(id) + ": no keyframe reaches it through the versions held");
      DS_RETURN_IF_ERROR(RemoveVersion(id, /*announce=*/false));
    }
    // A damaged version above the newest held is the next sync's to mirror again; below, no one needs it.
    for (uint64_t id : damaged) {
      if (!held_.Find(id) && id < held_.newest()) {
        DS_RETURN_IF_ERROR(RemoveVersion(id, /*announce=*/false));
      }
    }
    // The mirror's statement stays while it names a version held; else the
    // next sync mirrors upstream's (the gateway cannot sign one of its own).
    auto kept = ReadSignedLatest(mirror_, o_.model, trusted_);
    if (kept.ok() && kept->statement.version != 0 && held_.Find(kept->statement.version)) {
      report_.latest = kept->statement.version;
      mirrored_latest_ = std::move(kept->bytes);
      return Status::Ok();
    }
    return mirror_.Delete(LatestKey(o_.model));
  }

  // Mirrors every version up to the one the upstream's signed latest leads
  // to (never backwards), pruning after each, then mirrors the statement.
  Status Sync() {
    const uint64_t newest = held_.newest();
    DS_ASSIGN_OR_RETURN(LatestView latest, ResolveLatest(upstream_, o_.model, trusted_, newest, UnixNow()));
    upstream_latest_ = std::max(upstream_latest_, latest.target);
    if (!latest.stale.empty() && latest.stale != reported_stale_) Emit("stale_latest", latest.target, latest.stale);
    reported_stale_ = latest.stale;
    if (latest.target > newest) {
      VersionGraph upstream(VersionNamer(upstream_, o_.model));
      std::map<uint64_t, std::vector<std::byte>> signed_bytes;  // each manifest as fetched, mirrored unchanged
      while (std::optional<uint64_t> id = upstream.NextToFetch(newest, latest.target)) {
        DS_RETURN_IF_ERROR(
            upstream.AddFetched(*id, FetchManifest(upstream_, o_.model, *id, trusted_, &signed_bytes[*id])));
      }
      DS_ASSIGN_OR_RETURN(std::vector<uint64_t> plan, upstream.MirrorPlan(newest, latest.target));
      for (uint64_t id : plan) {
        DS_ASSIGN_OR_RETURN(Transfer fetched, HoldVersion(id, upstream.at(id), signed_bytes.at(id)));
        report_.mirrored.push_back(id);
        EmitMirrored(id, fetched, "mirrored");
        DS_RETURN_IF_ERROR(Prune());
      }
    }
    return MirrorLatest(latest.latest);
  }

  // Puts upstream's statement into the mirror, byte for byte, once the
  // version it names is held (so a node never follows it to a version the
  // gateway lacks), and again whenever the publisher re-signs it.
  Status MirrorLatest(const SignedLatest& upstream) {
    const uint64_t version = upstream.statement.version;
    if (version == 0 || !held_.Find(version) || upstream.bytes == mirrored_latest_) return Status::Ok();
    DS_RETURN_IF_ERROR(PutLatest(mirror_, o_.model, upstream.bytes));
    mirrored_latest_ = upstream.bytes;
    report_.latest = version;
    return Status::Ok();
  }

  GatewayReport Finish() {
    report_.held = held_.ids();
    return report_;
  }

  uint64_t serving() const { return report_.latest; }               // the version the mirror's refs/latest names
  uint64_t upstream_latest() const { return upstream_latest_; }     // the newest the upstream's was seen to lead to

 private:
  struct Transfer {
    uint64_t bytes = 0;        // payload fetched upstream (bucket and swarm)
    uint64_t from_bucket = 0;  // of those, read from the bucket itself
    double seconds = 0;        // fetching, checking and seeding it
  };

  std::string ArtifactDir(uint64_t id, const ManifestArtifact& a) const { return dir_.ChunksDir(id) + "/" + a.dir; }

  // Fetches again from upstream each version whose absence cuts held ones
  // off from their keyframe (damaged, or removed from the mirror). One that
  // cannot be fetched is marked missing: what it cuts off is dropped after.
  Status RefetchGaps() {
    while (std::optional<uint64_t> id = held_.NextToRepair()) {
      std::vector<std::byte> signed_bytes;
      Result<Manifest> m = FetchManifest(upstream_, o_.model, *id, trusted_, &signed_bytes);
      Result<Transfer> fetched = m.ok() ? HoldVersion(*id, *m, signed_bytes) : Result<Transfer>(m.status());
      if (fetched.ok()) {
        EmitMirrored(*id, *fetched, "fetched again, closing a gap in the mirror");
        continue;
      }
      if (fetched.status().code() == Code::kCancelled) return fetched.status();
      Emit("warning", *id,
           "version " + std::to_string(*id) + " is missing from the mirror and could not be fetched again: " +
               fetched.status().message());
      held_.AddMissing(*id, fetched.status());
    }
    return Status::Ok();
  }

  // Fetches and checks every artifact of version id, seeds them, then writes
  // its torrents and indexes into the mirror and its manifest last (the
  // caller moves refs/latest). On a failure the mirror does not show the
  // version and the swarm does not seed it; the chunks already checked stay
  // for the next try.
  Result<Transfer> HoldVersion(uint64_t id, const Manifest& m, std::span<const std::byte> signed_bytes) {
    const auto started = SteadyClock::now();
    Transfer fetched;
    std::vector<std::vector<std::byte>> torrents;
    for (const ManifestArtifact& a : m.artifacts) {
      DS_ASSIGN_OR_RETURN(std::vector<std::byte> torrent, FetchTorrent(upstream_, o_.model, id, a));
      if (upstream_swarm_) {
        DS_ASSIGN_OR_RETURN(uint64_t got, FetchOverSwarm(id, a, torrent));
        report_.swarm_bytes += got;
        fetched.bytes += got;
        // The swarm checked every piece against the signed torrent: not hashed again.
        uint64_t hashed = 0;
        if (CheckSwarmArtifact(a, ArtifactDir(id, a), &hashed).ok()) {
          torrents.push_back(std::move(torrent));
          continue;
        }
      }
      // Checks every object; fetches from the bucket what the swarm did not bring.
      DS_ASSIGN_OR_RETURN(uint64_t got,
                          DownloadArtifact(upstream_, o_.model, id, a, ArtifactDir(id, a), progress_, stop_));
      report_.bucket_bytes += got;
      fetched.from_bucket += got;
      fetched.bytes += got;
      torrents.push_back(std::move(torrent));
    }
    if (seeds_) {
      DS_RETURN_IF_ERROR(Seed(id, torrents));
    }
    Status written = WriteMetadata(id, m, torrents, signed_bytes);
    if (!written.ok()) {
      Unseed(id);
      return written;
    }
    held_.Add(m);
    fetched.seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
    return fetched;
  }

  // The mirror's part of a held version: torrents and indexes, then the manifest.
  Status WriteMetadata(uint64_t id, const Manifest& m, const std::vector<std::vector<std::byte>>& torrents,
                       std::span<const std::byte> signed_bytes) {
    for (size_t i = 0; i < m.artifacts.size(); ++i) {
      const ManifestArtifact& a = m.artifacts[i];
      DS_RETURN_IF_ERROR(mirror_.Put(TorrentKey(o_.model, id, a.dir), torrents[i]));
      DS_RETURN_IF_ERROR(mirror_.PutFile(ArtifactKey(o_.model, id, a.dir, kIndexFileName),
                                         ArtifactDir(id, a) + "/" + kIndexFileName, nullptr));
    }
    return mirror_.Put(ManifestKey(o_.model, id), signed_bytes);
  }

  void EmitMirrored(uint64_t id, const Transfer& fetched, const std::string& what) {
    GatewayEvent ev{"mirrored", id,
                    "version " + std::to_string(id) + " " + what + " (" + std::to_string(fetched.bytes) +
                        " bytes fetched upstream" + (seeds_ ? ", seeding" : "") + ")",
                    fetched.bytes, fetched.from_bucket, "", "", fetched.seconds};
    if (on_event_) on_event_(ev);
  }

  // Downloads one artifact from upstream peers (the bucket's HTTP as a web
  // seed after fallback_after_s without progress); returns payload bytes.
  Result<uint64_t> FetchOverSwarm(uint64_t id, const ManifestArtifact& a, const std::vector<std::byte>& torrent) {
    AwaitOptions await;
    await.what = a.kind + " " + std::to_string(id);
    await.web_seed = WebSeedFor(upstream_, o_.model, id);
    await.fallback_after_s = o_.fallback_after_s;
    await.timeout_s = o_.swarm_timeout_s;
    await.restart_stalled_s = kRestartStalledS;
    await.stop = stop_;
    await.progress = progress_;
    DS_ASSIGN_OR_RETURN(TorrentId tid, upstream_swarm_->AddDownload(torrent, dir_.ChunksDir(id), {}));
    Status st = AwaitTorrent(*upstream_swarm_, tid, torrent, dir_.ChunksDir(id), await);
    uint64_t got = upstream_swarm_->GetStatus(tid).all_time_download;
    upstream_swarm_->Remove(tid);  // the seeding session serves it from here on
    DS_RETURN_IF_ERROR(st);
    return got;
  }

  // Checks a held version's artifacts (fetching damaged chunks again from
  // upstream) and its torrents in the mirror, then seeds it.
  Status CheckAndSeed(uint64_t id) {
    std::vector<std::vector<std::byte>> torrents;
    for (const ManifestArtifact& a : held_.at(id).artifacts) {
      DS_ASSIGN_OR_RETURN(uint64_t got,
                          DownloadArtifact(upstream_, o_.model, id, a, ArtifactDir(id, a), progress_, stop_));
      report_.bucket_bytes += got;
      DS_ASSIGN_OR_RETURN(std::vector<std::byte> torrent, FetchTorrent(mirror_, o_.model, id, a));
      torrents.push_back(std::move(torrent));
    }
    return Seed(id, torrents);
  }

  // Adds a version's torrents to the seeding session: all of them, or none.
  Status Seed(uint64_t id, const std::vector<std::vector<std::byte>>& torrents) {
    for (const auto& torrent : torrents) {
      Result<TorrentId> tid = seeds_->AddSeed(torrent, dir_.ChunksDir(id));
      if (!tid.ok()) {
        Unseed(id);
        return tid.status();
      }
      torrents_[id].push_back(*tid);
    }
    return Status::Ok();
  }

  void Unseed(uint64_t id) {
    if (seeds_)
      for (TorrentId tid : torrents_[id]) seeds_->Remove(tid);
    torrents_.erase(id);
  }

  // Keeps the newest `keep` versions and the chain back to the keyframe the
  // oldest of them is built from.
  Status Prune() {
    for (uint64_t id : held_.Dropped(o_.keep)) {
      DS_RETURN_IF_ERROR(RemoveVersion(id, /*announce=*/true));
    }
    return Status::Ok();
  }

  // Takes a version out of the mirror first (nodes stop choosing it), then
  // out of the swarm, then off the disk.
  Status RemoveVersion(uint64_t id, bool announce) {
    DS_RETURN_IF_ERROR(ForgetVersion(id));
    DS_RETURN_IF_ERROR(RemoveAll(dir_.ChunksDir(id)));
    if (announce)
      Emit("removed", id, "version " + std::to_string(id) + " removed (keep " + std::to_string(o_.keep) + ")");
    return Status::Ok();
  }

  // The same, keeping its chunks on disk.
  Status ForgetVersion(uint64_t id) {
    DS_RETURN_IF_ERROR(mirror_.Delete(VersionPrefix(o_.model, id)));
    Unseed(id);
    held_.Remove(id);
    return Status::Ok();
  }

  void Emit(const std::string& type, uint64_t version, const std::string& message) {
    if (on_event_) on_event_(GatewayEvent{type, version, message, 0, 0, "", "", 0});
  }

  const GatewayOptions& o_;
  Bucket& upstream_;
  GatewayDir& dir_;
  Bucket& mirror_;
  std::vector<TrustedKey> trusted_;
  Swarm* upstream_swarm_;
  Swarm* seeds_;
  const StopSignal* stop_;  // may be null
  const std::function<void(const GatewayEvent&)>& on_event_;
  const ProgressFn& progress_;
  VersionGraph held_;  // the versions the mirror shows
  std::vector<std::byte> mirrored_latest_;  // the statement in the mirror, as upstream signed it
  std::string reported_stale_;              // the last stale_latest reason emitted
  uint64_t upstream_latest_ = 0;
  std::map<uint64_t, std::vector<TorrentId>> torrents_;
  GatewayReport report_;
};

// The session that fetches from upstream peers, when there are any.
Result<std::unique_ptr<Swarm>> StartUpstreamSwarm(const GatewayOptions& o) {
  if (o.peers.empty() && o.trackers.empty()) return std::unique_ptr<Swarm>();
  // It only dials out: any port; its uploads are to upstream peers only.
  return Swarm::Start(DownloaderSwarmOptions("0.0.0.0:0", o.peers, o.trackers, 0, o.download_rate, o.tls,
                                             o.aio_threads, o.hashing_threads));
}

// The HTTPS settings that only mean something together, checked before the
// restore (which may take minutes) so a bad combination fails at once.
Status CheckGatewayTls(const GatewayOptions& o) {
  if (o.require_client_cert && !o.tls.has_certificate())
    return InvalidArgument("require_client_cert needs HTTPS, that is a certificate (tls_cert and tls_key)");
  if (o.require_client_cert && o.tls.ca.empty())
    return InvalidArgument("require_client_cert needs tls_ca, the CA client certificates must come from");
  if (!o.tls_crl.empty() && !o.require_client_cert)
    return InvalidArgument("tls_crl " + o.tls_crl +
                           " is checked against client certificates: it needs require_client_cert");
  if (o.tls.cert.empty() && o.tls.key.empty()) return Status::Ok();
  // The metadata server loads these only after the restore: check them now
  // (and a key without its certificate, which would mean plain HTTP).
  Result<CertificateInfo> identity = CheckIdentity(o.tls);
  if (!identity.ok()) return identity.status();
  if (!o.tls_crl.empty()) {
    Result<std::string> crl = ReadPemFile(o.tls_crl);
    if (!crl.ok()) return crl.status().Prefixed("tls_crl");
  }
  return Status::Ok();
}

}  // namespace

Result<GatewayReport> SyncGateway(const GatewayOptions& o, const ProgressFn& progress) {
  DS_RETURN_IF_ERROR(CheckFollowerOptions(o, o.dir, "dir"));
  DS_RETURN_IF_ERROR(CheckGatewayTls(o));
  DS_ASSIGN_OR_RETURN(std::vector<TrustedKey> trusted, LoadTrustedKeys(o.trust));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<Bucket> upstream, OpenBucket(o.bucket, /*create=*/false, o.tls));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<GatewayDir> dir, OpenGatewayDir(o.dir));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<Swarm> upstream_swarm, StartUpstreamSwarm(o));
  std::function<void(const GatewayEvent&)> no_events;
  Gateway gateway(o, *upstream, *dir, std::move(trusted), upstream_swarm.get(), nullptr, nullptr, no_events, progress);
  DS_RETURN_IF_ERROR(gateway.Restore());
  DS_RETURN_IF_ERROR(gateway.Sync());
  return gateway.Finish();
}

Result<GatewayReport> RunGateway(const GatewayOptions& o, const StopSignal& stop,
                                 const std::function<void(const GatewayEvent&)>& on_event,
                                 const ProgressFn& progress) {
  DS_RETURN_IF_ERROR(CheckFollowerOptions(o, o.dir, "dir"));
  DS_RETURN_IF_ERROR(CheckGatewayTls(o));
  DS_ASSIGN_OR_RETURN(std::vector<TrustedKey> trusted, LoadTrustedKeys(o.trust));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<Bucket> upstream, OpenBucket(o.bucket, /*create=*/false, o.tls, &stop));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<GatewayDir> dir, OpenGatewayDir(o.dir));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<Swarm> upstream_swarm, StartUpstreamSwarm(o));
  SwarmOptions so;
  so.listen = o.listen;
  so.upload_rate = o.upload_rate;
  so.share_seed = o.share;  // each piece crosses to the LAN about once; nodes trade the rest
  so.tls = o.tls;           // the nodes' TLS torrents admit only the cluster's certificates
  so.aio_threads = o.aio_threads;
  so.hashing_threads = o.hashing_threads;
  DS_ASSIGN_OR_RETURN(std::unique_ptr<Swarm> seeds, Swarm::Start(so));
  // Metrics first, so that a long restore can be watched; they see every
  // event before the caller does.
  std::unique_ptr<RoleMetrics> metrics;
  std::unique_ptr<MetricsServer> metrics_server;
  if (!o.metrics_listen.empty()) {
    metrics = std::make_unique<RoleMetrics>(RoleMetrics::Role::kGateway,
                                            std::vector<Swarm*>{seeds.get(), upstream_swarm.get()});
    DS_ASSIGN_OR_RETURN(metrics_server, metrics->Serve(o.metrics_listen));
  }
  std::function<void(const GatewayEvent&)> observed = [&](const GatewayEvent& e) {
    if (metrics) metrics->OnGatewayEvent(e);
    if (on_event) on_event(e);
  };
  Gateway gateway(o, *upstream, *dir, std::move(trusted), upstream_swarm.get(), seeds.get(), &stop, observed,
                  progress);
  Status restored = gateway.Restore();
  if (!restored.ok() && restored.code() == Code::kCancelled && stop.requested()) return gateway.Finish();
  DS_RETURN_IF_ERROR(restored);
  if (metrics) metrics->SetVersions(gateway.serving(), gateway.upstream_latest());
  BucketServerTls https;  // plain HTTP without a certificate
  if (o.tls.has_certificate()) https = BucketServerTls{o.tls, o.require_client_cert, o.tls_crl};
  DS_ASSIGN_OR_RETURN(std::unique_ptr<BucketServer> server,
                      BucketServer::Start(dir->root + "/mirror", o.http_listen, https));

  GatewayReport report;
  report.endpoint = seeds->endpoint();
  report.http_url = server->url();
  if (on_event)
    on_event(GatewayEvent{"ready", 0,
                          "seeding on " + report.endpoint + ", metadata at " + report.http_url, 0, 0,
                          report.endpoint, report.http_url, 0});
  // Right after "ready" (which stays the first event), once per run.
  if (!o.tls.has_certificate() && on_event)
    on_event(GatewayEvent{"warning", 0,
                          "warning: no TLS certificate (tls_cert): any host that reaches " + report.endpoint + " or " +
                              report.http_url + " can download the versions and metadata this gateway serves",
                          0, 0, "", "", 0});
  while (!stop.requested()) {
    Status st = gateway.Sync();
    // Failed over its options (e.g. a closed swarm and no certificate):
    // retrying cannot mend it, so, as a node does, the gateway stops.
    if (st.code() == Code::kInvalidArgument) return st;
    if (metrics) metrics->SetVersions(gateway.serving(), gateway.upstream_latest());
    if (!st.ok() && !stop.requested()) observed(GatewayEvent{"sync_failed", 0, st.message(), 0, 0, "", "", 0});
    stop.WaitFor(o.poll_interval_s);
  }
  GatewayReport held = gateway.Finish();
  held.endpoint = report.endpoint;
  held.http_url = report.http_url;
  return held;
}

}  // namespace deltaswarm
