// Rates of the simulator's flows: an approximate max-min fair share of the
// resources (links) they cross. Two rounds of water-filling: every flow
// first gets the smallest fair share (capacity / flows) along its path; then
// each resource's slack (capacity left by the flows held back elsewhere)
// goes to the flows it bottlenecks, and a resource that the second round
// overfills scales its flows down to its capacity. Exact when every flow
// has a single bottleneck (one rack, downloads unlimited: the sender's
// upload); close to max-min otherwise, at three passes over the flows.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace deltaswarm::sim {

// The resources a flow crosses, unlimited ones left out.
struct FlowPath {
  std::array<int32_t, 4> resources{};
  int32_t size = 0;
  void Add(int32_t resource) { resources[static_cast<size_t>(size++)] = resource; }
};

class FairShare {
 public:
  // capacity[r]: resource r's bytes/s (> 0, finite).
  explicit FairShare(const std::vector<double>& capacity);

  // A flow starts or stops crossing its path.
  void Join(const FlowPath& path);
  void Leave(const FlowPath& path);

  // rates[i] for every i with active[i] (others are left as they are).
  void Allocate(const std::vector<FlowPath>& paths, const std::vector<uint8_t>& active, std::vector<double>& rates);

 private:
  // One cache line per resource: each round reads and writes one line per hop.
  struct alignas(64) Link {
    double capacity = 0;
    int64_t flows = 0;         // active flows crossing it
    double share = 0;          // round 1: capacity / flows; round 3: the scale-down
    double bottlenecked = 0;   // flows whose smallest share is here
    double elsewhere = 0;      // round-1 rates of the flows held back elsewhere
    double level = 0;          // round 2: the bottlenecked flows' share of what is left
    double load = 0;           // round-2 rates summed
  };
  std::vector<Link> links_;
};

}  // namespace deltaswarm::sim
