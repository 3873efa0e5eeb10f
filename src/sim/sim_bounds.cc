// The numbers a run is judged against: the real piece size, the fluid lower
// bound and the default step.
#include <algorithm>
#include <cmath>

#include "deltaswarm/swarm.h"
#include "deltaswarm/swarm_sim.h"

namespace deltaswarm {

uint64_t TorrentPieceBytes(uint64_t payload_bytes) { return PieceSizeFor(payload_bytes); }

double FluidBound(const SimConfig& c) {
  const double f = static_cast<double>(c.payload_bytes);
  const double seed = c.seed_upload_rate > 0 ? c.seed_upload_rate : c.upload_rate;
  const double n = c.nodes;
  double bound = std::max(f / seed, n * f / (seed + n * c.upload_rate));
  if (c.download_rate > 0) bound = std::max(bound, f / c.download_rate);
  return bound;
}

double SimStep(const SimConfig& c) {
  if (c.step_s > 0) return c.step_s;
  const double piece = static_cast<double>(c.piece_bytes > 0 ? c.piece_bytes : TorrentPieceBytes(c.payload_bytes));
  const double slot_time = piece / (c.upload_rate / std::max(c.slots, 1));
  double step = slot_time / 5;
  if (c.latency_s > 0) step = std::min(step, c.latency_s / 2);
  return std::clamp(step, 5e-5, 0.02);
}

}  // namespace deltaswarm
