// Who exchanges pieces with whom: a random symmetric graph in which each
// node has about `degree` neighbours (as a bounded peer list plus peer
// exchange gives a libtorrent node), everyone with everyone when there are
// fewer nodes. Edges are numbered, so that per-edge state can sit beside them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sim/sim_random.h"

namespace deltaswarm::sim {

class NeighbourGraph {
 public:
  // Each node draws ceil(degree / 2) partners and every edge goes both
  // ways: a mean degree near `degree`, none below half of it.
  NeighbourGraph(int nodes, int degree, SimRandom& random);

  // The edges of node are [first_edge(node), first_edge(node + 1)).
  size_t first_edge(int node) const { return offsets_[static_cast<size_t>(node)]; }
  int degree(int node) const { return static_cast<int>(first_edge(node + 1) - first_edge(node)); }
  int target(size_t edge) const { return targets_[edge]; }
  size_t edges() const { return targets_.size(); }

 private:
  std::vector<size_t> offsets_;
  std::vector<int32_t> targets_;
};

}  // namespace deltaswarm::sim
