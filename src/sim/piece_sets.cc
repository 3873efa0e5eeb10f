#include "sim/piece_sets.h"

#include <algorithm>
#include <bit>
#include <limits>

namespace deltaswarm::sim {

PieceSets::PieceSets(int nodes, int pieces)
    : words_((static_cast<size_t>(pieces) + 63) / 64),
      taken_(static_cast<size_t>(nodes) * words_, 0),
      announced_bits_(static_cast<size_t>(nodes) * words_, 0),
      announced_(static_cast<size_t>(nodes), 0),
      availability_(static_cast<size_t>(pieces), 0),
      newest_(static_cast<size_t>(nodes) * kNewest, -1) {}

void PieceSets::Announce(int node, int piece) {
  if (Test(announced_bits_, node, piece)) return;
  Set(announced_bits_, node, piece);
  ++availability_[static_cast<size_t>(piece)];
  int32_t& count = announced_[static_cast<size_t>(node)];
  newest_[static_cast<size_t>(node) * kNewest + static_cast<size_t>(count % kNewest)] = piece;
  ++count;
}

void PieceSets::Withdraw(int node) {
  const uint64_t* row = Row(announced_bits_, node);
  for (size_t w = 0; w < words_; ++w)
    for (uint64_t bits = row[w]; bits != 0; bits &= bits - 1)
      --availability_[w * 64 + static_cast<size_t>(std::countr_zero(bits))];
}

int PieceSets::Newest(int node, int i) const {
  const int slot = (announced_[static_cast<size_t>(node)] - 1 - i) % kNewest;
  return newest_[static_cast<size_t>(node) * kNewest + static_cast<size_t>(slot)];
}

bool PieceSets::WantsNewest(int from, int to, int count) const {
  for (int i = 0; i < count; ++i)
    if (!Taken(to, Newest(from, i))) return true;
  return false;
}

int PieceSets::PickRarest(int from, int to, uint32_t& cursor, SimRandom& random) const {
  int best = -1;
  int best_availability = std::numeric_limits<int>::max();
  auto consider = [&](int piece) {
    if (availability_[static_cast<size_t>(piece)] < best_availability) {
      best = piece;
      best_availability = availability_[static_cast<size_t>(piece)];
    }
  };
  const int newest = std::min(announced(from), kNewest);
  for (int i = 0; i < newest; ++i)
    if (const int piece = Newest(from, i); !Taken(to, piece)) consider(piece);
  const uint64_t* have = Row(announced_bits_, from);
  const uint64_t* taken = Row(taken_, to);
  // A random one of the wanted pieces of word w (not always the lowest, so
  // that receivers sweeping the same sender spread), -1 if none.
  auto wanted_in = [&](size_t w) {
    const uint64_t wanted = have[w] & ~taken[w];
    if (wanted == 0) return -1;
    const int turn = static_cast<int>(random.Below(64));
    return static_cast<int>(w * 64) + ((std::countr_zero(std::rotr(wanted, turn)) + turn) & 63);
  };
  // The sweep: at most one pass, which also tells "nothing wanted".
  size_t w = cursor < words_ ? cursor : 0;
  for (size_t scanned = 0; scanned < words_; ++scanned) {
    if (const int piece = wanted_in(w); piece >= 0) {
      consider(piece);
      break;
    }
    if (++w == words_) w = 0;
  }
  cursor = static_cast<uint32_t>(w);
  return best;
}

}  // namespace deltaswarm::sim
