// RunSwarmSim: checks a config, fills in its defaults and runs it.
#include "deltaswarm/swarm_sim.h"

#include <cmath>
#include <string>

#include "sim/swarm_simulation.h"

namespace deltaswarm {

namespace {

// Two bits per node and piece here, two more in ShareScheduler: past this
// the run needs gigabytes, and larger pieces are the way out.
constexpr double kMaxNodePieces = 4e9;

bool Finite(double x) { return std::isfinite(x); }

Status Check(const SimConfig& c) {
  auto bad = [](const std::string& what) { return InvalidArgument("simulate: " + what); };
  if (c.nodes < 1) return bad("nodes must be at least 1, not " + std::to_string(c.nodes));
  if (c.payload_bytes == 0) return bad("the payload must not be empty");
  if (c.piece_bytes < 16 * 1024) return bad("pieces must be at least 16 KiB, not " + std::to_string(c.piece_bytes) + " bytes");
  const double pieces = std::ceil(static_cast<double>(c.payload_bytes) / static_cast<double>(c.piece_bytes));
  if (pieces > (1 << 24) || pieces * c.nodes > kMaxNodePieces)
    return bad(std::to_string(c.nodes) + " nodes x " + std::to_string(static_cast<uint64_t>(pieces)) +
               " pieces is too many to hold; simulate larger pieces");
  if (!(c.upload_rate > 0) || !Finite(c.upload_rate)) return bad("the nodes' upload rate must be > 0");
  if (!(c.seed_upload_rate >= 0) || !Finite(c.seed_upload_rate)) return bad("the seed's upload rate must be >= 0");
  if (!(c.download_rate >= 0) || !Finite(c.download_rate)) return bad("the download rate must be >= 0");
  if (c.rack_size < 0) return bad("the rack size must be >= 0");
  if (!(c.oversubscription >= 1) || !Finite(c.oversubscription)) return bad("the oversubscription must be >= 1");
  if (c.neighbours < 1) return bad("neighbours must be at least 1");
  if (c.slots < 1) return bad("upload slots must be at least 1");
  if (!(c.latency_s >= 0) || c.latency_s > 10) return bad("the latency must be in [0, 10 s]");
  if (!(c.latency_jitter >= 0) || c.latency_jitter > 1) return bad("the latency jitter must be in [0, 1]");
  if (!(c.startup_s >= 0) || !Finite(c.startup_s)) return bad("the startup spread must be >= 0");
  if (c.kill_at > 1 || std::isnan(c.kill_at)) return bad("kill_at must be a fraction in [0, 1] (or negative: none)");
  if (c.kill_at >= 0 && c.nodes < 2) return bad("killing a node needs at least 2 nodes");
  if (!(c.step_s >= 0) || c.step_s > 10) return bad("the step must be in [0, 10 s] (0: chosen)");
  if (!(c.time_limit_bounds > 0) || !Finite(c.time_limit_bounds)) return bad("the time limit must be > 0 bounds");
  if (!(c.rechoke_s > 0)) return bad("the rechoke interval must be > 0");
  if (!(c.decide_interval_s >= 0) || !Finite(c.decide_interval_s)) return bad("the decide interval must be >= 0");
  if (!(c.rate_sample_s >= 0) || !Finite(c.rate_sample_s)) return bad("the rate sample interval must be >= 0");
  return Status::Ok();
}

}  // namespace

Result<SimReport> RunSwarmSim(const SimConfig& config, const SimProgressFn& progress) {
  SimConfig c = config;
  if (c.piece_bytes == 0) c.piece_bytes = TorrentPieceBytes(c.payload_bytes);
  DS_RETURN_IF_ERROR(Check(c));
  sim::SwarmSimulation simulation(c, progress);
  return simulation.Run();
}

}  // namespace deltaswarm
