// One run of the swarm simulator (the model is described in
// include/deltaswarm/swarm_sim.h): the seed's ShareScheduler, the nodes, their
// connections and the step loop that moves bytes between them.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <queue>
#include <utility>
#include <vector>

#include "deltaswarm/share_scheduler.h"
#include "deltaswarm/swarm_sim.h"
#include "sim/fair_share.h"
#include "sim/neighbour_graph.h"
#include "sim/piece_sets.h"
#include "sim/sim_random.h"

namespace deltaswarm::sim {

class SwarmSimulation {
 public:
  // config must have passed RunSwarmSim's checks.
  SwarmSimulation(const SimConfig& config, SimProgressFn progress);
  Result<SimReport> Run();

 private:
  static constexpr int32_t kSeed = -1;  // a flow's sender when the seed sends

  enum class NodeState : uint8_t { kWaiting, kActive, kLeft };
  struct Node {
    int32_t rack = 0;
    double start_s = 0;
    NodeState state = NodeState::kWaiting;
    bool search_queued = false;
    bool seed_heard_left = false;
    int32_t holding = 0;             // pieces complete
    int32_t seed_downloads = 0;      // of its downloads, those from the seed
    double done_s = -1;
    uint32_t cancel_epoch = 0;       // bumped when a fetch of it is dropped: it may want more again
    std::vector<int32_t> uploads;    // flows it sends (its upload slots)
    std::vector<int32_t> downloads;  // flows it receives, the seed's included
  };
  // A connection (sender node to receiver) carrying one piece at a time, or
  // one piece from the seed.
  struct Flow {
    int32_t src = kSeed;
    int32_t dst = 0;
    int32_t piece = 0;
    uint32_t generation = 0;  // tells a reused slot from the flow a queue entry meant
    bool alive = false;
    double left = 0;          // bytes of piece still to come
    double opened_s = 0;      // connection opened (rechoke)
    uint32_t cursor = 0;      // where its rarest-first sweep goes on (PieceSets::PickRarest)
    double sent = 0;          // seed flows: bytes of piece sent so far
    uint64_t reported = 0;    // seed flows: bytes of piece told to the scheduler (Sent)
  };
  struct Pending {  // a flow waiting for its first byte
    double at;
    int32_t flow;
    uint32_t generation;
    bool operator>(const Pending& o) const { return at != o.at ? at > o.at : flow > o.flow; }
  };
  enum class EventKind : uint8_t { kJoin, kOffer, kAnnounce, kLeft };
  struct Event {
    double at;
    EventKind kind;
    int32_t node;
    int32_t piece;
  };

  uint64_t PieceBytes(int piece) const { return piece == pieces_ - 1 ? last_piece_bytes_ : piece_bytes_; }
  int32_t Rack(int32_t node) const { return node == kSeed ? 0 : nodes_[static_cast<size_t>(node)].rack; }
  FlowPath PathOf(int32_t src, int32_t dst) const;
  // Whether something due at `at` happens at this step: the step start
  // nearest to it, so that latencies are right on average.
  bool Due(double at) const { return at < now_ + step_s_ / 2; }
  int live_nodes() const { return config_.nodes - (killed_ >= 0 ? 1 : 0); }

  void StartNodes();
  void HandleEvents();
  // at: when the offer reached the node.
  void HandleOffer(int32_t node, int32_t piece, double at);
  void MaybeKill();
  void Kill(int32_t node);
  void ActivateFlows();
  void QueueSearch(int32_t node);
  void RunSearches();
  void Search(int32_t src);
  bool MayWant(size_t edge, int32_t src, int32_t dst) const;
  void Decide(double at);
  void Advance();
  // The seed's bytes of f not yet told to the scheduler (Sent), as of `at`.
  void ReportSent(Flow& f, double at);
  void CompletePiece(int32_t dst, int32_t piece, double at, int32_t via);
  // A connection's next piece after one completed at `at`; false when it closed.
  bool NextPiece(int32_t id, double at, bool may_rechoke);

  int32_t NewFlow(int32_t src, int32_t dst, int32_t piece, double first_byte_at);
  // A request's way to its sender: the latency, jittered.
  double RequestLatency() { return latency_s_ * (1 + config_.latency_jitter * (2 * random_.Uniform() - 1)); }
  void CloseFlow(int32_t id);
  // Closes a flow whose piece did not arrive: the receiver may fetch it elsewhere.
  void AbortFlow(int32_t id);
  SimProgress Progress() const;
  SimReport Report() const;

  const SimConfig config_;
  const SimProgressFn progress_;
  const int pieces_;
  const uint64_t piece_bytes_, last_piece_bytes_;
  const double seed_rate_, step_s_, bound_s_, latency_s_;
  const int racks_;
  const uint64_t sweep_words_;  // words of a node's piece bitset
  SimRandom random_;
  std::vector<Node> nodes_;
  NeighbourGraph graph_;
  std::vector<int32_t> edge_seen_;     // src's announced count when dst was found to want nothing; -1: never
  std::vector<uint32_t> edge_epoch_;   // dst's cancel_epoch then
  PieceSets sets_;
  ShareScheduler scheduler_;
  FairShare fair_;
  std::vector<Flow> flows_;            // node i's uploads in [i x slots, (i + 1) x slots), then the seed's
  std::vector<FlowPath> paths_;
  std::vector<uint8_t> active_;        // sending bytes (counted in fair_)
  std::vector<double> rates_;
  std::vector<int32_t> free_seed_flows_;
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> starts_;
  std::deque<Event> events_;           // nearly in time order (see HandleEvents)
  std::vector<int32_t> start_order_;   // nodes by start time
  size_t started_ = 0;
  std::vector<int32_t> search_queue_;
  std::vector<std::pair<int, size_t>> candidates_;  // Search's scratch: (downloads, edge)
  double now_ = 0;
  uint64_t steps_ = 0;
  int done_ = 0;                       // nodes holding everything, the killed one not counted
  int32_t killed_ = -1;
  double killed_s_ = -1;
  int kill_pieces_ = -1;               // node 0 leaves once it holds this many; -1: never
  uint64_t delivered_ = 0, peer_pieces_ = 0, seed_pieces_ = 0, seed_bytes_ = 0;
  int max_k_ = 0;
  double next_decide_ = 0;         // Decide's next turn at a step start (decide_interval_s)
  bool seed_heard_news_ = false;   // a join, request or leave since the last Decide
  double rate_bin_s_;
  std::vector<double> seed_bin_bytes_;
};

}  // namespace deltaswarm::sim
