// The swarm simulator: its pieces (fair shares, rarest first) and whole runs
// with the real ShareScheduler, on small swarms with known answers.
#include "deltaswarm/swarm_sim.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>

#include "deltaswarm/swarm.h"
#include "sim/fair_share.h"
#include "sim/piece_sets.h"

namespace deltaswarm {
namespace {

constexpr double kMB = 1e6;

// One rack, no oversubscription: the loopback benchmark's setting.
SimConfig Loopback(int nodes, double size_mb, double rate_mbytes) {
  SimConfig c;
  c.nodes = nodes;
  c.payload_bytes = static_cast<uint64_t>(size_mb * kMB);
  c.upload_rate = rate_mbytes * kMB;
  c.rack_size = 0;
  c.oversubscription = 1;
  return c;
}

SimReport Run(const SimConfig& c) {
  Result<SimReport> r = RunSwarmSim(c);
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  return *r;
}

TEST_CASE("TorrentPieceBytes is the real torrents' PieceSizeFor") {
  for (uint64_t payload : {uint64_t{0}, uint64_t{1}, uint64_t{16'000'000}, uint64_t{64'000'000},
                           uint64_t{256'000'000}, (uint64_t{1} << 30) - 1, uint64_t{1} << 30,
                           uint64_t{20'000'000'000}, uint64_t{64} << 30, uint64_t{100} << 30, uint64_t{2} << 40})
    CHECK_MESSAGE(TorrentPieceBytes(payload) == PieceSizeFor(payload), payload);
  CHECK(TorrentPieceBytes(20'000'000'000) == 1 << 20);
}

TEST_CASE("FluidBound: the seed, the download and the swarm's total upload") {
  SimConfig c = Loopback(8, 100, 10);
  CHECK(FluidBound(c) == doctest::Approx(10.0));  // F / U_seed
  c.nodes = 100;
  c.seed_upload_rate = 10 * kMB;
  c.upload_rate = 1 * kMB;
  CHECK(FluidBound(c) == doctest::Approx(100.0 * 100 / (10 + 100)));  // N F / (U_seed + N U)
  c.download_rate = 0.5 * kMB;
  CHECK(FluidBound(c) == doctest::Approx(200.0));  // F / D
}

TEST_CASE("FairShare: the fair share, then the slack of links a flow is held back from") {
  // Link 0 (10) carries flows a and b; b also crosses link 1 (2).
  sim::FairShare fair({10, 2});
  std::vector<sim::FlowPath> paths(2);
  paths[0].Add(0);
  paths[1].Add(0);
  paths[1].Add(1);
  for (const auto& p : paths) fair.Join(p);
  std::vector<uint8_t> active = {1, 1};
  std::vector<double> rates(2);
  fair.Allocate(paths, active, rates);
  CHECK(rates[1] == doctest::Approx(2));  // b: link 1's capacity
  CHECK(rates[0] == doctest::Approx(8));  // a: the rest of link 0, not 5
  // b leaves: a takes all of link 0.
  fair.Leave(paths[1]);
  active[1] = 0;
  fair.Allocate(paths, active, rates);
  CHECK(rates[0] == doctest::Approx(10));
}

TEST_CASE("FairShare never puts more on a link than it carries") {
  // Three links of 6, 3 and 1; flows over {0}, {0,1}, {1,2}, {0,2}, {0,1,2}.
  sim::FairShare fair({6, 3, 1});
  std::vector<std::vector<int32_t>> hops = {{0}, {0, 1}, {1, 2}, {0, 2}, {0, 1, 2}};
  std::vector<sim::FlowPath> paths(hops.size());
  for (size_t i = 0; i < hops.size(); ++i) {
    for (int32_t r : hops[i]) paths[i].Add(r);
    fair.Join(paths[i]);
  }
  std::vector<uint8_t> active(hops.size(), 1);
  std::vector<double> rates(hops.size());
  fair.Allocate(paths, active, rates);
  const double capacity[] = {6, 3, 1};
  double used = 0;
  for (int32_t r = 0; r < 3; ++r) {
    double load = 0;
    for (size_t i = 0; i < hops.size(); ++i)
      for (int32_t h : hops[i]) load += h == r ? rates[i] : 0;
    CHECK(load <= capacity[r] * (1 + 1e-9));
    used += load;
  }
  for (double rate : rates) CHECK(rate > 0);
  CHECK(rates[0] >= 6.0 / 4);  // at least its fair share of link 0
}

TEST_CASE("PieceSets: the rarest wanted piece among the sender's newest, none when nothing is wanted") {
  sim::PieceSets sets(4, 200);
  sim::SimRandom random(1);
  uint32_t cursor = 0;
  for (int piece : {10, 20, 30}) sets.Announce(0, piece);
  sets.Announce(1, 10);  // piece 10 is common (2 holders), 20 and 30 rare
  sets.Announce(2, 10);
  sets.Take(3, 20);      // node 3 fetches 20 already
  CHECK(sets.availability(10) == 3);
  CHECK(sets.PickRarest(0, 3, cursor, random) == 30);
  CHECK(sets.WantsNewest(0, 3, 1));
  sets.Take(3, 30);
  CHECK(sets.PickRarest(0, 3, cursor, random) == 10);
  sets.Take(3, 10);
  CHECK(sets.PickRarest(0, 3, cursor, random) == -1);
  CHECK_FALSE(sets.WantsNewest(0, 3, 3));
  sets.Withdraw(1);
  CHECK(sets.availability(10) == 2);
}

TEST_CASE("One node takes F / U_seed from the seed") {
  SimConfig c = Loopback(1, 64, 20);
  c.latency_s = 0.0001;
  const SimReport r = Run(c);
  CHECK(r.bound_s == doctest::Approx(3.2));
  CHECK(r.time_s >= r.bound_s);
  CHECK(r.ratio < 1.03);
  CHECK(r.seed_upload_x == doctest::Approx(1.0));
  CHECK(r.peer_pieces == 0);
  CHECK(r.seed_pieces == static_cast<uint64_t>(r.pieces));
}

TEST_CASE("32 nodes on one rack: the seed sends each piece about once, T near the bound") {
  SimConfig c = Loopback(32, 64, 2);
  c.startup_s = 1.5;
  const SimReport r = Run(c);
  CHECK(r.piece_bytes == 32 * 1024);  // as the real torrent of 64 MB
  CHECK(r.seed_upload_x >= 1.0);
  CHECK(r.seed_upload_x <= 1.03);
  CHECK(r.ratio >= 1.0);
  CHECK(r.ratio <= 1.3);
  CHECK(r.done_s.size() == 32);
  for (double t : r.done_s) CHECK(t > 0);
  CHECK(*std::max_element(r.done_s.begin(), r.done_s.end()) == doctest::Approx(r.time_s));
  // Each node completed each piece once, from the seed or from a peer.
  CHECK(r.peer_pieces + r.seed_pieces == static_cast<uint64_t>(32 * r.pieces));
  // The rate series adds up to what the seed sent.
  const double series = std::accumulate(r.seed_rate.begin(), r.seed_rate.end(), 0.0) * r.rate_sample_s;
  CHECK(series == doctest::Approx(static_cast<double>(r.seed_bytes)).epsilon(1e-6));
}

TEST_CASE("A node killed at 30 % does not stall the others") {
  SimConfig c = Loopback(16, 64, 4);
  c.kill_at = 0.3;
  const SimReport r = Run(c);
  CHECK(r.killed_node == 0);
  CHECK(r.killed_s > 0);
  CHECK(r.done_s[0] == -1);
  for (size_t i = 1; i < r.done_s.size(); ++i) CHECK(r.done_s[i] > r.killed_s);
  CHECK(r.ratio < 1.3);
  CHECK(r.seed_upload_x < 1.1);
}

TEST_CASE("An oversubscribed spine makes a swarm across racks slower than one rack") {
  SimConfig one = Loopback(64, 32, 5);
  const SimReport flat = Run(one);
  SimConfig racks = one;
  racks.rack_size = 16;
  racks.oversubscription = 4;
  const SimReport spine = Run(racks);
  CHECK(spine.racks == 4);
  CHECK(flat.racks == 1);
  CHECK(flat.ratio < 1.2);
  CHECK(spine.time_s > 1.5 * flat.time_s);
  // Without oversubscription the uplinks hold everything the nodes send.
  racks.oversubscription = 1;
  CHECK(Run(racks).time_s < 1.1 * flat.time_s);
}

TEST_CASE("The download limit bounds a node") {
  SimConfig c = Loopback(32, 32, 5);
  c.download_rate = 2 * kMB;
  const SimReport r = Run(c);
  CHECK(r.bound_s == doctest::Approx(16.0));
  CHECK(r.time_s >= 16.0);
  CHECK(r.ratio < 1.15);
}

TEST_CASE("A run is the same for the same RNG seed, and another seed gives another run") {
  SimConfig c = Loopback(24, 16, 2);
  c.startup_s = 1;
  const SimReport a = Run(c), b = Run(c);
  CHECK(a.time_s == b.time_s);
  CHECK(a.seed_bytes == b.seed_bytes);
  CHECK(a.done_s == b.done_s);
  CHECK(a.steps == b.steps);
  c.rng_seed = 2;
  CHECK(Run(c).done_s != a.done_s);
}

TEST_CASE("Deciding every 20 ms instead of every step changes little") {
  SimConfig c = Loopback(32, 32, 2);
  const SimReport every_step = Run(c);
  c.decide_interval_s = 0.02;
  const SimReport batched = Run(c);
  CHECK(batched.ratio == doctest::Approx(every_step.ratio).epsilon(0.05));
  CHECK(batched.seed_upload_x < 1.03);
}

TEST_CASE("Bad configs are refused with one line") {
  SimConfig good = Loopback(4, 8, 1);
  auto refused = [](const SimConfig& c) {
    Result<SimReport> r = RunSwarmSim(c);
    return !r.ok() && r.status().code() == Code::kInvalidArgument &&
           r.status().message().find('\n') == std::string::npos;
  };
  CHECK_FALSE(refused(good));
  SimConfig c = good;
  c.nodes = 0;
  CHECK(refused(c));
  c = good;
  c.upload_rate = 0;
  CHECK(refused(c));
  c = good;
  c.oversubscription = 0.5;
  CHECK(refused(c));
  c = good;
  c.kill_at = 1.5;
  CHECK(refused(c));
  c = good;
  c.nodes = 1;
  c.kill_at = 0.5;
  CHECK(refused(c));
  c = good;
  c.piece_bytes = 1000;
  CHECK(refused(c));
  c = good;
  c.latency_jitter = 2;
  CHECK(refused(c));
  c = good;
  c.decide_interval_s = -1;
  CHECK(refused(c));
  c = good;
  c.nodes = 100000;
  c.payload_bytes = 100'000'000'000;
  c.piece_bytes = 16 * 1024;
  CHECK(refused(c));
}

TEST_CASE("A run that cannot finish in time stops with its progress") {
  SimConfig c = Loopback(8, 16, 1);
  c.time_limit_bounds = 0.5;
  Result<SimReport> r = RunSwarmSim(c);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kCancelled);
  CHECK(r.status().message().find("0 of 8 nodes hold every piece") != std::string::npos);
}

TEST_CASE("Progress is reported as the run goes") {
  SimConfig c = Loopback(8, 16, 4);
  int calls = 0;
  double last = -1;
  Result<SimReport> r = RunSwarmSim(c, [&](const SimProgress& p) {
    ++calls;
    CHECK(p.sim_s >= last);
    last = p.sim_s;
    CHECK(p.nodes == 8);
  });
  REQUIRE(r.ok());
  CHECK(calls > 1);
}

}  // namespace
}  // namespace deltaswarm
