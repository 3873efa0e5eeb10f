// deltaswarm node: a long-running puller. One swarm session for its whole
// life: it re-seeds what it holds, follows refs/latest, pulls each new
// version over the swarm, runs the on_update hook and keeps seeding the
// chunks of its newest versions, so that later nodes find peers.
#include <algorithm>
#include <chrono>

#include "core/file.h"
#include "deltaswarm/bucket.h"
#include "deltaswarm/roles.h"
#include "deltaswarm/swarm.h"
#include "roles/apply_timer.h"
#include "roles/bucket_layout.h"
#include "roles/follower.h"
#include "roles/local_store.h"
#include "roles/node_hook.h"
#include "roles/node_seeds.h"
#include "roles/puller.h"
#include "roles/role_metrics.h"
#include "roles/store_scrub.h"
#include "roles/swarm_fetch.h"

namespace deltaswarm {

namespace {

// The newest n of ascending ids.
std::vector<uint64_t> Newest(const std::vector<uint64_t>& ids, uint64_t n) {
  size_t take = std::min<size_t>(ids.size(), n);
  return std::vector<uint64_t>(ids.end() - take, ids.end());
}

class Node {
 public:
  Node(const NodeOptions& o, const StopSignal& stop, const std::function<void(const NodeEvent&)>& on_event,
       const ProgressFn& progress, Bucket& bucket, LocalStore& store, Swarm& swarm, std::vector<TrustedKey> trusted)
      : o_(o), stop_(stop), on_event_(on_event), progress_(progress), bucket_(bucket), store_(store), swarm_(swarm),
        trusted_(std::move(trusted)), seeds_(swarm, store, bucket, o.model),
        // Only a node that reports metrics times its applies: others keep progress as it was.
        pull_progress_(o.metrics_listen.empty() ? progress : apply_timer_.Wrap(progress)) {
    pull_.bucket = o.bucket;
    pull_.model = o.model;
    pull_.dest = o.dest;
    pull_.trust = o.trust;
    pull_.keep = o.keep;
    pull_.threads = o.threads;
    pull_.fallback_after_s = o.fallback_after_s;
    pull_.swarm_timeout_s = o.swarm_timeout_s;
    pull_.on_swarm_progress = o.on_swarm_progress;
    pull_.tls = o.tls;
    // Without peers or trackers nobody can be asked: chunks come from the
    // bucket, and the node still seeds them to whoever connects.
    ctx_.swarm = o.peers.empty() && o.trackers.empty() ? nullptr : &swarm;
    ctx_.keep_chunks = o.seed_versions > 0;
    ctx_.prune = false;
    ctx_.stop = &stop;
    ctx_.restart_stalled_s = kRestartStalledS;
    report_.endpoint = swarm.endpoint();
  }

  // node --scrub: reads every held version in full, trusting no stamp. One
  // that fails is reported and loses its stamp, so the first poll rebuilds
  // it (the current one) or no chain starts from it (an older one).
  void Scrub() {
    std::vector<uint64_t> intact;
    uint64_t bytes = 0;
    for (const VersionCheckResult& r : ScrubVersions(store_, store_.Versions(), o_.threads, progress_)) {
      bytes += r.bytes;
      if (r.intact) intact.push_back(r.version);
      else Emit("warning", r.version, "scrub: version " + std::to_string(r.version) + " is damaged: " + r.error);
    }
    Emit("scrubbed", store_.current(),
         "scrub: read " + std::to_string(bytes) + " bytes; intact: " + (intact.empty() ? "none" : List(intact)));
  }

  // Seeds the kept chunks of the newest seed_versions held versions, each
  // checked first; a version that fails is reported and left out.
  void Reseed() {
    std::vector<uint64_t> seeded;
    for (uint64_t v : Newest(store_.Versions(), o_.seed_versions)) {
      if (!IsDirectory(store_.ChunksDir(v))) continue;
      Status st = ReseedVersion(v);
      if (st.ok()) seeded.push_back(v);
      else Emit("warning", v, "not seeding version " + std::to_string(v) + ": " + st.message());
    }
    seeds_.RetainOnly(seeded);
    Status pruned = store_.PruneChunks(seeded);
    if (!pruned.ok()) Emit("warning", 0, pruned.message());
    if (!seeded.empty()) Emit("seeding", seeded.back(), "seeding the chunks of " + List(seeded));
  }

  // One poll: pulls refs/latest if it is newer than the held version. A
  // failed pull is reported and retried at the next poll, unless it failed
  // over this node's options (kInvalidArgument, e.g. a closed swarm and no
  // certificate): retrying cannot mend those, so that error ends the node.
  Status Poll() {
    apply_timer_.Reset();
    const auto started = SteadyClock::now();
    Result<PullOutcome> pulled = PullInto(pull_, bucket_, store_, trusted_, ctx_, pull_progress_);
    const double pull_s = std::chrono::duration<double>(SteadyClock::now() - started).count();
    if (!pulled.ok()) {
      if (pulled.status().code() == Code::kInvalidArgument) return pulled.status();
      if (!stop_.requested()) Emit("pull_failed", 0, pulled.status().message());
      return Status::Ok();
    }
    const PullReport& r = pulled->report;
    // Once per statement, not every poll: it stays stale until re-signed.
    if (!r.stale_latest.empty() && r.stale_latest != reported_stale_) Emit("stale_latest", r.to_version, r.stale_latest);
    reported_stale_ = r.stale_latest;
    if (!r.changed) return Status::Ok();
    report_.pulled.push_back(r.to_version);
    report_.swarm_bytes += r.swarm_bytes;
    report_.downloaded_bytes += r.downloaded_bytes;
    std::string via;
    for (const auto& step : r.steps) via += (via.empty() ? "" : ", ") + step;
    NodeEvent ev{"pulled", r.to_version,
                 "version " + std::to_string(r.to_version) + " is current (via " + via + "; " +
                     std::to_string(r.swarm_bytes) + " bytes from the swarm, " + std::to_string(r.downloaded_bytes) +
                     " from the bucket)",
                 r, "", pull_s, apply_timer_.seconds()};
    if (on_event_) on_event_(ev);
    Status kept = KeepSeeding(pulled->artifacts);
    if (kept.code() == Code::kInvalidArgument) return kept;
    if (!kept.ok()) Emit("warning", r.to_version, kept.message());
    RunOnUpdate(r.to_version);
    return Status::Ok();
  }

  NodeReport Finish() {
    report_.current = store_.current();
    return report_;
  }

 private:
  Status ReseedVersion(uint64_t v) {
    DS_ASSIGN_OR_RETURN(Manifest m, store_.LoadManifest(v));
    for (const ManifestArtifact& a : m.artifacts)
      if (IsDirectory(store_.ChunksDir(v) + "/" + a.dir)) DS_RETURN_IF_ERROR(seeds_.Add(m, a, /*verify=*/true));
    return Status::Ok();
  }

  // After a pull: seeds what it fetched for the newest seed_versions
  // versions, drops the rest from the swarm, then prunes the store.
  Status KeepSeeding(const std::vector<PulledArtifact>& artifacts) {
    std::vector<uint64_t> seeded = Newest(store_.Survivors(o_.keep), o_.seed_versions);
    auto wanted = [&](uint64_t v) { return std::find(seeded.begin(), seeded.end(), v) != seeded.end(); };
    Status first_error;
    for (const PulledArtifact& a : artifacts) {
      if (!wanted(a.version)) {
        if (a.torrent.value != 0) swarm_.Remove(a.torrent);
        continue;
      }
      if (a.torrent.value != 0) {
        seeds_.Adopt(a.version, a.torrent);
        continue;
      }
      // Fetched from the bucket (verified there): seed it now.
      Status st = AddFromStore(a);
      if (!st.ok() && first_error.ok()) first_error = st;
    }
    seeds_.RetainOnly(seeded);
    DS_RETURN_IF_ERROR(store_.Prune(o_.keep));
    DS_RETURN_IF_ERROR(store_.PruneChunks(seeded));
    Emit("seeding", seeded.empty() ? 0 : seeded.back(),
         seeded.empty() ? "seeding nothing (seed_versions 0)" : "seeding the chunks of " + List(seeds_.Versions()));
    return first_error;
  }

  Status AddFromStore(const PulledArtifact& a) {
    DS_ASSIGN_OR_RETURN(Manifest m, store_.LoadManifest(a.version));
    const ManifestArtifact* art = m.Find(a.kind);
    if (art == nullptr) return NotFound("version " + std::to_string(a.version) + ": no " + a.kind);
    return seeds_.Add(m, *art, /*verify=*/false);
  }

  void RunOnUpdate(uint64_t version) {
    if (o_.on_update.empty()) return;
    HookOptions hook;
    hook.command = o_.on_update;
    hook.env = {"DELTASWARM_VERSION=" + std::to_string(version), "DELTASWARM_CHECKPOINT=" + store_.dir() + "/current",
                "DELTASWARM_MODEL=" + o_.model};
    hook.timeout_s = o_.hook_timeout_s;
    HookResult run = RunHook(hook, stop_);
    // A hung hook must not stall the node: it is killed, warned about, and
    // the node goes on following versions.
    if (run.timed_out) Emit("warning", version, run.status.message());
    else if (run.status.ok()) Emit("on_update", version, "on_update ran for version " + std::to_string(version));
    else if (run.status.code() != Code::kCancelled) Emit("on_update_failed", version, run.status.message());
  }

  void Emit(const std::string& type, uint64_t version, const std::string& message) {
    if (on_event_) on_event_(NodeEvent{type, version, message, {}, "", 0, 0});
  }

  static std::string List(const std::vector<uint64_t>& ids) {
    std::string s = ids.size() == 1 ? "version " : "versions ";
    for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
    return s;
  }

  const NodeOptions& o_;
  const StopSignal& stop_;
  const std::function<void(const NodeEvent&)>& on_event_;
  const ProgressFn& progress_;
  Bucket& bucket_;
  LocalStore& store_;
  Swarm& swarm_;
  std::vector<TrustedKey> trusted_;
  NodeSeeds seeds_;
  ApplyTimer apply_timer_;      // before pull_progress_, which refers to it
  ProgressFn pull_progress_;    // progress_, timing the applies with metrics_listen
  PullOptions pull_;
  PullContext ctx_;
  std::string reported_stale_;  // the last stale_latest reason emitted
  NodeReport report_;
};

}  // namespace

Result<NodeReport> RunNode(const NodeOptions& o, const StopSignal& stop,
                           const std::function<void(const NodeEvent&)>& on_event, const ProgressFn& progress) {
  DS_RETURN_IF_ERROR(CheckFollowerOptions(o, o.dest, "dest"));
  DS_ASSIGN_OR_RETURN(std::vector<TrustedKey> trusted, LoadTrustedKeys(o.trust));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<Bucket> bucket, OpenBucket(o.bucket, /*create=*/false, o.tls, &stop));
  DS_ASSIGN_OR_RETURN(LocalStore store, LocalStore::Open(o.dest));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<Swarm> swarm,
                      Swarm::Start(DownloaderSwarmOptions(o.listen, o.peers, o.trackers, o.upload_rate,
                                                          o.download_rate, o.tls, o.aio_threads, o.hashing_threads)));

  // Metrics first, so that a long reseed can be watched; they see every
  // event before the caller does.
  std::unique_ptr<RoleMetrics> metrics;
  std::unique_ptr<MetricsServer> metrics_server;
  if (!o.metrics_listen.empty()) {
    metrics = std::make_unique<RoleMetrics>(RoleMetrics::Role::kNode, std::vector<Swarm*>{swarm.get()});
    DS_ASSIGN_OR_RETURN(metrics_server, metrics->Serve(o.metrics_listen));
  }
  std::function<void(const NodeEvent&)> observed = [&](const NodeEvent& e) {
    if (metrics) metrics->OnNodeEvent(e);
    if (on_event) on_event(e);
  };
  Node node(o, stop, observed, progress, *bucket, store, *swarm, std::move(trusted));
  if (o.scrub) node.Scrub();
  node.Reseed();
  observed(NodeEvent{"ready", store.current(), "listening on " + swarm->endpoint(), {}, swarm->endpoint(), 0, 0});
  while (!stop.requested()) {
    DS_RETURN_IF_ERROR(node.Poll());
    stop.WaitFor(o.poll_interval_s);
  }
  return node.Finish();
}

}  // namespace deltaswarm
