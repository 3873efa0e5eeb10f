// deltaswarm node --config node.yaml [overrides]: follow a model's versions
// through the swarm until SIGTERM. Every config key has a flag; flags win.
#include <fstream>
#include <iostream>

#include "command.h"
#include "config_flags.h"
#include "deltaswarm/roles.h"
#include "sd_notify.h"
#include "stop_signal.h"
#include "swarm_thread_flags.h"
#include "tls_flags.h"

namespace deltaswarm::cli {

namespace {

struct NodeArgs {
  explicit NodeArgs(CLI::App* sub) : config(sub, "configs/node.yaml") {}
  ConfigFlags<NodeOptions> config;
  std::string ready_file;
};

nlohmann::json EventJson(const NodeEvent& e) {
  nlohmann::json j = {{"event", "node"}, {"type", e.type}, {"version", e.version}, {"message", e.message}};
  if (!e.endpoint.empty()) j["endpoint"] = e.endpoint;
  if (e.type == "pulled")
    j["pull"] = {{"from_version", e.pull.from_version}, {"to_version", e.pull.to_version},
                 {"steps", e.pull.steps},               {"swarm_bytes", e.pull.swarm_bytes},
                 {"downloaded_bytes", e.pull.downloaded_bytes}, {"note", e.pull.note},
                 {"held_check", e.pull.held_check}, {"held_check_bytes", e.pull.held_check_bytes},
                 {"artifact_hashed_bytes", e.pull.artifact_hashed_bytes},
                 {"pull_s", e.pull_s}, {"apply_s", e.apply_s}};
  return j;
}

}  // namespace

void AddNodeCommand(CLI::App& app, Registry& registry) {
  CLI::App* sub = app.add_subcommand(
      "node", "Follow MODEL's versions: poll the bucket, pull each new version over the swarm, keep seeding, "
              "run on_update; until SIGTERM");
  auto a = std::make_shared<NodeArgs>(sub);
  ConfigFlags<NodeOptions>& c = a->config;
  c.Bind("--bucket", &NodeOptions::bucket, "bucket", "Bucket URL or path");
  c.Bind("--model", &NodeOptions::model, "model", "Model name");
  c.Bind("--dest", &NodeOptions::dest, "dest", "Local store: DIR/current -> DIR/versions/<id>/");
  c.Bind("--trust", &NodeOptions::trust, "trust", "Trusted public key (PEM); repeatable");
  c.Bind("--listen", &NodeOptions::listen, "listen", "Swarm listen address ip:port");
  c.Bind("--peer", &NodeOptions::peers, "peers", "Swarm peer ip:port; repeatable");
  c.Bind("--tracker", &NodeOptions::trackers, "trackers", "Tracker announce URL; repeatable");
  c.Bind("--poll-interval", &NodeOptions::poll_interval_s, "poll_interval_s", "Seconds between polls");
  c.Bind("--fallback-after", &NodeOptions::fallback_after_s, "fallback_after_s",
         "Seconds without swarm progress before an HTTP bucket is a web seed (<0: never)");
  c.Bind("--swarm-timeout", &NodeOptions::swarm_timeout_s, "swarm_timeout_s",
         "Seconds one version's swarm download may take before it is retried");
  c.Bind("--keep", &NodeOptions::keep, "keep", "Versions kept in DIR");
  c.Bind("--seed-versions", &NodeOptions::seed_versions, "seed_versions",
         "Newest versions whose chunks are kept and seeded");
  c.Bind("--upload-rate", &NodeOptions::upload_rate, "upload_rate", "Swarm upload limit, bytes/s (0: none)");
  c.Bind("--download-rate", &NodeOptions::download_rate, "download_rate", "Swarm download limit, bytes/s (0: none)");
  BindSwarmThreadFlags(c);
  c.Bind("--on-update", &NodeOptions::on_update, "on_update",
         "Shell command after each switch (env DELTASWARM_VERSION, DELTASWARM_CHECKPOINT), in its own process group");
  c.Bind("--hook-timeout", &NodeOptions::hook_timeout_s, "hook_timeout_s",
         "Seconds --on-update may run; then its process group gets SIGTERM, SIGKILL at most 1 s later, "
         "and a warning (0: no limit)");
  c.Bind("-j,--threads", &NodeOptions::threads, "threads", "Worker threads (0: all cores)");
  c.BindSwitch("--scrub", &NodeOptions::scrub, "scrub",
               "On start, read every held version in full instead of trusting its stamp; a damaged one is rebuilt");
  c.Bind("--metrics-listen", &NodeOptions::metrics_listen, "metrics_listen",
         "Serve Prometheus metrics at http://IP:PORT/metrics (plain HTTP; empty: off)");
  BindTlsFlags(c, &NodeOptions::tls);
  sub->add_option("--ready-file", a->ready_file, "Write the ip:port peers can reach this node at, once serving");
  AddOutputFlags(sub, registry);
  sub->callback([a, &registry] {
    registry.chosen = "node";
    registry.body = [a, &registry](ProgressFn progress) -> Result<CommandOutput> {
      DS_ASSIGN_OR_RETURN(NodeOptions options, a->config.Resolve());
      WarnIfOpenSwarm(options.tls, "node");
      const StopSignal& stop = InstallStopSignals();
      // systemd (Type=notify) hears of a stop as it begins; the node may take a second to end.
      StopSignal::Registration stopping = stop.OnStop([] { NotifySystemd("STOPPING=1"); });
      const OutputOptions out_mode = registry.output;
      auto on_event = [&](const NodeEvent& e) {
        if (e.type == "ready" && !a->ready_file.empty()) std::ofstream(a->ready_file) << e.endpoint << "\n";
        if (e.type == "ready") NotifySystemd("READY=1\nSTATUS=" + e.message);
        if (out_mode.json) std::cout << EventJson(e).dump() << std::endl;
        else if (!out_mode.quiet) std::cout << "node: " << e.message << std::endl;
        // Problems reach stderr even when quiet.
        bool problem = e.type == "pull_failed" || e.type == "on_update_failed" || e.type == "warning";
        if (problem && (out_mode.quiet || out_mode.json)) std::cerr << "deltaswarm node: " << e.message << std::endl;
      };
      options.on_swarm_progress = registry.swarm_progress;
      DS_ASSIGN_OR_RETURN(NodeReport r, RunNode(options, stop, on_event, progress));
      CommandOutput out;
      out.result = {{"model", options.model},      {"endpoint", r.endpoint},
                    {"current", r.current},        {"pulled", r.pulled},
                    {"swarm_bytes", r.swarm_bytes}, {"downloaded_bytes", r.downloaded_bytes}};
      out.text = "node stopped at version " + std::to_string(r.current) + "\n";
      return out;
    };
  });
}

}  // namespace deltaswarm::cli
