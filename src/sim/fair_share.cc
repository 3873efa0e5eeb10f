#include "sim/fair_share.h"

#include <algorithm>
#include <limits>

namespace deltaswarm::sim {

namespace {
constexpr double kUnlimited = std::numeric_limits<double>::infinity();
// Shares within this relative distance of a flow's smallest count as its
// bottleneck too (ties between equal links).
constexpr double kTie = 1e-9;
}  // namespace

FairShare::FairShare(const std::vector<double>& capacity) : links_(capacity.size()) {
  for (size_t r = 0; r < capacity.size(); ++r) links_[r].capacity = capacity[r];
}

void FairShare::Join(const FlowPath& path) {
  for (int32_t i = 0; i < path.size; ++i) ++links_[static_cast<size_t>(path.resources[static_cast<size_t>(i)])].flows;
}

void FairShare::Leave(const FlowPath& path) {
  for (int32_t i = 0; i < path.size; ++i) --links_[static_cast<size_t>(path.resources[static_cast<size_t>(i)])].flows;
}

void FairShare::Allocate(const std::vector<FlowPath>& paths, const std::vector<uint8_t>& active,
                         std::vector<double>& rates) {
  for (Link& l : links_) {
    l.share = l.flows > 0 ? l.capacity / static_cast<double>(l.flows) : kUnlimited;
    l.bottlenecked = 0;
    l.elsewhere = 0;
    l.load = 0;
  }
  auto link = [this](const FlowPath& p, int32_t i) -> Link& {
    return links_[static_cast<size_t>(p.resources[static_cast<size_t>(i)])];
  };
  const size_t n = paths.size();
  // Sums into the links go through one pending sum per hop of the path:
  // consecutive flows mostly share their sender's upload and rack, and adding
  // to the same memory over and over would wait on each previous add.
  struct Pending {
    int32_t link = -1;
    double count = 0, sum = 0;
  };
  std::array<Pending, 4> pending{};
  auto flush = [this](Pending& p, auto&& apply) {
    if (p.link >= 0) apply(links_[static_cast<size_t>(p.link)], p);
    p = Pending{};
  };
  auto add = [&](size_t hop, int32_t id, double count, double sum, auto&& apply) {
    Pending& p = pending[hop];
    if (p.link != id) {
      flush(p, apply);
      p.link = id;
    }
    p.count += count;
    p.sum += sum;
  };
  auto to_round1 = [](Link& l, const Pending& p) {
    l.bottlenecked += p.count;
    l.elsewhere += p.sum;
  };
  auto to_round2 = [](Link& l, const Pending& p) { l.load += p.sum; };
  // Round 1: the smallest fair share along the path.
  for (size_t f = 0; f < n; ++f) {
    if (!active[f]) continue;
    const FlowPath& p = paths[f];
    double rate = kUnlimited;
    for (int32_t i = 0; i < p.size; ++i) rate = std::min(rate, link(p, i).share);
    for (int32_t i = 0; i < p.size; ++i) {
      const bool here = link(p, i).share <= rate * (1 + kTie);
      add(static_cast<size_t>(i), p.resources[static_cast<size_t>(i)], here ? 1 : 0, here ? 0 : rate, to_round1);
    }
  }
  for (Pending& p : pending) flush(p, to_round1);
  for (Link& l : links_)
    l.level = l.bottlenecked > 0 ? std::max(0.0, l.capacity - l.elsewhere) / l.bottlenecked : kUnlimited;
  // Round 2: each resource's slack to the flows it holds back. A flow held
  // back elsewhere may rise too (its own bottleneck's level), which can
  // overfill a link; round 3 scales those down.
  for (size_t f = 0; f < n; ++f) {
    if (!active[f]) continue;
    const FlowPath& p = paths[f];
    double rate = kUnlimited;
    for (int32_t i = 0; i < p.size; ++i) rate = std::min(rate, link(p, i).level);
    rates[f] = rate;
    for (int32_t i = 0; i < p.size; ++i) add(static_cast<size_t>(i), p.resources[static_cast<size_t>(i)], 0, rate, to_round2);
  }
  for (Pending& p : pending) flush(p, to_round2);
  for (Link& l : links_) l.share = l.load > l.capacity ? l.capacity / l.load : 1.0;
  for (size_t f = 0; f < n; ++f) {
    if (!active[f]) continue;
    const FlowPath& p = paths[f];
    double scale = 1.0;
    for (int32_t i = 0; i < p.size; ++i) scale = std::min(scale, link(p, i).share);
    rates[f] *= scale;
  }
}

}  // namespace deltaswarm::sim
