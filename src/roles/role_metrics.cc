#include "roles/role_metrics.h"

#include <algorithm>

namespace deltaswarm {

RoleMetrics::RoleMetrics(Role role, std::vector<Swarm*> sessions) : sessions_(std::move(sessions)) {
  const bool node = role == Role::kNode;
  current_ = registry_.AddGauge("deltaswarm_version_current",
                                node ? "The version this node holds (DEST/current), 0 if none"
                                     : "The version this gateway serves (its mirror's refs/latest), 0 if none");
  latest_ = registry_.AddGauge("deltaswarm_version_latest", "The newest version the signed refs/latest was seen to name");
  received_ = registry_.AddCounter("deltaswarm_received_bytes_total",
                                   "Payload bytes received, by source: swarm (peers and web seeds) or bucket");
  sent_ = registry_.AddCounter("deltaswarm_sent_bytes_total", "Payload bytes uploaded, by source (swarm)");
  pull_s_ = registry_.AddHistogram("deltaswarm_pull_duration_seconds",
                                   node ? "Seconds a pull of a new version took, downloads and applies"
                                        : "Seconds it took to fetch, check and seed a new version",
                                   DurationBuckets());
  if (node)
    apply_s_ = registry_.AddHistogram("deltaswarm_apply_duration_seconds",
                                      "Seconds a pull spent applying its deltas or keyframe", DurationBuckets());
  peers_ = registry_.AddGauge("deltaswarm_peers", "Swarm connections now, summed over the torrents held");
  hash_failures_ =
      registry_.AddCounter("deltaswarm_hash_failures_total", "Swarm pieces that failed their hash check");
  bans_ = registry_.AddCounter("deltaswarm_peer_bans_total", "Swarm peers banned for sending corrupt pieces");
  failures_ = registry_.AddCounter("deltaswarm_failures_total", "Failures reported as events, by kind");
  // Every series a dashboard expects is there from the first scrape, at 0.
  for (const char* source : {"swarm", "bucket"}) received_.Add(0, {{"source", source}});
  sent_.Add(0, {{"source", "swarm"}});
  const std::vector<std::string> kinds = node ? std::vector<std::string>{"pull_failed", "on_update_failed", "stale_latest"}
                                              : std::vector<std::string>{"sync_failed", "stale_latest"};
  for (const std::string& kind : kinds) failures_.Add(0, {{"kind", kind}});
}

void RoleMetrics::SeenLatest(uint64_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  latest_seen_ = std::max(latest_seen_, version);
  latest_.Set(static_cast<double>(latest_seen_));
}

void RoleMetrics::Failure(const std::string& kind) { failures_.Add(1, {{"kind", kind}}); }

void RoleMetrics::OnNodeEvent(const NodeEvent& e) {
  if (e.type == "ready") {
    current_.Set(static_cast<double>(e.version));
    SeenLatest(e.version);
  } else if (e.type == "pulled") {
    current_.Set(static_cast<double>(e.version));
    SeenLatest(e.version);
    received_.Add(static_cast<double>(e.pull.swarm_bytes), {{"source", "swarm"}});
    received_.Add(static_cast<double>(e.pull.downloaded_bytes), {{"source", "bucket"}});
    pull_s_.Observe(e.pull_s);
    apply_s_.Observe(e.apply_s);
  } else if (e.type == "stale_latest") {
    SeenLatest(e.version);
    Failure(e.type);
  } else if (e.type == "pull_failed" || e.type == "on_update_failed") {
    Failure(e.type);
  }
}

void RoleMetrics::OnGatewayEvent(const GatewayEvent& e) {
  if (e.type == "mirrored") {
    received_.Add(static_cast<double>(e.bucket_bytes), {{"source", "bucket"}});
    received_.Add(static_cast<double>(e.upstream_bytes - std::min(e.upstream_bytes, e.bucket_bytes)),
                  {{"source", "swarm"}});
    pull_s_.Observe(e.fetch_s);
  } else if (e.type == "sync_failed" || e.type == "stale_latest") {
    Failure(e.type);
  }
}

void RoleMetrics::SetVersions(uint64_t current, uint64_t latest) {
  current_.Set(static_cast<double>(current));
  SeenLatest(std::max(current, latest));
}

std::string RoleMetrics::Render() {
  // The sessions' totals are read now, per scrape, not per piece.
  SwarmTotals sum;
  for (Swarm* s : sessions_) {
    if (s == nullptr) continue;
    SwarmTotals t = s->Totals();
    sum.uploaded_bytes += t.uploaded_bytes;
    sum.hash_failures += t.hash_failures;
    sum.banned_peers += t.banned_peers;
    sum.peers += t.peers;
  }
  sent_.SetTotal(static_cast<double>(sum.uploaded_bytes), {{"source", "swarm"}});
  peers_.Set(sum.peers);
  hash_failures_.SetTotal(static_cast<double>(sum.hash_failures));
  bans_.SetTotal(static_cast<double>(sum.banned_peers));
  return registry_.Render();
}

Result<std::unique_ptr<MetricsServer>> RoleMetrics::Serve(const std::string& listen) {
  return MetricsServer::Start(listen, [this] { return Render(); });
}

}  // namespace deltaswarm
