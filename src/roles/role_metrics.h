// The metrics of the long-running roles, node and gateway: one set of
// families (so one dashboard serves both), moved by the events they already
// emit and, per scrape, by the totals of their swarm sessions. The names:
//   deltaswarm_version_current              gauge: the version held (node) or served (gateway)
//   deltaswarm_version_latest               gauge: the newest version refs/latest was seen to name
//   deltaswarm_received_bytes_total{source} counter: payload by source, swarm (peers and web seeds) or bucket
//   deltaswarm_sent_bytes_total{source}     counter: payload uploaded, source swarm
//   deltaswarm_pull_duration_seconds        histogram: a version's pull (node) or fetch, check and seed (gateway)
//   deltaswarm_apply_duration_seconds       histogram: a pull's applies (node only)
//   deltaswarm_peers                        gauge: swarm connections now
//   deltaswarm_hash_failures_total          counter: swarm pieces that failed their hash check
//   deltaswarm_peer_bans_total              counter: peers banned for sending corrupt pieces
//   deltaswarm_failures_total{kind}         counter: failure events by type (pull_failed, ...)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bucket/metrics_server.h"
#include "deltaswarm/gateway.h"
#include "deltaswarm/metrics.h"
#include "deltaswarm/roles.h"
#include "deltaswarm/swarm.h"

namespace deltaswarm {

class RoleMetrics {
 public:
  enum class Role { kNode, kGateway };
  // sessions: the role's swarm sessions (not owned; null entries are
  // skipped), read per scrape. They must outlive the server Serve starts.
  RoleMetrics(Role role, std::vector<Swarm*> sessions);

  void OnNodeEvent(const NodeEvent& e);
  void OnGatewayEvent(const GatewayEvent& e);
  // The gateway's versions after a restore or a sync (its events carry no "latest").
  void SetVersions(uint64_t current, uint64_t latest);

  std::string Render();
  // Serves Render() at http://listen/metrics until the server is destroyed.
  Result<std::unique_ptr<MetricsServer>> Serve(const std::string& listen);

 private:
  void SeenLatest(uint64_t version);
  void Failure(const std::string& kind);

  std::vector<Swarm*> sessions_;
  MetricsRegistry registry_;
  Gauge current_, latest_;
  Counter received_, sent_;
  Histogram pull_s_, apply_s_;
  Gauge peers_;
  Counter hash_failures_, bans_, failures_;
  std::mutex mu_;            // guards latest_seen_
  uint64_t latest_seen_ = 0;  // the gauge never goes back: a rewound statement is not followed
};

}  // namespace deltaswarm
