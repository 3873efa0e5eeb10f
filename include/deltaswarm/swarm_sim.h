// A flow-level swarm simulator that runs the real share seed's policy
// (ShareScheduler, the class src/swarm/share_plugin.cc drives) against a
// model of the nodes' exchange, so that a change to the policy can be judged
// at 10,000 nodes before a cluster is at hand. Deterministic for a given
// config (RNG seed included); single-threaded.
//
// Model (a small fixed-time-step fluid model, step_s):
// - Transfers are fluids. Every step each active transfer gets a rate from an
//   approximate max-min fair share of the resources it crosses: its sender's
//   upload, its receiver's download, and, between racks, the sender rack's
//   uplink and the receiver rack's downlink (each rack_size * U /
//   oversubscription; traffic within a rack is limited by the hosts only).
//   The share is two rounds of water-filling (fair share, then each
//   resource's slack to the flows it bottlenecks) and a scale-down where the
//   second round overshot; exact when each flow has one bottleneck, e.g. one
//   rack with D unlimited.
// - The seed (rack 0, upload U_seed) runs ShareScheduler: Joined and Ready one
//   latency after a node starts; an offer reaches its node one latency later
//   and the node's request the seed another (jittered) latency later
//   (Requested, then the piece flows); Sent with each step's bytes; Have one
//   latency after a node completes a piece; Left one latency after a node
//   leaves. Decide runs every step (or every decide_interval_s, and then
//   also in any step the seed heard of a join, request or leave) and right
//   after each piece the seed finishes sending, at that moment (the real
//   seed decides after every event and every block it sends), so NextCheck
//   is honoured to a step (or the interval). The seed unchokes every node,
//   as the real share seed does (no upload slots).
// - Nodes (upload U, download D): a random symmetric neighbour graph of about
//   `neighbours` peers each (never all-to-all beyond that). A node uploads to
//   at most `slots` neighbours at a time; a slot is a connection to one
//   interested neighbour that carries one piece at a time, the next one
//   requested ahead (pipelining: no round trip between pieces; a new
//   connection waits for the unchoke and the request, two latencies). A free
//   slot goes to the interested neighbour that receives from the fewest
//   peers, ties at random (standing in for libtorrent's rotating and
//   optimistic unchokes, which keep a node from starving; there is no
//   tit-for-tat, so no preference for fast, e.g. same-rack, peers). A
//   connection ends when the receiver wants nothing more from the sender,
//   or at its first piece boundary after rechoke_s (libtorrent's unchoke
//   interval). A node thus downloads from every neighbour that unchoked it,
//   one piece per connection, several pieces in parallel, and keeps
//   uploading once it holds everything. A piece becomes visible to the
//   neighbours (and counts in availability) one latency after it completes.
//   A node offered a piece by the seed that a peer is sending it fetches it
//   from both; the first to finish wins (libtorrent would spread the blocks).
// - Rarest first, approximated: availability is global (nodes that announced
//   a piece), not per neighbourhood. For a connection the receiver takes, of
//   the candidates (pieces the sender announced and the receiver neither
//   holds nor fetches), the one with the lowest availability among the
//   sender's 8 newest announced pieces (its "new pieces" queue, where the
//   rare ones are) and the next candidate of a sweep over the sender's
//   pieces that the connection keeps going (so that older pieces are found
//   too, at a few bitset words per pick). Interest is tracked per edge: a
//   neighbour found wanting nothing is asked again only about the sender's
//   pieces announced since (or fully, after one of its fetches was dropped).
// - Time: events (offers, requests, announcements, node starts) happen at the
//   step start nearest to their time, so latencies are right on average
//   when a step is at most half a latency (SimStep); a request's latency is
//   jittered (latency_jitter) so that transfers that share a link do not
//   stay in lockstep. Completions keep their exact time (T), and a
//   connection's next piece gets the rest of the step's bytes.
// Cost: O(active transfers) per step plus O(1) per piece delivered (a few
// bitset words, amortized) and what ShareScheduler spends on it; memory two
// bits per node and piece here and two in ShareScheduler (10,000 nodes x
// 19,000 pieces: 130 MB resident in all).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "deltaswarm/status.h"

namespace deltaswarm {

struct SimConfig {
  int nodes = 0;
  uint64_t payload_bytes = 0;
  uint64_t piece_bytes = 0;       // 0: as the real torrents (TorrentPieceBytes)
  double upload_rate = 0;         // U: every node's upload, bytes/s (> 0)
  double seed_upload_rate = 0;    // U_seed, bytes/s; 0: U
  double download_rate = 0;       // D: every node's download, bytes/s; 0: unlimited
  int rack_size = 32;             // nodes per rack; 0: all in one rack
  double oversubscription = 4;    // rack uplink = rack_size * U / this, each way (>= 1)
  int neighbours = 40;            // peers each node exchanges with
  int slots = 8;                  // upload slots of a node (libtorrent's unchoke slots)
  double latency_s = 0.001;       // one way, between any two hosts
  double latency_jitter = 0.5;    // a request's latency is uniform in latency_s x [1 - this, 1 + this]
  double startup_s = 0;           // node i starts at a uniform time in [0, startup_s]
  uint64_t rng_seed = 1;
  double kill_at = -1;            // node 0 leaves once it holds this fraction of the pieces; < 0: none
  double step_s = 0;              // 0: SimStep
  double time_limit_bounds = 50;  // gives up after startup_s + this x the bound, simulated
  double rechoke_s = 15;          // a connection is reconsidered at a piece boundary after this
  // Decide at step starts at most this often (0: every step), besides right
  // after a join, request or leave reached the seed and after each piece it
  // finished sending. Saves the scheduler's scans over all nodes (and, for
  // starving nodes, all pieces) that HAVEs would otherwise start every step;
  // the time-based rules (stalls, starvation) then act to this interval.
  double decide_interval_s = 0;
  double rate_sample_s = 0;       // bin of the seed's rate series; 0: bound / 100
};

struct SimProgress {
  double sim_s = 0;
  int nodes_done = 0;
  int nodes = 0;          // that are to finish (a killed one not counted)
  double delivered = 0;   // fraction of all node x piece deliveries made
};
using SimProgressFn = std::function<void(const SimProgress&)>;

struct SimReport {
  int nodes = 0;
  uint64_t payload_bytes = 0;
  uint64_t piece_bytes = 0;
  int pieces = 0;
  int racks = 1;
  double step_s = 0;
  double time_s = 0;          // T: until every node (but a killed one) holds every piece
  double bound_s = 0;         // B (FluidBound)
  double ratio = 0;           // T / B
  uint64_t seed_bytes = 0;    // the seed's upload, duplicates included
  double seed_upload_x = 0;   // seed_bytes / payload
  int killed_node = -1;       // the node that left, -1: none
  double killed_s = -1;
  std::vector<double> done_s;           // per node: when it held every piece; -1: it left
  double rate_sample_s = 0;
  std::vector<double> seed_rate;        // the seed's upload, bytes/s, per bin of rate_sample_s from 0
  uint64_t steps = 0;
  uint64_t peer_pieces = 0;             // pieces completed from a peer
  uint64_t seed_pieces = 0;             // pieces completed from the seed
  int rehanded = 0;                     // ShareScheduler's counters at the end
  int starving_offers = 0;
  int max_in_flight_target = 0;         // the largest k the scheduler reached
};

// The real torrents' piece size (src/swarm/torrent_maker.cc PieceSizeFor):
// below 1 GiB the largest power of two <= payload / 1024 (at least 16 KiB),
// up to 64 GiB 1 MiB, above doubled until at most 65536 pieces.
uint64_t TorrentPieceBytes(uint64_t payload_bytes);

// The fluid lower bound: max(F / U_seed, F / D if D > 0, N F / (U_seed + N U)).
double FluidBound(const SimConfig& config);

// The step the simulation takes with step_s = 0: a fifth of the time a piece
// takes over one of a node's upload slots (U / slots), at most half the
// latency, within [0.05 ms, 20 ms]. Smaller is more exact and
// proportionally slower.
double SimStep(const SimConfig& config);

// Checks config (a one-line InvalidArgument otherwise) and runs it;
// Cancelled, with the progress made, if it has not finished by the time
// limit. progress is called every 256 steps and at the end.
Result<SimReport> RunSwarmSim(const SimConfig& config, const SimProgressFn& progress = {});

}  // namespace deltaswarm
