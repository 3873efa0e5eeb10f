// deltaswarm simulate --nodes N --rate-mbytes U [--size-mb F | --size-gb F] ...:
// the share seed's real policy against a fluid model of a swarm (swarm_sim.h).
#include <chrono>
#include <cmath>
#include <cstdio>

#include "command.h"
#include "deltaswarm/swarm_sim.h"

namespace deltaswarm::cli {

namespace {

constexpr double kMB = 1e6;
constexpr double kMiB = 1024.0 * 1024.0;
// Wall-clock seconds between two progress lines of a long run.
constexpr double kProgressEvery_s = 5;

struct SimulateArgs {
  SimConfig config;
  double size_mb = 256;
  double size_gb = 0;
  CLI::Option* size_gb_option = nullptr;
  double piece_mb = 0;
  double rate_mbytes = 0;
  double seed_rate_mbytes = 0;
  double download_rate_mbytes = 0;
  double latency_ms = 1;
  double step_ms = 0;
  double kill_at_percent = -1;
  double decide_ms = 0;
};

bool Positive(double x) { return x > 0 && std::isfinite(x); }
bool NonNegative(double x) { return x >= 0 && std::isfinite(x); }

// The flags, by their names, into a config; RunSwarmSim checks the rest.
Result<SimConfig> ConfigFrom(const SimulateArgs& a) {
  SimConfig c = a.config;
  const double size = a.size_gb_option->count() > 0 ? a.size_gb * 1e9 : a.size_mb * kMB;
  if (!Positive(size) || size > 1e15) return InvalidArgument("--size-mb/--size-gb must be > 0 (and below 1 PB)");
  c.payload_bytes = static_cast<uint64_t>(std::llround(size));
  if (!NonNegative(a.piece_mb)) return InvalidArgument("--piece-mb must be >= 0 (0: as the real torrents)");
  c.piece_bytes = static_cast<uint64_t>(std::llround(a.piece_mb * kMiB));
  if (a.piece_mb > 0 && c.piece_bytes < 16 * 1024) return InvalidArgument("--piece-mb must be at least 1/64 (16 KiB)");
  if (!Positive(a.rate_mbytes)) return InvalidArgument("--rate-mbytes must be > 0");
  c.upload_rate = a.rate_mbytes * kMB;
  if (!NonNegative(a.seed_rate_mbytes)) return InvalidArgument("--seed-rate-mbytes must be >= 0 (0: --rate-mbytes)");
  c.seed_upload_rate = a.seed_rate_mbytes * kMB;
  if (!NonNegative(a.download_rate_mbytes)) return InvalidArgument("--download-rate-mbytes must be >= 0 (0: unlimited)");
  c.download_rate = a.download_rate_mbytes * kMB;
  if (c.nodes < 1) return InvalidArgument("--nodes must be at least 1");
  if (c.rack_size < 0) return InvalidArgument("--rack-size must be >= 0 (0: one rack)");
  if (!(c.oversubscription >= 1) || !std::isfinite(c.oversubscription))
    return InvalidArgument("--oversubscription must be >= 1 (1: none)");
  if (c.neighbours < 1) return InvalidArgument("--neighbours must be at least 1");
  if (c.slots < 1) return InvalidArgument("--slots must be at least 1");
  if (!NonNegative(a.latency_ms) || a.latency_ms > 10000) return InvalidArgument("--latency-ms must be in [0, 10000]");
  c.latency_s = a.latency_ms / 1000;
  if (!(c.latency_jitter >= 0 && c.latency_jitter <= 1)) return InvalidArgument("--latency-jitter must be in [0, 1]");
  if (!NonNegative(c.startup_s)) return InvalidArgument("--startup-s must be >= 0");
  if (!NonNegative(a.step_ms) || a.step_ms > 10000) return InvalidArgument("--step-ms must be in [0, 10000] (0: chosen)");
  c.step_s = a.step_ms / 1000;
  if (a.kill_at_percent != -1) {
    if (!(a.kill_at_percent >= 0 && a.kill_at_percent <= 100)) return InvalidArgument("--kill-at must be a percentage in [0, 100]");
    if (c.nodes < 2) return InvalidArgument("--kill-at needs at least 2 nodes");
    c.kill_at = a.kill_at_percent / 100;
  }
  if (!NonNegative(a.decide_ms)) return InvalidArgument("--decide-ms must be >= 0");
  c.decide_interval_s = a.decide_ms / 1000;
  if (!Positive(c.time_limit_bounds)) return InvalidArgument("--time-limit must be > 0");
  if (!Positive(c.rechoke_s)) return InvalidArgument("--rechoke-s must be > 0");
  if (!NonNegative(c.rate_sample_s)) return InvalidArgument("--rate-sample-s must be >= 0");
  return c;
}

nlohmann::json ResultJson(const SimConfig& c, const SimReport& r) {
  nlohmann::json done = nlohmann::json::array();
  for (double t : r.done_s) done.push_back(t >= 0 ? nlohmann::json(t) : nlohmann::json(nullptr));
  return {{"nodes", r.nodes},
          {"size_bytes", r.payload_bytes},
          {"piece_bytes", r.piece_bytes},
          {"pieces", r.pieces},
          {"racks", r.racks},
          {"rate_bytes_per_s", c.upload_rate},
          {"seed_rate_bytes_per_s", c.seed_upload_rate > 0 ? c.seed_upload_rate : c.upload_rate},
          {"download_rate_bytes_per_s", c.download_rate},
          {"rack_size", c.rack_size},
          {"oversubscription", c.oversubscription},
          {"neighbours", c.neighbours},
          {"slots", c.slots},
          {"latency_s", c.latency_s},
          {"latency_jitter", c.latency_jitter},
          {"startup_s", c.startup_s},
          {"rng_seed", c.rng_seed},
          {"step_s", r.step_s},
          {"decide_interval_s", c.decide_interval_s},
          {"steps", r.steps},
          {"time_s", r.time_s},
          {"bound_s", r.bound_s},
          {"ratio", r.ratio},
          {"seed_bytes", r.seed_bytes},
          {"seed_upload_x", r.seed_upload_x},
          {"seed_pieces", r.seed_pieces},
          {"peer_pieces", r.peer_pieces},
          {"rehanded", r.rehanded},
          {"starving_offers", r.starving_offers},
          {"max_in_flight_target", r.max_in_flight_target},
          {"killed_node", r.killed_node >= 0 ? nlohmann::json(r.killed_node) : nlohmann::json(nullptr)},
          {"killed_s", r.killed_node >= 0 ? nlohmann::json(r.killed_s) : nlohmann::json(nullptr)},
          {"done_s", done},
          {"rate_sample_s", r.rate_sample_s},
          {"seed_rate_bytes_per_s_series", r.seed_rate}};
}

std::string Line(const SimulateArgs& a, const SimConfig& c, const SimReport& r) {
  char line[512];
  std::snprintf(line, sizeof line,
                "nodes=%d size_mb=%.1f time_s=%.2f bound_s=%.2f ratio=%.3f seed_upload_x=%.3f client_server_s=%.1f",
                r.nodes, static_cast<double>(r.payload_bytes) / kMB, r.time_s, r.bound_s, r.ratio, r.seed_upload_x,
                r.nodes * static_cast<double>(r.payload_bytes) / (c.seed_upload_rate > 0 ? c.seed_upload_rate : c.upload_rate));
  std::string text = line;
  if (r.killed_node >= 0) {
    std::snprintf(line, sizeof line, " killed_at=%.0f%%", a.kill_at_percent);
    text += line;
  }
  std::snprintf(line, sizeof line, " piece_kib=%llu racks=%d step_ms=%.3g\n",
                static_cast<unsigned long long>(r.piece_bytes / 1024), r.racks, 1000 * r.step_s);
  return text + line;
}

}  // namespace

void AddSimulateCommand(CLI::App& app, Registry& registry) {
  auto a = std::make_shared<SimulateArgs>();
  SimConfig& c = a->config;
  CLI::App* sub = app.add_subcommand(
      "simulate",
      "Simulate one seed and N nodes exchanging a payload: the share seed's real policy (its scheduler) "
      "against a fluid model of the nodes' links, racks and piece exchange. Prints "
      "nodes=N size_mb=F time_s=T bound_s=B ratio=T/B seed_upload_x=S client_server_s=C, as "
      "scripts/bench_swarm.py does (MB = 10^6 bytes)");
  sub->add_option("--nodes", c.nodes, "Number of nodes (the seed not counted)")->required();
  CLI::Option* size_mb = sub->add_option("--size-mb", a->size_mb, "Payload in MB (default 256)");
  a->size_gb_option = sub->add_option("--size-gb", a->size_gb, "Payload in GB, instead of --size-mb");
  a->size_gb_option->excludes(size_mb);
  sub->add_option("--piece-mb", a->piece_mb,
                  "Piece size in MiB (default: the real torrents' rule: payload/1024 rounded down to a power of "
                  "two below 1 GiB, 1 MiB up to 64 GiB). Larger pieces run faster, but a piece is traded only "
                  "once all of it arrived, so the pipeline through the swarm gets longer");
  sub->add_option("--rate-mbytes", a->rate_mbytes, "Upload limit of every node in MB/s (and of the seed, unless "
                  "--seed-rate-mbytes)")->required();
  sub->add_option("--seed-rate-mbytes", a->seed_rate_mbytes, "The seed's upload limit in MB/s (default: --rate-mbytes)");
  sub->add_option("--download-rate-mbytes", a->download_rate_mbytes,
                  "Download limit of every node in MB/s (default 0: unlimited)");
  sub->add_option("--rack-size", c.rack_size,
                  "Nodes per rack (default 32; 0: all in one rack); the seed is in rack 0 and traffic within a "
                  "rack is limited by the hosts only");
  sub->add_option("--oversubscription", c.oversubscription,
                  "Each rack's uplink to the spine carries rack size x rate / this, each way (default 4; 1: none)");
  sub->add_option("--neighbours", c.neighbours, "Peers each node exchanges with, drawn at random (default 40)");
  sub->add_option("--slots", c.slots, "Upload slots of a node: neighbours it sends to at once (default 8, libtorrent's)");
  sub->add_option("--latency-ms", a->latency_ms,
                  "One-way latency between any two hosts in ms (default 1; events happen at the nearest step)");
  sub->add_option("--latency-jitter", c.latency_jitter,
                  "A request's latency is uniform in latency x [1 - this, 1 + this] (default 0.5), so that "
                  "transfers do not stay in lockstep");
  sub->add_option("--startup-s", c.startup_s, "Each node starts at a random time in [0, this] s (default 0)");
  sub->add_option("--rng-seed", c.rng_seed, "Random seed; a run is the same for the same seed and flags (default 1)");
  sub->add_option("--kill-at", a->kill_at_percent,
                  "Node 0 leaves once it holds this % of the pieces (as bench_swarm.py --kill-at); T is that of "
                  "the others");
  sub->add_option("--step-ms", a->step_ms,
                  "Time step in ms (default: a fifth of a piece's time over one upload slot, at most half the "
                  "latency, within [0.05, 20] ms); smaller is more exact and slower");
  sub->add_option("--time-limit", c.time_limit_bounds,
                  "Give up (exit code 10) after startup + this x the bound, simulated (default 50)");
  sub->add_option("--rechoke-s", c.rechoke_s,
                  "A connection is reconsidered at its first piece boundary after this many s (default 15, "
                  "libtorrent's unchoke interval)");
  sub->add_option("--decide-ms", a->decide_ms,
                  "Run the seed's scheduler (Decide) at most every this many ms besides right after a node "
                  "joins, requests or leaves and after each piece the seed sends (default 0: every step). "
                  "Faster with thousands of nodes; its stall and starvation rules then act to this interval");
  sub->add_option("--rate-sample-s", c.rate_sample_s,
                  "Interval of the seed's upload-rate series in the --json result (default: bound / 100)");
  AddOutputFlags(sub, registry);
  sub->footer(
      "The bound is B = max(F/U_seed, F/D if D > 0, N*F/(U_seed + N*U)). --json's progress events count the "
      "pieces delivered to the nodes in bytes (of N x F), and its summary adds the seed's upload rate over time "
      "and every node's completion time. A progress line goes to stderr every 5 s of a long run (not with "
      "--quiet).");
  sub->callback([a, &registry] {
    registry.chosen = "simulate";
    registry.body = [a, &registry](ProgressFn report_progress) -> Result<CommandOutput> {
      DS_ASSIGN_OR_RETURN(SimConfig config, ConfigFrom(*a));
      using Clock = std::chrono::steady_clock;
      const Clock::time_point start = Clock::now();
      Clock::time_point last = start;
      const bool quiet = registry.output.quiet, json = registry.output.json;
      const double total = static_cast<double>(config.nodes) * static_cast<double>(config.payload_bytes);
      auto progress = [&](const SimProgress& p) {
        // JSON progress events through the reporter, which throttles them (in
        // text mode it would draw a status line over the lines below).
        if (json) report_progress("simulate", static_cast<uint64_t>(p.delivered * total), static_cast<uint64_t>(total));
        const Clock::time_point now = Clock::now();
        if (quiet || std::chrono::duration<double>(now - last).count() < kProgressEvery_s) return;
        last = now;
        std::fprintf(stderr, "deltaswarm simulate: %.2f s simulated, %d of %d nodes done, %.1f %% delivered (%.0f s)\n",
                     p.sim_s, p.nodes_done, p.nodes, 100 * p.delivered,
                     std::chrono::duration<double>(now - start).count());
      };
      DS_ASSIGN_OR_RETURN(SimReport report, RunSwarmSim(config, progress));
      CommandOutput out;
      out.result = ResultJson(config, report);
      out.text = Line(*a, config, report);
      return out;
    };
  });
}

}  // namespace deltaswarm::cli
