// The share seed's policy: which piece the seed offers to which node, so that
// each piece leaves the seed about once and the nodes trade the rest. Pure:
// no libtorrent, no clock of its own (every call says what time it is), so it
// is unit-tested deterministically and the swarm simulator runs the very same
// code as the real seed (src/swarm/share_plugin.cc is its libtorrent adaptor).
//
// Every rule derives from what the seed observes (its upload rate, how fast
// nodes ask for what they are offered, how often nodes report pieces), the
// number of nodes and the piece size, never from a wall-clock constant, so the
// same policy holds at 2 MB/s and 2 GB/s, with 8 or 10,000 nodes:
//
// - Pieces in flight: a piece is "in flight" from its offer until the seed has
//   sent all its bytes. k pieces are in flight at once, k >= 2 so that the
//   seed's link never idles between two pieces. k grows while the seed sends
//   below its rate (its limit, else the best rate it has reached) with all k
//   slots busy (the receivers, not the seed, are the bottleneck; doubling
//   while below half that rate, as TCP's slow start), and shrinks back while
//   it is saturated.
// - Placement: a piece is placed once the seed has sent every byte of it to a
//   node, or a node reports it (HAVE) without the seed having sent it, i.e.
//   some peer served it. A bitfield or HAVE_ALL is a claim, never a
//   placement: a peer claiming every piece and uploading nothing gets nothing
//   and holds nothing up. A piece whose holders have all left goes back to
//   the pool, first in line.
// - Offers: the next pool piece goes to the ready node with the fewest
//   strikes, then fewest pieces in flight, then served least, that neither holds nor
//   claims it. A node with strikes, or one that would need longer for the
//   piece than the seed for all the rest (its observed rate from the seed),
//   is asked only when no other can. A node that is offered a piece and shows no activity for it
//   (no request, no byte sent) for longer than the stall window loses it to
//   another node and gets a strike. The stall window is
//   max(4 x (the observed offer-to-request latency + 4 x its mean deviation),
//   2 x k x piece / rate):
//   a holder that is alive and fetching never has its piece handed twice.
// - Starving nodes: a node that has reported no piece for 4 x the usual
//   interval between two reports of a node (observed over all nodes) is
//   starving (e.g. cut off from its peers). It gets the next fresh piece
//   first; once the pool is empty and a slot is free it is offered a placed
//   piece it lacks (a duplicate, paid only with otherwise idle seed upload),
//   one placed longer ago than pieces take to spread (2 x the observed
//   first-hop time x log2 N).
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <unordered_map>
#include <vector>

namespace deltaswarm {

// A connected node, as the caller names it (any value unique among the
// connected but kNobody).
using SharePeer = uint64_t;
inline constexpr SharePeer kNobody = ~SharePeer{0};

struct ShareOffer {
  SharePeer peer;
  int piece;
  friend bool operator==(const ShareOffer&, const ShareOffer&) = default;
};

struct ShareSchedulerConfig {
  int num_pieces = 0;
  uint64_t piece_bytes = 0;       // every piece but the last
  uint64_t last_piece_bytes = 0;  // 0: piece_bytes
  double upload_limit = 0;        // the seed's limit in bytes/s; 0: none, the best rate observed counts
  int max_in_flight = 0;          // a cap on k (0: 4 per ready node, plus 2)
};

struct ShareSchedulerStats {
  uint64_t bytes_sent = 0;   // payload the seed sent, duplicates included
  int in_flight = 0;
  int in_flight_target = 0;  // k
  int placed = 0;            // pieces placed with a connected node
  int pool = 0;              // pieces the seed still has to send
  int rehanded = 0;          // offers moved away from a node that showed no activity
  int starving_offers = 0;   // placed pieces offered again to starving nodes
  double rate = 0;           // the seed's observed upload rate, bytes/s
  double stall_window_s = 0; // 0: not known yet
};

class ShareScheduler {
 public:
  explicit ShareScheduler(const ShareSchedulerConfig& config);

  // A node connected. It is offered nothing before Ready.
  void Joined(SharePeer peer, double now);
  // The node's opening claim (bitfield; claims_all for HAVE_ALL or a full
  // bitfield), once known and after the seed's own HAVE_ALL went out.
  void Ready(SharePeer peer, const std::vector<bool>& claimed, bool claims_all, double now);
  void Left(SharePeer peer, double now);
  // A HAVE after the opening claim: the node verified the piece.
  void Have(SharePeer peer, int piece, double now);
  // The node asked the seed for a block of piece.
  void Requested(SharePeer peer, int piece, double now);
  // The seed sent bytes of piece to the node.
  void Sent(SharePeer peer, int piece, uint64_t bytes, double now);

  // The offers to make now (the caller announces each piece to its node with
  // a HAVE). Cheap when nothing changed; call after events and on a timer.
  std::vector<ShareOffer> Decide(double now);
  // The latest time Decide should run again for time-based rules (stalls,
  // starvation); +infinity when only events can change anything.
  double NextCheck() const { return next_check_; }

  ShareSchedulerStats stats() const;
  int in_flight_target() const { return k_; }
  // Whether piece is placed (held by a connected node, as defined above).
  bool placed(int piece) const { return pieces_[piece].holders > 0; }

 private:
  struct Peer {
    bool ready = false;
    bool claims_all = false;
    std::vector<bool> claimed;   // opening claim
    std::vector<bool> holds;     // verified (HAVE) or fully sent by the seed
    std::vector<bool> announced; // offered to it: it may fetch it from the seed
    int holding = 0;
    int in_flight = 0;
    int unrequested = 0;         // of those, offers it has not asked for yet
    int strikes = 0;
    uint64_t served = 0;         // pieces the seed sent it in full
    double last_have = -1;       // time of its last HAVE, -1: none yet
    double first_have = 0;
    int haves = 0;
    double ready_at = 0;
    double rate = 0;             // EWMA of bytes/s at which it took pieces from the seed
    bool starving = false;
  };
  struct Flight {
    double offered_at;
    double last_activity;
    bool requested = false;
  };
  struct PieceState {
    int holders = 0;   // connected nodes holding it
    int flights = 0;   // offers of it in flight
    double placed_at = 0;
    bool hopped = false;  // a second node got it
  };

  uint64_t BytesOf(int piece) const;
  bool Lacks(const Peer& p, int piece) const;
  // traded: it got the piece from a peer, not from the seed.
  void Hold(SharePeer id, Peer& p, int piece, double now, bool traded);
  using FlightKey = std::pair<SharePeer, int>;  // (node, piece)
  using Flights = std::map<FlightKey, struct Flight>;
  bool Fresh(int piece) const;      // neither placed nor in flight
  void Release(int piece);          // a holder or flight went away
  Flights::iterator EndFlight(Flights::iterator flight);
  void SampleRate(double now);
  void Rehand(double now, std::vector<ShareOffer>& out);
  void FindStarving(double now);
  void Offer(SharePeer id, Peer& p, int piece, double now, std::vector<ShareOffer>& out);
  bool OfferToStarving(double now, std::vector<ShareOffer>& out);
  // Whether some ready node could take an offer (none waits on its last).
  bool AnyNodeFree() const;
  // The ready node that should get piece next (not except), or kNobody.
  SharePeer PickFor(int piece, SharePeer except) const;
  double StallWindow() const;
  void ScanStarvingBy(double when) { next_starve_scan_ = std::min(next_starve_scan_, when); }

  ShareSchedulerConfig config_;
  std::unordered_map<SharePeer, Peer> peers_;
  std::set<SharePeer> starving_;
  std::vector<PieceState> pieces_;
  std::deque<int> pool_;   // not placed, not in flight (may hold stale entries, skipped)
  Flights flights_;
  std::map<std::pair<SharePeer, int>, uint64_t> sent_;  // bytes of a piece sent to a node, until complete
  int k_ = 2;
  int saturated_rounds_ = 0;
  int ready_ = 0;
  int placed_ = 0;
  int fresh_ = 0;                // pieces neither placed nor in flight
  uint64_t bytes_sent_ = 0;
  int rehanded_ = 0;
  int starving_offers_ = 0;
  // The seed's rate, sampled each time a piece completes: (time, bytes) pairs.
  std::deque<std::pair<double, uint64_t>> samples_;
  double rate_ = 0, best_rate_ = 0;
  int completions_since_resize_ = 0;
  bool slots_idled_ = false;     // since k was last judged, a slot stayed empty
  double request_latency_ = 0;   // EWMA of offer-to-first-request, 0: none observed
  double request_latency_dev_ = 0;  // EWMA of its deviation from that mean
  double hop_time_ = 0;          // EWMA of placement to the first trade of a piece, 0: none yet
  double have_interval_ = 0;     // EWMA of nodes' mean time between two HAVEs, 0: none yet
  double next_check_;
  double next_starve_scan_ = 0;
  double starving_retry_at_ = 0; // no settled piece for a starving node before this
  bool dirty_ = true;            // something changed that may allow an offer
};

}  // namespace deltaswarm
