// deltaswarm gateway: a seed-only mirror for the nodes behind a constrained
// uplink. Each version's artifacts cross the uplink once, into
// DIR/chunks/<id>/<kind>/, and reach the nodes through the swarm; the nodes
// read the metadata from DIR/mirror/, a directory bucket served over HTTP
// (HTTPS when the gateway has a certificate).
//
// Invariant of the mirror: a version's manifest is there only once all its
// artifacts are held, verified and seeded, and refs/latest names the newest
// such version. Every mirrored version holds all its artifacts, and the
// mirrored versions run contiguously from a keyframe, so any node finds
// either its delta chain or a keyframe path.
#include <filesystem>
#include <map>
#include <unistd.h>

#include "bucket/bucket_server.h"
#include "core/file.h"
#include "deltaswarm/bucket.h"
#include "deltaswarm/delta_index.h"
#include "deltaswarm/gateway.h"
#include "deltaswarm/swarm.h"
#include "deltaswarm/tls.h"
#include "roles/artifact_transfer.h"
#include "roles/bucket_layout.h"
#include "roles/follower.h"
#include "roles/swarm_fetch.h"

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
  std::error_code ec;
  std::filesystem::create_directories(root + "/chunks", ec);
  if (ec) return IoError(root + "/chunks: cannot create: " + ec.message());
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
        upstream_swarm_(upstream_swarm), seeds_(seeds), stop_(stop), on_event_(on_event), progress_(progress) {}

  // Loads what the mirror holds, drops half-mirrored versions (a gateway
  // killed mid-version) and, when serving, seeds the rest, each artifact
  // checked first (a damaged object is fetched again from upstream).
  Status Restore() {
    DS_ASSIGN_OR_RETURN(std::vector<uint64_t> ids, ListVersions(mirror_, o_.model));
    for (uint64_t id : ids) {
      auto m = FetchManifest(mirror_, o_.model, id, trusted_);
      if (m.ok()) {
        held_.emplace(id, std::move(m).value());
        continue;
      }
      if (m.status().code() != Code::kNotFound)
        Emit("warning", id, "dropping version " + std::to_string(id) + ": " + m.status().message());
      DS_RETURN_IF_ERROR(RemoveVersion(id, /*announce=*/false));
    }
    if (seeds_) {
      for (auto it = held_.begin(); it != held_.end();) {
        uint64_t id = (it++)->first;  // SeedVersion's failure erases the entry
        Status st = SeedVersion(id, /*verify=*/true);
        if (st.ok()) continue;
        if (st.code() == Code::kCancelled) return st;  // stopped while checking: nothing is wrong with it
        Emit("warning", id, "dropping version " + std::to_string(id) + ": " + st.message());
        DS_RETURN_IF_ERROR(RemoveVersion(id, /*announce=*/false));
      }
    }
    if (held_.empty()) return mirror_.Delete(LatestKey(o_.model));
    report_.latest = held_.rbegin()->first;
    return WriteLatest(mirror_, o_.model, report_.latest);
  }

  // Mirrors every version up to the upstream refs/latest, then prunes.
  Status Sync() {
    DS_ASSIGN_OR_RETURN(uint64_t latest, ReadLatest(upstream_, o_.model));
    const uint64_t newest = held_.empty() ? 0 : held_.rbegin()->first;
    if (latest <= newest) return Status::Ok();  // refs/latest is not signed: never backwards
    DS_ASSIGN_OR_RETURN(auto plan, PlanVersions(newest, latest));
    for (auto& [id, fetched] : plan) {
      DS_RETURN_IF_ERROR(MirrorVersion(id, fetched.first, fetched.second));
      DS_RETURN_IF_ERROR(Prune());
    }
    return Status::Ok();
  }

  GatewayReport Finish() {
    for (const auto& [id, m] : held_) report_.held.push_back(id);
    return report_;
  }

 private:
  using Fetched = std::pair<Manifest, std::vector<std::byte>>;  // parsed, and the signed bytes

  // The versions to mirror, ascending: newest+1..latest when upstream still
  // has them all, else (nothing held, or versions gone upstream) from the
  // nearest keyframe at or below latest.
  Result<std::map<uint64_t, Fetched>> PlanVersions(uint64_t newest, uint64_t latest) {
    std::map<uint64_t, Fetched> plan;
    uint64_t keyframe = 0;
    for (uint64_t j = latest; j > newest; --j) {
      std::vector<std::byte> bytes;
      auto m = FetchManifest(upstream_, o_.model, j, trusted_, &bytes);
      if (!m.ok() && m.status().code() == Code::kNotFound && keyframe != 0) break;
      if (!m.ok()) return m.status();
      bool has_keyframe = m->Find("keyframe") != nullptr;
      plan.emplace(j, Fetched{std::move(m).value(), std::move(bytes)});
      if (has_keyframe && keyframe == 0) keyframe = j;
      if (newest == 0 && keyframe != 0) break;
    }
    if (plan.empty() || plan.begin()->first == newest + 1) return plan;
    if (keyframe == 0)
      return NotFound(upstream_.Describe(VersionPrefix(o_.model, plan.begin()->first)) +
                      ": no keyframe at or below version " + std::to_string(latest) + " to start the mirror from");
    plan.erase(plan.begin(), plan.find(keyframe));
    return plan;
  }

  // Fetches and verifies every artifact of version id, seeds them, then
  // publishes its metadata in the mirror, refs/latest last.
  Status MirrorVersion(uint64_t id, const Manifest& m, const std::vector<std::byte>& signed_bytes) {
    uint64_t fetched = 0, from_bucket = 0;
    for (const ManifestArtifact& a : m.artifacts) {
      const std::string local = dir_.ChunksDir(id) + "/" + a.dir;
      DS_ASSIGN_OR_RETURN(std::vector<std::byte> torrent, FetchTorrent(upstream_, o_.model, id, a));
      if (upstream_swarm_) {
        DS_ASSIGN_OR_RETURN(uint64_t got, FetchOverSwarm(id, a, torrent));
        report_.swarm_bytes += got;
        fetched += got;
      }
      // Checks every object; fetches from the bucket what the swarm did not bring.
      DS_ASSIGN_OR_RETURN(uint64_t got, DownloadArtifact(upstream_, o_.model, id, a, local, progress_, stop_));
      report_.bucket_bytes += got;
      from_bucket += got;
      fetched += got;
      DS_RETURN_IF_ERROR(mirror_.Put(TorrentKey(o_.model, id, a.dir), torrent));
      DS_RETURN_IF_ERROR(
          mirror_.PutFile(ArtifactKey(o_.model, id, a.dir, kIndexFileName), local + "/" + kIndexFileName, nullptr));
    }
    DS_RETURN_IF_ERROR(mirror_.Put(ManifestKey(o_.model, id), signed_bytes));
    held_[id] = m;
    if (seeds_) DS_RETURN_IF_ERROR(SeedVersion(id, /*verify=*/false));
    DS_RETURN_IF_ERROR(WriteLatest(mirror_, o_.model, id));
    report_.latest = id;
    report_.mirrored.push_back(id);
    GatewayEvent ev{"mirrored", id,
                    "version " + std::to_string(id) + " mirrored (" + std::to_string(fetched) +
                        " bytes fetched upstream" + (seeds_ ? ", seeding" : "") + ")",
                    fetched, from_bucket, "", ""};
    if (on_event_) on_event_(ev);
    return Status::Ok();
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

  Status SeedVersion(uint64_t id, bool verify) {
    const Manifest& m = held_.at(id);
    for (const ManifestArtifact& a : m.artifacts) {
      if (verify) {
        DS_ASSIGN_OR_RETURN(uint64_t got, DownloadArtifact(upstream_, o_.model, id, a,
                                                           dir_.ChunksDir(id) + "/" + a.dir, progress_, stop_));
        report_.bucket_bytes += got;
      }
      DS_ASSIGN_OR_RETURN(std::vector<std::byte> torrent, FetchTorrent(mirror_, o_.model, id, a));
      DS_ASSIGN_OR_RETURN(TorrentId tid, seeds_->AddSeed(torrent, dir_.ChunksDir(id)));
      torrents_[id].push_back(tid);
    }
    return Status::Ok();
  }

  // Keeps the newest `keep` versions and the chain back to the keyframe the
  // oldest of them is built from.
  Status Prune() {
    if (held_.size() <= o_.keep) return Status::Ok();
    auto oldest_kept = std::prev(held_.end(), static_cast<long>(o_.keep));
    uint64_t keyframe = 0;
    for (auto it = std::make_reverse_iterator(std::next(oldest_kept)); it != held_.rend() && keyframe == 0; ++it)
      if (it->second.Find("keyframe")) keyframe = it->first;
    while (keyframe != 0 && held_.begin()->first < keyframe)
      DS_RETURN_IF_ERROR(RemoveVersion(held_.begin()->first, /*announce=*/true));
    return Status::Ok();
  }

  // Takes a version out of the mirror first (nodes stop choosing it), then
  // out of the swarm, then off the disk.
  Status RemoveVersion(uint64_t id, bool announce) {
    DS_RETURN_IF_ERROR(mirror_.Delete(VersionPrefix(o_.model, id)));
    if (seeds_)
      for (TorrentId tid : torrents_[id]) seeds_->Remove(tid);
    torrents_.erase(id);
    held_.erase(id);
    DS_RETURN_IF_ERROR(RemoveAll(dir_.ChunksDir(id)));
    if (announce)
      Emit("removed", id, "version " + std::to_string(id) + " removed (keep " + std::to_string(o_.keep) + ")");
    return Status::Ok();
  }

  void Emit(const std::string& type, uint64_t version, const std::string& message) {
    if (on_event_) on_event_(GatewayEvent{type, version, message, 0, 0, "", ""});
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
  std::map<uint64_t, Manifest> held_;
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
  DS_ASSIGN_OR_RETURN(std::unique_ptr<Bucket> upstream, OpenBucket(o.bucket, /*create=*/false, o.tls));
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
  Gateway gateway(o, *upstream, *dir, std::move(trusted), upstream_swarm.get(), seeds.get(), &stop, on_event,
                  progress);
  Status restored = gateway.Restore();
  if (!restored.ok() && restored.code() == Code::kCancelled && stop.requested()) return gateway.Finish();
  DS_RETURN_IF_ERROR(restored);
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
                          report.endpoint, report.http_url});
  // Right after "ready" (which stays the first event), once per run.
  if (!o.tls.has_certificate() && on_event)
    on_event(GatewayEvent{"warning", 0,
                          "warning: no TLS certificate (tls_cert): any host that reaches " + report.endpoint + " or " +
                              report.http_url + " can download the versions and metadata this gateway serves",
                          0, 0, "", ""});
  while (!stop.requested()) {
    Status st = gateway.Sync();
    // Failed over its options (e.g. a closed swarm and no certificate):
    // retrying cannot mend it, so, as a node does, the gateway stops.
    if (st.code() == Code::kInvalidArgument) return st;
    if (!st.ok() && !stop.requested() && on_event)
      on_event(GatewayEvent{"sync_failed", 0, st.message(), 0, 0, "", ""});
    stop.WaitFor(o.poll_interval_s);
  }
  GatewayReport held = gateway.Finish();
  held.endpoint = report.endpoint;
  held.http_url = report.http_url;
  return held;
}

}  // namespace deltaswarm
