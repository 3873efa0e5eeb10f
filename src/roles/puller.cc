// deltaswarm pull: choose the cheapest path to the wanted version, download
// and check every object against signed manifests, apply, switch `current`.
#include <sys/stat.h>

#include <algorithm>
#include <optional>

#include "core/file.h"
#include "deltaswarm/bucket.h"
#include "deltaswarm/roles.h"
#include "deltaswarm/utc_time.h"
#include "roles/artifact_transfer.h"
#include "roles/bucket_layout.h"
#include "roles/checkpoint_sha.h"
#include "roles/follower.h"
#include "roles/latest_view.h"
#include "roles/local_store.h"
#include "roles/puller.h"
#include "roles/swarm_fetch.h"
#include "roles/version_graph.h"

namespace deltaswarm {

namespace {

using Step = PlanStep;

class Puller {
 public:
  Puller(const PullOptions& o, Bucket& bucket, LocalStore& store, std::span<const TrustedKey> trusted,
         const PullContext& context, const ProgressFn& progress)
      : o_(o), bucket_(bucket), store_(store), trusted_(trusted), ctx_(context), progress_(progress),
        graph_(VersionNamer(bucket, o.model)) {}

  // What this pull fetched, by step; torrents added to the context's swarm.
  const std::vector<PulledArtifact>& artifacts() const { return artifacts_; }

  Result<PullReport> Run() {
    report_.from_version = store_.current();
    uint64_t want = o_.version;  // an explicit version may be older than the held one
    if (want == 0) {
      DS_ASSIGN_OR_RETURN(LatestView latest,
                          ResolveLatest(bucket_, o_.model, trusted_, report_.from_version, UnixNow()));
      if (latest.target == 0)
        return NotFound(bucket_.Describe(LatestKey(o_.model)) + ": no published version of " + o_.model);
      report_.stale_latest = latest.stale;
      if (!latest.stale.empty() && o_.require_fresh) return Mismatch(latest.stale + " (--require-fresh)");
      report_.note = latest.note;
      want = latest.target;
    }
    report_.to_version = want;
    bool damaged_current = false;  // want is current, and its files no longer match
    if (want == report_.from_version) {
      // Nothing to fetch if it is intact (by its stamp: a few stat calls); a
      // run killed after its switch may have left its cleanup undone.
      if (HeldIntact(want).has_value()) {
        DS_RETURN_IF_ERROR(RemoveAll(store_.dir() + "/staging"));
        if (ctx_.prune) DS_RETURN_IF_ERROR(store_.Prune(o_.keep));
        return report_;
      }
      damaged_current = true;
    }

    // A run that failed after applying want, before switching, left it complete.
    if (!damaged_current && IntactInStore(want)) return Switch(want);
    uint64_t held = StartingVersion(want);
    DS_ASSIGN_OR_RETURN(std::vector<Step> steps, PlanSteps(held, want));
    DS_RETURN_IF_ERROR(CheckFreeSpace(steps, want));
    for (const Step& s : steps) artifacts_.push_back({s.version, s.artifact->kind, TorrentId{}});
    std::vector<bool> by_swarm(steps.size(), false);  // completed by the swarm in this pull
    if (ctx_.swarm || !o_.peers.empty() || !o_.trackers.empty()) DS_RETURN_IF_ERROR(FetchOverSwarm(steps, by_swarm));
    // Every object is checked against the manifest once: by the swarm's piece
    // hashes (a signed torrent), or here; fetched from the bucket only if
    // missing (everything, without a swarm).
    for (size_t i = 0; i < steps.size(); ++i) {
      const Step& s = steps[i];
      if (by_swarm[i] && !FullChecks() &&
          CheckSwarmArtifact(*s.artifact, StagingFor(s), &report_.artifact_hashed_bytes).ok())
        continue;
      DS_ASSIGN_OR_RETURN(uint64_t got, DownloadArtifact(bucket_, o_.model, s.version, *s.artifact, StagingFor(s),
                                                         progress_, ctx_.stop, &report_.artifact_hashed_bytes));
      report_.downloaded_bytes += got;
    }
    std::string base = steps.front().artifact->kind == "delta" ? store_.CheckpointPath(graph_.at(held)) : "";
    uint64_t intermediate = 0;  // the previous step's version, made by this pull
    for (const Step& s : steps) {
      if (ctx_.stop && ctx_.stop->requested()) return Status(Code::kCancelled, "pull stopped before " + StepName(s));
      const Manifest& m = graph_.at(s.version);
      ApplyOptions apply;
      apply.threads = o_.threads;
      apply.force = true;  // replaces a damaged copy only once the new one is verified
      apply.link_unchanged = true;
      // Checked against the manifest above: the apply checks their sizes and
      // every frame's hashes, not their SHA-256 again.
      if (!FullChecks()) apply.verified_chunks = ChunksOf(*s.artifact);
      std::string out = store_.CheckpointPath(m);
      Result<ApplyStats> applied = Apply(base, StagingFor(s), out, apply, progress_);
      if (!applied.ok()) {
        // A frame found the base, or a chunk, other than what the proofs
        // carried said: those proofs are stale. The retry checks in full.
        retry_with_full_checks_ = (applied.status().code() == Code::kMismatch ||
                                   applied.status().code() == Code::kCorruption) && !FullChecks();
        if (retry_with_full_checks_ && s.version == steps.front().version && held != 0)
          (void)store_.ForgetStamp(held);
        return applied.status();
      }
      report_.artifact_hashed_bytes += applied->hashed_chunk_bytes;
      DS_RETURN_IF_ERROR(store_.SaveIndex(s.version, StagingFor(s) + "/" + kIndexFileName));
      DS_RETURN_IF_ERROR(store_.SaveManifest(m));
      // Apply read back every byte it wrote against the frame hashes.
      DS_RETURN_IF_ERROR(store_.SaveStamp(m));
      report_.steps.push_back(StepName(s));
      // Along a chain the disk holds at most the held version and two more:
      // each intermediate goes once the next is verified (its chunks stay).
      if (intermediate != 0) DS_RETURN_IF_ERROR(store_.RemoveFiles(intermediate));
      intermediate = s.version != held && s.version != report_.from_version ? s.version : 0;
      base = out;
    }
    return Switch(want);
  }

 private:
  // A torrent's save path: the staging dir, or where a node keeps what it seeds.
  std::string SaveDirFor(uint64_t version) const {
    return ctx_.keep_chunks ? store_.ChunksDir(version) : store_.StagingDir(version);
  }
  std::string StagingFor(const Step& s) const { return SaveDirFor(s.version) + "/" + s.artifact->dir; }
  static std::string StepName(const Step& s) { return s.artifact->kind + " " + std::to_string(s.version); }

  // Whether held versions and artifacts are checked by reading every byte,
  // trusting no stamp and no earlier check.
  bool FullChecks() const { return o_.scrub || ctx_full_checks_; }

  // Downloads every step's artifact from the swarm into its save dir;
  // by_swarm[i] is set once step i's torrent completed.
  Status FetchOverSwarm(const std::vector<Step>& steps, std::vector<bool>& by_swarm) {
    Swarm* swarm = ctx_.swarm;
    if (swarm == nullptr) {
      DS_ASSIGN_OR_RETURN(own_swarm_,
                          Swarm::Start(DownloaderSwarmOptions(o_.listen, o_.peers, o_.trackers, o_.upload_rate,
                                                              o_.download_rate, o_.tls, o_.aio_threads,
                                                              o_.hashing_threads)));
      swarm = own_swarm_.get();
    }
    std::vector<std::vector<std::byte>> torrents;
    for (size_t i = 0; i < steps.size(); ++i) {
      const Step& s = steps[i];
      DS_ASSIGN_OR_RETURN(auto torrent, FetchTorrent(bucket_, o_.model, s.version, *s.artifact));
      DS_ASSIGN_OR_RETURN(artifacts_[i].torrent, swarm->AddDownload(torrent, SaveDirFor(s.version), {}));
      torrents.push_back(std::move(torrent));
    }
    for (size_t i = 0; i < steps.size(); ++i) {
      AwaitOptions await;
      await.what = StepName(steps[i]);
      await.web_seed = WebSeedFor(bucket_, o_.model, steps[i].version);
      await.fallback_after_s = o_.fallback_after_s;
      await.timeout_s = o_.swarm_timeout_s;
      await.restart_stalled_s = ctx_.restart_stalled_s;
      await.stop = ctx_.stop;
      await.on_swarm = o_.on_swarm_progress;
      await.progress = progress_;
      DS_RETURN_IF_ERROR(AwaitTorrent(*swarm, artifacts_[i].torrent, torrents[i], SaveDirFor(steps[i].version), await));
      by_swarm[i] = true;
      TorrentStatus st = swarm->GetStatus(artifacts_[i].torrent);
      report_.swarm_bytes += st.all_time_download;
      report_.hash_failures += st.hash_failures;
    }
    return Status::Ok();
  }

  // Keeps seeding what this node fetched, so that later nodes find peers,
  // for linger_s or until a stop.
  void Linger() {
    const StopSignal never;
    (ctx_.stop ? *ctx_.stop : never).WaitFor(o_.linger_s);
  }

  // Points current at want (already complete in the store), then tidies up.
  Result<PullReport> Switch(uint64_t want) {
    DS_RETURN_IF_ERROR(store_.SwitchCurrent(want));
    if (own_swarm_) Linger();
    DS_RETURN_IF_ERROR(RemoveAll(store_.dir() + "/staging"));
    if (ctx_.prune) DS_RETURN_IF_ERROR(store_.Prune(o_.keep));
    report_.changed = true;
    for (const auto& f : graph_.at(want).files) report_.target_bytes += f.size;
    return report_;
  }

  // Held version v's manifest if its files match it: by its stamp, or read
  // in full (FullChecks, or a stamp that no longer matches). Notes a failure.
  std::optional<Manifest> HeldIntact(uint64_t v) {
    const std::vector<uint64_t> held = store_.Versions();
    if (v == 0 || !std::binary_search(held.begin(), held.end(), v)) return std::nullopt;
    auto m = store_.LoadManifest(v);
    if (!m.ok() || m->model != o_.model) return std::nullopt;
    auto checked = store_.CheckVersion(*m, o_.threads, FullChecks() ? CheckDepth::kFull : CheckDepth::kTrustStamp);
    if (!checked.ok()) {
      report_.note = "held version " + std::to_string(v) + " does not match its manifest (" +
                     checked.status().message() + "): repairing it from an older held version or a keyframe";
      report_.held_check = "";
      return std::nullopt;
    }
    report_.held_check = checked->by_stamp ? "stamp" : "full";
    report_.held_check_bytes += checked->bytes_read;
    return std::move(m).value();
  }

  // Whether version v is complete in the store, matches its manifest, and is
  // the bucket's version of that id; if so its manifest joins the graph.
  bool IntactInStore(uint64_t v) {
    std::optional<Manifest> m = HeldIntact(v);
    if (!m) return false;
    // A chain must start from the bucket's version of an id (a bucket
    // restored from elsewhere may hold another).
    auto in_bucket = FetchManifest(bucket_, o_.model, v, trusted_);
    if (in_bucket.ok() && CanonicalBytes(*in_bucket) != CanonicalBytes(*m)) {
      report_.note = "held version " + std::to_string(v) +
                     " differs from the bucket's version of that id (republished): rebuilding it";
      return false;
    }
    if (!graph_.Find(v)) graph_.Add(std::move(m).value());
    return true;
  }

  // Where a delta chain to want can start: the newest complete version below
  // want (one a failed pull left, which makes its re-run short), else the
  // current one; 0 when neither is intact (the node is repaired from a keyframe).
  uint64_t StartingVersion(uint64_t want) {
    std::vector<uint64_t> candidates;
    for (uint64_t v : store_.Versions())
      if (v < want) candidates.push_back(v);
    if (candidates.empty()) return 0;
    if (IntactInStore(candidates.back())) return candidates.back();
    const uint64_t current = report_.from_version;
    if (current != candidates.back() && current < want && IntactInStore(current)) return current;
    return 0;
  }

  // Fetches the manifests the plan needs, walking down from want, and takes
  // the cheaper path in bytes (roles/version_graph.h).
  Result<std::vector<Step>> PlanSteps(uint64_t held, uint64_t want) {
    while (std::optional<uint64_t> id = graph_.NextToFetch(held, want)) {
      DS_RETURN_IF_ERROR(graph_.AddFetched(*id, FetchManifest(bucket_, o_.model, *id, trusted_)));
    }
    return graph_.Plan(held, want);
  }

  // The artifacts not yet on disk, and the versions the apply writes: one,
  // or two along a chain (intermediates go as the chain goes on).
  Status CheckFreeSpace(const std::vector<Step>& steps, uint64_t want) {
    uint64_t need = 0, target = 0;
    for (const Step& s : steps) need += s.artifact->bytes() - StagedBytes(s);
    for (const auto& f : graph_.at(want).files) target += f.size;
    need += steps.size() > 1 ? 2 * target : target;
    DS_ASSIGN_OR_RETURN(uint64_t free_bytes, FreeSpace(store_.dir()));
    if (free_bytes < need)
      return NoSpace(store_.dir() + ": pulling version " + std::to_string(want) + " needs " + std::to_string(need) +
                     " bytes, only " + std::to_string(free_bytes) + " free");
    return Status::Ok();
  }

  // The bytes of a step's artifact already downloaded (a failed pull's).
  uint64_t StagedBytes(const Step& s) const {
    uint64_t staged = 0;
    for (const auto& c : s.artifact->chunks) {
      struct stat st;
      if (::stat((StagingFor(s) + "/" + c.name).c_str(), &st) == 0 && S_ISREG(st.st_mode))
        staged += std::min<uint64_t>(static_cast<uint64_t>(st.st_size), c.size);
    }
    return staged;
  }

  const PullOptions& o_;
  Bucket& bucket_;
  LocalStore& store_;
  std::span<const TrustedKey> trusted_;
  const PullContext& ctx_;
  const ProgressFn& progress_;
  PullReport report_;
  VersionGraph graph_;  // the held version's manifest and those the plan fetched
  std::vector<PulledArtifact> artifacts_;
  std::unique_ptr<Swarm> own_swarm_;  // when the context brings none
  bool ctx_full_checks_ = false;      // a retry: as with o_.scrub
  bool retry_with_full_checks_ = false;

 public:
  void set_full_checks() { ctx_full_checks_ = true; }
  // After a failed Run: an apply failed where a stamp or an earlier check
  // had been trusted; a run with full checks may succeed.
  bool retry_with_full_checks() const { return retry_with_full_checks_; }
};

}  // namespace

Result<PullOutcome> PullInto(const PullOptions& options, Bucket& bucket, LocalStore& store,
                             std::span<const TrustedKey> trusted, const PullContext& context,
                             const ProgressFn& progress) {
  auto remove_torrents = [&](const std::vector<PulledArtifact>& artifacts) {
    if (context.swarm)
      for (const auto& a : artifacts)
        if (a.torrent.value != 0) context.swarm->Remove(a.torrent);
  };
  Puller first(options, bucket, store, trusted, context, progress);
  Result<PullReport> report = first.Run();
  std::vector<PulledArtifact> artifacts = first.artifacts();
  if (!report.ok() && first.retry_with_full_checks() && !(context.stop && context.stop->requested())) {
    // Once more with every proof re-established: the held version read in
    // full (a damaged one is rebuilt), every artifact object hashed (a
    // damaged one fetched again).
    remove_torrents(artifacts);
    Puller again(options, bucket, store, trusted, context, progress);
    again.set_full_checks();
    Result<PullReport> retried = again.Run();
    artifacts = again.artifacts();
    if (retried.ok())
      retried->note += (retried->note.empty() ? "" : "; ") + ("checked in full after: " + report.status().message());
    report = std::move(retried);
  }
  if (!report.ok()) {
    remove_torrents(artifacts);
    return report.status();
  }
  if (!context.swarm)
    for (auto& a : artifacts) a.torrent = TorrentId{};  // they were in Pull's own session, gone with it
  return PullOutcome{std::move(report).value(), std::move(artifacts)};
}

Result<PullReport> Pull(const PullOptions& options, const ProgressFn& progress, const StopSignal* stop) {
  DS_RETURN_IF_ERROR(CheckModelName(options.model));
  DS_ASSIGN_OR_RETURN(std::vector<TrustedKey> trusted, LoadTrustedKeys(options.trust));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<Bucket> bucket, OpenBucket(options.bucket, /*create=*/false, options.tls, stop));
  DS_ASSIGN_OR_RETURN(LocalStore store, LocalStore::Open(options.dest));
  // A download whose peers all left or were banned (a corrupt peer can take
  // an honest one down with it) is re-added, as a node does.
  PullContext context;
  context.restart_stalled_s = kRestartStalledS;
  context.stop = stop;
  DS_ASSIGN_OR_RETURN(PullOutcome outcome, PullInto(options, *bucket, store, trusted, context, progress));
  return outcome.report;
}

}  // namespace deltaswarm
