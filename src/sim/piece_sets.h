// What every simulated node holds, fetches and has announced, the global
// availability of each piece, and the rarest-first choice of the next piece
// a receiver takes from a sender (an approximation; see swarm_sim.h).
// Two bits per node and piece (10,000 nodes x 19,000 pieces: 48 MB).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sim/sim_random.h"

namespace deltaswarm::sim {

class PieceSets {
 public:
  // A node's newest announced pieces kept for rarest first and interest
  // checks: the pieces it got last are the rare ones.
  static constexpr int kNewest = 8;

  PieceSets(int nodes, int pieces);

  // Taken: the node holds the piece or is fetching it.
  bool Taken(int node, int piece) const { return Test(taken_, node, piece); }
  void Take(int node, int piece) { Set(taken_, node, piece); }
  void Untake(int node, int piece) { Clear(taken_, node, piece); }

  // The node told its peers it holds piece: they may fetch it.
  void Announce(int node, int piece);
  // The node left: its pieces count no more in availability.
  void Withdraw(int node);
  int announced(int node) const { return announced_[static_cast<size_t>(node)]; }
  int availability(int piece) const { return availability_[static_cast<size_t>(piece)]; }

  // Whether `to` wants one of the last `count` (<= kNewest) pieces `from` announced.
  bool WantsNewest(int from, int to, int count) const;
  // The piece `to` should take next from `from`, -1 when it wants nothing
  // from it: the lowest availability among the wanted ones of `from`'s
  // newest and the next wanted one from `cursor` on (a sweep over the
  // pieces that a connection keeps, so that older pieces are found too, at
  // a few words per pick).
  int PickRarest(int from, int to, uint32_t& cursor, SimRandom& random) const;

 private:
  const uint64_t* Row(const std::vector<uint64_t>& bits, int node) const {
    return bits.data() + static_cast<size_t>(node) * words_;
  }
  bool Test(const std::vector<uint64_t>& bits, int node, int piece) const {
    return (Row(bits, node)[static_cast<size_t>(piece) >> 6] >> (piece & 63)) & 1;
  }
  void Set(std::vector<uint64_t>& bits, int node, int piece) {
    bits[static_cast<size_t>(node) * words_ + (static_cast<size_t>(piece) >> 6)] |= uint64_t{1} << (piece & 63);
  }
  void Clear(std::vector<uint64_t>& bits, int node, int piece) {
    bits[static_cast<size_t>(node) * words_ + (static_cast<size_t>(piece) >> 6)] &= ~(uint64_t{1} << (piece & 63));
  }
  int Newest(int node, int i) const;  // i-th newest announced piece, i < min(announced, kNewest)

  size_t words_;
  std::vector<uint64_t> taken_;
  std::vector<uint64_t> announced_bits_;
  std::vector<int32_t> announced_;
  std::vector<int32_t> availability_;
  std::vector<int32_t> newest_;  // kNewest per node, a ring indexed by announced count
};

}  // namespace deltaswarm::sim
