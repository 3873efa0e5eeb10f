#include "deltaswarm/share_scheduler.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <tuple>

namespace deltaswarm {

namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

// Weight of a new observation in the moving averages: about the last five count.
constexpr double kEwmaWeight = 0.2;
double Ewma(double average, double sample) {
  return average == 0 ? sample : (1 - kEwmaWeight) * average + kEwmaWeight * sample;
}

// Below this share of its reference rate the seed is not saturated; above the
// second it is. The gap keeps k from flapping on noise.
constexpr double kUnsaturated = 0.9;
constexpr double kSaturated = 0.95;
constexpr double kFarBelow = 0.5;
// Rounds of k completions at saturation before k shrinks by one.
constexpr int kSaturatedRoundsToShrink = 4;
// Multiples of an observed interval that count as "nothing is happening".
constexpr double kLatencyMultiple = 4;
constexpr double kPieceTimeMultiple = 2;
constexpr double kStarvingMultiple = 4;
constexpr double kSpreadMultiple = 2;
// A bound on k: pieces in flight per ready node.
constexpr int kInFlightPerNode = 4;

}  // namespace

ShareScheduler::ShareScheduler(const ShareSchedulerConfig& config)
    : config_(config), pieces_(static_cast<size_t>(std::max(config.num_pieces, 0))), next_check_(kInfinity) {
  if (config_.last_piece_bytes == 0) config_.last_piece_bytes = config_.piece_bytes;
  for (int piece = 0; piece < config_.num_pieces; ++piece) pool_.push_back(piece);
  fresh_ = config_.num_pieces;
}

uint64_t ShareScheduler::BytesOf(int piece) const {
  return piece == config_.num_pieces - 1 ? config_.last_piece_bytes : config_.piece_bytes;
}

bool ShareScheduler::Lacks(const Peer& p, int piece) const {
  const auto i = static_cast<size_t>(piece);
  return !p.claims_all && !p.holds[i] && !(i < p.claimed.size() && p.claimed[i]);
}

void ShareScheduler::Joined(SharePeer id, double now) {
  if (peers_.count(id) != 0) Left(id, now);  // a name reused without Left: the old node is gone
  Peer& p = peers_[id];
  p = Peer{};
  p.holds.assign(pieces_.size(), false);
  p.announced.assign(pieces_.size(), false);
  p.ready_at = now;
}

void ShareScheduler::Ready(SharePeer id, const std::vector<bool>& claimed, bool claims_all, double now) {
  auto it = peers_.find(id);
  if (it == peers_.end() || it->second.ready) return;
  Peer& p = it->second;
  p.ready = true;
  p.ready_at = now;
  p.claimed = claimed;
  p.claims_all = claims_all || (!claimed.empty() && claimed.size() >= pieces_.size() &&
                                std::all_of(claimed.begin(), claimed.end(), [](bool b) { return b; }));
  ++ready_;
  if (have_interval_ > 0) ScanStarvingBy(now + kStarvingMultiple * have_interval_);
  dirty_ = true;
}

void ShareScheduler::Left(SharePeer id, double) {
  auto it = peers_.find(id);
  if (it == peers_.end()) return;
  Peer& p = it->second;
  std::vector<int> released;
  for (auto f = flights_.lower_bound({id, INT_MIN}); f != flights_.end() && f->first.first == id;) {
    released.push_back(f->first.second);
    f = EndFlight(f);
  }
  for (int piece = 0; piece < config_.num_pieces; ++piece) {
    if (!p.holds[static_cast<size_t>(piece)]) continue;
    const bool was_fresh = Fresh(piece);
    if (--pieces_[piece].holders == 0) --placed_;
    fresh_ += static_cast<int>(Fresh(piece)) - static_cast<int>(was_fresh);
    released.push_back(piece);
  }
  sent_.erase(sent_.lower_bound({id, INT_MIN}), sent_.lower_bound({id, INT_MAX}));
  if (p.ready) --ready_;
  starving_.erase(id);
  peers_.erase(it);
  // Back to the pool in piece order, first in line.
  std::sort(released.begin(), released.end());
  for (auto r = released.rbegin(); r != released.rend(); ++r) Release(*r);
  starving_retry_at_ = 0;
  dirty_ = true;
}

void ShareScheduler::Have(SharePeer id, int piece, double now) {
  auto it = peers_.find(id);
  if (it == peers_.end() || piece < 0 || piece >= config_.num_pieces) return;
  Peer& p = it->second;
  // A node's mean interval over all its HAVEs: pieces often arrive in
  // bursts, and a burst's zero gaps must not make "usual" look instant.
  if (p.haves++ == 0) p.first_have = now;
  if (p.haves >= 2 && now > p.first_have) {
    if (have_interval_ == 0) ScanStarvingBy(now);  // the first interval: starvation can be judged
    have_interval_ = Ewma(have_interval_, (now - p.first_have) / (p.haves - 1));
  }
  p.last_have = now;
  if (have_interval_ > 0) ScanStarvingBy(now + kStarvingMultiple * have_interval_);
  // Proof that it reaches its peers: only a piece the seed did not send it.
  if (!p.holds[static_cast<size_t>(piece)]) {
    p.starving = false;
    starving_.erase(id);
    Hold(id, p, piece, now, /*traded=*/true);
  }
}

void ShareScheduler::Requested(SharePeer id, int piece, double now) {
  auto it = flights_.find({id, piece});
  if (it == flights_.end()) return;
  Flight& f = it->second;
  if (!f.requested) {
    // As TCP's retransmission timer: a mean and a mean deviation, so that a
    // busy machine's spread of latencies widens the window, not just its mean.
    const double latency = now - f.offered_at;
    request_latency_dev_ = request_latency_ == 0 ? latency / 2
                                                 : Ewma(request_latency_dev_, std::abs(latency - request_latency_));
    request_latency_ = Ewma(request_latency_, latency);
    --peers_.at(id).unrequested;
    dirty_ = true;
  }
  f.requested = true;
  f.last_activity = now;
}

void ShareScheduler::Sent(SharePeer id, int piece, uint64_t bytes, double now) {
  bytes_sent_ += bytes;
  auto it = peers_.find(id);
  if (it == peers_.end() || piece < 0 || piece >= config_.num_pieces) return;
  if (auto f = flights_.find({id, piece}); f != flights_.end()) f->second.last_activity = now;
  uint64_t& sent = sent_[{id, piece}];
  sent += bytes;
  if (sent < BytesOf(piece)) return;
  sent_.erase({id, piece});
  Peer& p = it->second;
  ++p.served;
  if (!p.holds[static_cast<size_t>(piece)]) Hold(id, p, piece, now, /*traded=*/false);
  SampleRate(now);
}

void ShareScheduler::Hold(SharePeer id, Peer& p, int piece, double now, bool traded) {
  p.holds[static_cast<size_t>(piece)] = true;
  ++p.holding;
  PieceState& state = pieces_[piece];
  const bool was_fresh = Fresh(piece);
  if (state.holders++ == 0) {
    ++placed_;
    state.placed_at = now;
  } else if (traded && !state.hopped) {  // its first trade: how long one hop takes
    state.hopped = true;
    hop_time_ = Ewma(hop_time_, now - state.placed_at);
  }
  fresh_ -= static_cast<int>(was_fresh);
  if (auto f = flights_.find({id, piece}); f != flights_.end()) {
    if (now > f->second.offered_at)  // how fast this node takes a piece from the seed
      p.rate = Ewma(p.rate, static_cast<double>(BytesOf(piece)) / (now - f->second.offered_at));
    EndFlight(f);
  }
  dirty_ = true;
}

bool ShareScheduler::Fresh(int piece) const { return pieces_[piece].holders == 0 && pieces_[piece].flights == 0; }

void ShareScheduler::Release(int piece) {
  if (pieces_[piece].holders == 0 && pieces_[piece].flights == 0) pool_.push_front(piece);
}

ShareScheduler::Flights::iterator ShareScheduler::EndFlight(Flights::iterator flight) {
  const auto [peer, piece] = flight->first;
  if (auto it = peers_.find(peer); it != peers_.end()) {
    --it->second.in_flight;
    if (!flight->second.requested) --it->second.unrequested;
    if (it->second.starving) starving_retry_at_ = 0;  // it may take another
  }
  --pieces_[piece].flights;
  fresh_ += static_cast<int>(Fresh(piece));
  dirty_ = true;
  return flights_.erase(flight);
}

// One sample per piece the seed finished sending; every k samples, k is
// judged: grown when the seed sent below its rate although every slot was
// busy (doubled when far below), shrunk after a few rounds at full rate
// (fewer pieces in flight finish sooner and spread sooner).
void ShareScheduler::SampleRate(double now) {
  samples_.emplace_back(now, bytes_sent_);
  const size_t window = static_cast<size_t>(std::max(k_, 4)) + 1;
  while (samples_.size() > window) samples_.pop_front();
  if (samples_.size() < 2) return;
  const double dt = samples_.back().first - samples_.front().first;
  if (dt <= 0) return;
  rate_ = static_cast<double>(samples_.back().second - samples_.front().second) / dt;
  best_rate_ = std::max(best_rate_, rate_);
  if (++completions_since_resize_ < k_) return;
  completions_since_resize_ = 0;
  const double reference = config_.upload_limit > 0 ? config_.upload_limit : best_rate_;
  const bool slots_busy = !slots_idled_;
  slots_idled_ = false;
  // A node may have several pieces in flight (one not yet asked for).
  const int max_k = config_.max_in_flight > 0 ? config_.max_in_flight : kInFlightPerNode * std::max(1, ready_) + 2;
  if (rate_ < kUnsaturated * reference && slots_busy) {
    // Far below: double (a slow start, as TCP's); near: one more.
    k_ = std::min(rate_ < kFarBelow * reference ? 2 * k_ : k_ + 1, max_k);
    saturated_rounds_ = 0;
  } else if (rate_ >= kSaturated * reference && ++saturated_rounds_ >= kSaturatedRoundsToShrink) {
    k_ = std::max(2, k_ - 1);
    saturated_rounds_ = 0;
  }
}

double ShareScheduler::StallWindow() const {
  double window = request_latency_ > 0 ? kLatencyMultiple * (request_latency_ + 4 * request_latency_dev_) : 0;
  const double rate = config_.upload_limit > 0 ? config_.upload_limit : rate_;
  if (rate > 0)
    window = std::max(window, kPieceTimeMultiple * k_ * static_cast<double>(config_.piece_bytes) / rate);
  return window;
}

// A piece whose node showed no activity for it within the stall window goes
// to another node; the first keeps its offer (it may still fetch it) and a strike.
void ShareScheduler::Rehand(double now, std::vector<ShareOffer>& out) {
  const double window = StallWindow();
  if (window <= 0) return;
  std::vector<FlightKey> stalled;
  for (auto& [key, f] : flights_)
    if (now - f.last_activity > window) stalled.push_back(key);
  for (const auto& [peer, piece] : stalled) {
    auto f = flights_.find({peer, piece});
    f->second.last_activity = now;  // judged again only after another window
    const SharePeer other = PickFor(piece, peer);
    if (other == kNobody) continue;
    if (auto it = peers_.find(peer); it != peers_.end()) ++it->second.strikes;
    EndFlight(f);
    Offer(other, peers_.at(other), piece, now, out);
    ++rehanded_;
  }
}

void ShareScheduler::FindStarving(double now) {
  next_starve_scan_ = kInfinity;
  if (have_interval_ <= 0) return;
  const double threshold = kStarvingMultiple * have_interval_;
  for (auto& [id, p] : peers_) {
    // A node with strikes left offers unfetched: its silence is its own.
    if (!p.ready || p.starving || p.claims_all || p.strikes > 0 || p.holding >= config_.num_pieces) continue;
    const double since = now - std::max(p.last_have, p.ready_at);
    if (since > threshold) {
      p.starving = true;
      starving_.insert(id);
      starving_retry_at_ = 0;
      dirty_ = true;
    } else {
      next_starve_scan_ = std::min(next_starve_scan_, now + threshold - since);
    }
  }
}

bool ShareScheduler::AnyNodeFree() const {
  return std::any_of(peers_.begin(), peers_.end(), [](const auto& entry) {
    return entry.second.ready && entry.second.unrequested == 0;
  });
}

SharePeer ShareScheduler::PickFor(int piece, SharePeer except) const {
  SharePeer best = kNobody;
  std::tuple<int, bool, bool, int, uint64_t, SharePeer> best_key{};
  const int left = fresh_;
  const double seed_rate = config_.upload_limit > 0 ? config_.upload_limit : rate_;
  const double slowest_useful = seed_rate / (left + k_);
  for (const auto& [id, p] : peers_) {
    // One unanswered offer at a time: a node that has not asked for its last
    // offer yet shows no sign it would fetch another.
    if (!p.ready || id == except || p.unrequested > 0 || !Lacks(p, piece) ||
        p.announced[static_cast<size_t>(piece)])
      continue;
    // A node that would take longer over this piece than the seed needs for
    // all that is left would finish last: asked only if nobody else can.
    const bool too_slow = p.rate > 0 && p.rate < slowest_useful;
    const auto key = std::make_tuple(p.strikes, too_slow, !p.starving, p.in_flight, p.served, id);
    if (best == kNobody || key < best_key) {
      best = id;
      best_key = key;
    }
  }
  return best;
}

void ShareScheduler::Offer(SharePeer id, Peer& p, int piece, double now, std::vector<ShareOffer>& out) {
  p.announced[static_cast<size_t>(piece)] = true;
  ++p.in_flight;
  ++p.unrequested;
  fresh_ -= static_cast<int>(Fresh(piece));
  ++pieces_[piece].flights;
  flights_[{id, piece}] = Flight{now, now, false};
  out.push_back({id, piece});
}

// For a starving node with nothing in flight once the pool is empty: the
// placed piece it lacks that the fewest nodes hold. Only a piece placed
// longer ago than it takes to spread through the swarm (twice one observed
// hop per doubling of its holders): a fresh one is still on its way. With no
// hop observed yet nothing spreads at all, and every piece counts as settled.
bool ShareScheduler::OfferToStarving(double now, std::vector<ShareOffer>& out) {
  if (now < starving_retry_at_) return false;  // nothing had settled at the last look
  const double spread = kSpreadMultiple * hop_time_ * std::log2(std::max(2, ready_));
  const double settled = now - spread;
  double next_settled = kInfinity;
  for (const SharePeer id : starving_) {
    Peer& p = peers_.at(id);
    if (p.in_flight > 0) continue;
    int best = -1;
    for (int piece = 0; piece < config_.num_pieces; ++piece) {
      if (!Lacks(p, piece) || p.announced[static_cast<size_t>(piece)] || pieces_[piece].holders == 0) continue;
      if (pieces_[piece].placed_at > settled) {
        next_settled = std::min(next_settled, pieces_[piece].placed_at + spread);
        continue;
      }
      if (best < 0 || pieces_[piece].holders < pieces_[best].holders) best = piece;
    }
    if (best < 0) continue;
    Offer(id, p, best, now, out);
    ++starving_offers_;
    return true;
  }
  starving_retry_at_ = next_settled;
  next_check_ = std::min(next_check_, next_settled);
  return false;
}

std::vector<ShareOffer> ShareScheduler::Decide(double now) {
  std::vector<ShareOffer> out;
  if (!dirty_ && now < next_check_) return out;
  dirty_ = false;
  Rehand(now, out);
  if (now >= next_starve_scan_) FindStarving(now);
  // Fresh pieces first, in pool order. A piece no free node can take (each
  // holds or claims it) moves to the back, so that it holds up neither the
  // pieces behind it nor the next decision; none free at all: the next
  // event (a request, a piece done) retries.
  for (size_t looked = 0, n = pool_.size(); looked < n && static_cast<int>(flights_.size()) < k_; ++looked) {
    const int piece = pool_.front();
    pool_.pop_front();
    if (!Fresh(piece)) continue;  // stale: placed or out meanwhile
    const SharePeer who = PickFor(piece, kNobody);
    if (who == kNobody) {
      pool_.push_back(piece);
      if (!AnyNodeFree()) break;
      continue;
    }
    Offer(who, peers_.at(who), piece, now, out);
  }
  const bool pool_empty = fresh_ == 0;
  // When the time-based rules need another look (OfferToStarving may bring it forward).
  next_check_ = next_starve_scan_;
  while (pool_empty && static_cast<int>(flights_.size()) < k_ && OfferToStarving(now, out)) {
  }
  if (static_cast<int>(flights_.size()) < k_) slots_idled_ = true;  // nothing to send or nobody to take it
  if (const double window = StallWindow(); window > 0)
    for (const auto& [key, f] : flights_) next_check_ = std::min(next_check_, f.last_activity + window);
  return out;
}

ShareSchedulerStats ShareScheduler::stats() const {
  ShareSchedulerStats s;
  s.bytes_sent = bytes_sent_;
  s.in_flight = static_cast<int>(flights_.size());
  s.in_flight_target = k_;
  s.placed = placed_;
  s.pool = fresh_;
  s.rehanded = rehanded_;
  s.starving_offers = starving_offers_;
  s.rate = rate_;
  s.stall_window_s = StallWindow();
  return s;
}

}  // namespace deltaswarm
