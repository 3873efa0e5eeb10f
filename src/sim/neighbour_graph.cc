#include "sim/neighbour_graph.h"

#include <algorithm>

namespace deltaswarm::sim {

NeighbourGraph::NeighbourGraph(int nodes, int degree, SimRandom& random) : offsets_(static_cast<size_t>(nodes) + 1, 0) {
  std::vector<std::vector<int32_t>> adjacent(static_cast<size_t>(nodes));
  if (nodes - 1 <= degree) {
    for (int a = 0; a < nodes; ++a)
      for (int b = 0; b < nodes; ++b)
        if (a != b) adjacent[static_cast<size_t>(a)].push_back(b);
  } else {
    const int draws = (degree + 1) / 2;
    for (int a = 0; a < nodes; ++a) {
      for (int d = 0; d < draws; ++d) {
        int b = static_cast<int>(random.Below(static_cast<uint64_t>(nodes - 1)));
        if (b >= a) ++b;  // anyone but itself
        adjacent[static_cast<size_t>(a)].push_back(b);
        adjacent[static_cast<size_t>(b)].push_back(a);
      }
    }
    for (auto& list : adjacent) {
      std::sort(list.begin(), list.end());
      list.erase(std::unique(list.begin(), list.end()), list.end());
    }
  }
  for (int a = 0; a < nodes; ++a)
    offsets_[static_cast<size_t>(a) + 1] = offsets_[static_cast<size_t>(a)] + adjacent[static_cast<size_t>(a)].size();
  targets_.reserve(offsets_.back());
  for (const auto& list : adjacent) targets_.insert(targets_.end(), list.begin(), list.end());
}

}  // namespace deltaswarm::sim
