// The share seed's policy on its own, on a deterministic clock: a small
// harness plays the nodes (they fetch what they are offered, at a rate the
// test sets, and may pass pieces on to each other) and the seed's link.
#include "deltaswarm/share_scheduler.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>

namespace deltaswarm {
namespace {

constexpr uint64_t kPiece = 1 << 20;

struct NodeModel {
  bool fetches = true;        // false: never asks for what it is offered
  double download_cap = 0;    // bytes/s from the seed, 0: unlimited
};

class Harness {
 public:
  Harness(int pieces, double seed_rate, double limit = -1)
      : pieces_(pieces),
        seed_rate_(seed_rate),
        scheduler_(ShareSchedulerConfig{pieces, kPiece, 0, limit < 0 ? seed_rate : limit, 0}) {}

  void Join(SharePeer id, NodeModel model = {}, bool claims_all = false, const std::vector<bool>& claimed = {}) {
    models_[id] = model;
    scheduler_.Joined(id, now_);
    scheduler_.Ready(id, claimed, claims_all, now_);
    for (size_t piece = 0; piece < claimed.size(); ++piece)
      if (claimed[piece]) holds_[id].insert(static_cast<int>(piece));
  }
  void Leave(SharePeer id) {
    models_.erase(id);
    scheduler_.Left(id, now_);
    std::erase_if(fetching_, [&](const Fetch& f) { return f.peer == id; });
  }
  // Nodes pass every piece on to every other node `exchange_delay` after
  // they report it (negative: nodes never trade; only the seed serves).
  void set_exchange_delay(double s) { exchange_delay_ = s; }

  void Step(double dt) {
    for (const ShareOffer& o : scheduler_.Decide(now_)) {
      ++offers_[o.piece];
      offered_to_[o.peer].insert(o.piece);
      if (models_.count(o.peer) && models_[o.peer].fetches) {
        scheduler_.Requested(o.peer, o.piece, now_);
        fetching_.push_back({o.peer, o.piece, kPiece});
      }
    }
    Serve(dt);
    Trade();
    now_ += dt;
  }
  // Steps until every connected node holds every piece or max_s passes.
  void RunUntilDone(double dt, double max_s) {
    while (now_ < max_s && !AllDone()) Step(dt);
  }

  // Every node that fetches holds every piece.
  bool AllDone() const {
    for (const auto& [id, m] : models_)
      if (m.fetches && static_cast<int>(held_by(id)) < pieces_) return false;
    return true;
  }
  double now() const { return now_; }
  const ShareScheduler& scheduler() const { return scheduler_; }
  int offers_of(int piece) const { return offers_.count(piece) ? offers_.at(piece) : 0; }
  int max_offers() const {
    int most = 0;
    for (const auto& [piece, n] : offers_) most = std::max(most, n);
    return most;
  }
  size_t offered_to(SharePeer id) const { return offered_to_.count(id) ? offered_to_.at(id).size() : 0; }
  size_t held_by(SharePeer id) const { return holds_.count(id) ? holds_.at(id).size() : 0; }
  bool holds(SharePeer id, int piece) const { return holds_.count(id) && holds_.at(id).count(piece); }

 private:
  struct Fetch {
    SharePeer peer;
    int piece;
    uint64_t left;
  };

  // The seed's rate, water-filled over the fetches (a capped node takes its
  // cap, the others share the rest).
  void Serve(double dt) {
    double budget = seed_rate_ * dt;
    std::vector<Fetch*> open;
    for (Fetch& f : fetching_) open.push_back(&f);
    while (!open.empty() && budget > 0.5) {
      const double share = budget / static_cast<double>(open.size());
      std::vector<Fetch*> next;
      for (Fetch* f : open) {
        double cap = models_[f->peer].download_cap > 0 ? models_[f->peer].download_cap * dt : share;
        const auto bytes = static_cast<uint64_t>(std::min({share, cap, static_cast<double>(f->left)}));
        if (bytes == 0) continue;
        scheduler_.Sent(f->peer, f->piece, bytes, now_);
        f->left -= bytes;
        budget -= static_cast<double>(bytes);
        if (f->left > 0 && bytes == static_cast<uint64_t>(share)) next.push_back(f);
      }
      if (next.size() == open.size()) break;
      open = next;
    }
    for (auto it = fetching_.begin(); it != fetching_.end();) {
      if (it->left > 0) {
        ++it;
        continue;
      }
      Report(it->peer, it->piece);
      it = fetching_.erase(it);
    }
  }

  void Report(SharePeer id, int piece) {
    if (!holds_[id].insert(piece).second) return;
    scheduler_.Have(id, piece, now_);
    if (exchange_delay_ >= 0) trades_.push_back({now_ + exchange_delay_, piece, id});
  }

  void Trade() {
    std::vector<Trade_> due;
    std::erase_if(trades_, [&](const Trade_& t) {
      if (t.at > now_) return false;
      due.push_back(t);
      return true;
    });
    for (const Trade_& t : due)
      for (const auto& [id, m] : models_)
        if (id != t.from && m.fetches) Report(id, t.piece);
  }

  struct Trade_ {
    double at;
    int piece;
    SharePeer from;
  };

  int pieces_;
  double seed_rate_;
  ShareScheduler scheduler_;
  double now_ = 0;
  double exchange_delay_ = 0.05;
  std::map<SharePeer, NodeModel> models_;
  std::vector<Fetch> fetching_;
  std::vector<Trade_> trades_;
  std::map<int, int> offers_;
  std::map<SharePeer, std::set<int>> offered_to_;
  std::map<SharePeer, std::set<int>> holds_;
};

constexpr double kRate = 8.0 * kPiece;  // 8 pieces/s
constexpr double kDt = 0.01;

TEST_CASE("every piece leaves the seed once while its holders fetch and trade") {
  Harness h(64, kRate);
  for (SharePeer id = 1; id <= 8; ++id) h.Join(id);
  h.RunUntilDone(kDt, 60);
  REQUIRE(h.AllDone());
  CHECK(h.max_offers() == 1);
  CHECK(h.scheduler().stats().bytes_sent == 64 * kPiece);
  CHECK(h.scheduler().stats().rehanded == 0);
  CHECK(h.scheduler().stats().starving_offers == 0);
  // 64 pieces at 8/s: 8 s at the seed's full rate, plus the last piece's trade.
  CHECK(h.now() < 8 * 1.05 + 0.2);
}

TEST_CASE("a peer claiming every piece gets nothing and holds nothing up") {
  Harness h(13, kRate);
  h.Join(1, NodeModel{.fetches = false}, /*claims_all=*/true);
  h.Join(2);
  h.RunUntilDone(kDt, 30);
  REQUIRE(h.held_by(2) == 13);
  CHECK(h.offered_to(1) == 0);
  CHECK(h.now() < 13 / 8.0 * 1.05 + 0.1);
  CHECK(h.max_offers() == 1);
}

TEST_CASE("a peer that never fetches loses its offers to one that does") {
  Harness h(16, kRate);
  h.Join(1, NodeModel{.fetches = false});
  h.Join(2);
  h.RunUntilDone(kDt, 60);
  REQUIRE(h.held_by(2) == 16);
  CHECK(h.scheduler().stats().rehanded >= 1);
  // The silent peer got strikes: after its first offers it is asked last.
  CHECK(h.offered_to(1) <= 3);
  CHECK(h.now() < 2 * 16 / 8.0 + 5);
}

TEST_CASE("what a leaving node held or was offered goes to the others") {
  Harness h(32, kRate);
  h.set_exchange_delay(-1);  // nothing traded: only the seed's pieces count
  h.Join(1);
  h.Join(2);
  h.RunUntilDone(kDt, 1.5);  // about half the pieces are out
  const size_t held = h.held_by(1);
  REQUIRE(held > 0);
  h.Leave(1);
  // Node 2 starves for what node 1 held and the pool refills with it: the
  // seed sends those pieces to node 2 (it has nobody to trade with).
  h.RunUntilDone(kDt, 60);
  CHECK(h.held_by(2) == 32);
  CHECK(h.scheduler().stats().placed == 32);
  CHECK(h.scheduler().stats().starving_offers == 0);  // pool pieces, not duplicates
}

TEST_CASE("a node back with the first half of the pieces on disk is offered the other half") {
  Harness h(40, kRate);
  std::vector<bool> claimed(40, false);
  for (int piece = 0; piece < 20; ++piece) claimed[piece] = true;
  h.Join(1, {}, false, claimed);
  h.RunUntilDone(kDt, 30);
  CHECK(h.held_by(1) == 40);
  CHECK(h.offered_to(1) == 20);
  CHECK(h.scheduler().stats().bytes_sent == 20 * kPiece);
}

TEST_CASE("a slow node keeps its piece: no duplicate while it is fetching") {
  Harness h(48, kRate);
  h.Join(1, NodeModel{.download_cap = kRate / 20});
  for (SharePeer id = 2; id <= 4; ++id) h.Join(id);
  h.RunUntilDone(kDt, 60);
  REQUIRE(h.AllDone());
  CHECK(h.max_offers() == 1);
  CHECK(h.scheduler().stats().rehanded == 0);
  CHECK(h.scheduler().stats().bytes_sent == 48 * kPiece);
  CHECK(h.now() < 48 / 8.0 * 1.2);
}

TEST_CASE("when every receiver is slower than the seed, more pieces go out at once") {
  Harness h(64, kRate);
  for (SharePeer id = 1; id <= 8; ++id) h.Join(id, NodeModel{.download_cap = kRate / 4});
  h.RunUntilDone(kDt, 60);
  REQUIRE(h.AllDone());
  CHECK(h.scheduler().in_flight_target() >= 4);
  CHECK(h.max_offers() == 1);
  CHECK(h.now() < 64 / 8.0 * 1.3);
}

TEST_CASE("a node cut off from its peers is served placed pieces once the pool is empty") {
  Harness h(24, kRate);
  h.set_exchange_delay(-1);  // nobody trades: each node is cut off from the others
  for (SharePeer id = 1; id <= 3; ++id) h.Join(id);
  h.RunUntilDone(kDt, 120);
  REQUIRE(h.AllDone());
  const auto stats = h.scheduler().stats();
  CHECK(stats.starving_offers == 2 * 24);  // each node got the two thirds it lacked
  CHECK(stats.bytes_sent == 3 * 24 * kPiece);
}

TEST_CASE("the stall window follows the rate, not a constant") {
  for (double rate : {2e6, 2e9}) {
    Harness h(8, rate);
    h.Join(1);
    h.Join(2);
    h.Step(kDt);
    const double window = h.scheduler().stats().stall_window_s;
    CHECK(window == doctest::Approx(2.0 * 2 * kPiece / rate));
  }
}

}  // namespace
}  // namespace deltaswarm
