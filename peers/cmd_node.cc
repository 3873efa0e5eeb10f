// deltaswarm node --config node.yaml [overrides]: follow a model's versions
// through the swarm until SIGTERM. Every config key has a flag; flags win.
#include <fstream>
#include <iostream>

#include "command.h"
#include "deltaswarm/config.h"
#include "deltaswarm/roles.h"
#include "stop_signal.h"

namespace deltaswarm::cli {

namespace {

// A flag that overrides one config key.
struct Override {
  CLI::Option* option;
  std::string key;
  std::function<void(const NodeOptions& from, NodeOptions& to)> apply;
};

struct NodeArgs {
  std::string config;
  std::string ready_file;
  NodeOptions flags;  // values given on the command line
  std::vector<Override> overrides;

  template <typename V>
  void Bind(CLI::App* sub, const std::string& names, V NodeOptions::*field, const std::string& key,
            const std::string& help) {
    CLI::Option* opt = sub->add_option(names, flags.*field, help + " (config: " + key + ")");
    overrides.push_back({opt, key, [field](const NodeOptions& from, NodeOptions& to) { to.*field = from.*field; }});
  }

  Result<NodeOptions> Resolve() const {
    std::set<std::string> given;
    for (const auto& o : overrides)
      if (o.option->count() > 0) given.insert(o.key);
    NodeOptions options;
    if (!config.empty()) {
      DS_ASSIGN_OR_RETURN(options, LoadNodeConfig(config, given));
    }
    for (const auto& o : overrides)
      if (o.option->count() > 0) o.apply(flags, options);
    return options;
  }
};

nlohmann::json EventJson(const NodeEvent& e) {
  nlohmann::json j = {{"event", "node"}, {"type", e.type}, {"version", e.version}, {"message", e.message}};
  if (!e.endpoint.empty()) j["endpoint"] = e.endpoint;
  if (e.type == "pulled")
    j["pull"] = {{"from_version", e.pull.from_version}, {"to_version", e.pull.to_version},
                 {"steps", e.pull.steps},               {"swarm_bytes", e.pull.swarm_bytes},
                 {"downloaded_bytes", e.pull.downloaded_bytes}, {"note", e.pull.note}};
  return j;
}

}  // namespace

void AddNodeCommand(CLI::App& app, Registry& registry) {
  auto a = std::make_shared<NodeArgs>();
  CLI::App* sub = app.add_subcommand(
      "node", "Follow MODEL's versions: poll the bucket, pull each new version over the swarm, keep seeding, "
              "run on_update; until SIGTERM");
  sub->add_option("--config", a->config, "YAML config file (see configs/node.yaml); flags below override it");
  a->Bind(sub, "--bucket", &NodeOptions::bucket, "bucket", "Bucket URL or path");
  a->Bind(sub, "--model", &NodeOptions::model, "model", "Model name");
  a->Bind(sub, "--dest", &NodeOptions::dest, "dest", "Local store: DIR/current -> DIR/versions/<id>/");
  a->Bind(sub, "--trust", &NodeOptions::trust, "trust", "Trusted public key (PEM); repeatable");
  a->Bind(sub, "--listen", &NodeOptions::listen, "listen", "Swarm listen address ip:port");
  a->Bind(sub, "--peer", &NodeOptions::peers, "peers", "Swarm peer ip:port; repeatable");
  a->Bind(sub, "--tracker", &NodeOptions::trackers, "trackers", "Tracker announce URL; repeatable");
  a->Bind(sub, "--poll-interval", &NodeOptions::poll_interval_s, "poll_interval_s", "Seconds between polls");
  a->Bind(sub, "--fallback-after", &NodeOptions::fallback_after_s, "fallback_after_s",
          "Seconds without swarm progress before an HTTP bucket is a web seed (<0: never)");
  a->Bind(sub, "--keep", &NodeOptions::keep, "keep", "Versions kept in DIR");
  a->Bind(sub, "--seed-versions", &NodeOptions::seed_versions, "seed_versions",
          "Newest versions whose chunks are kept and seeded");
  a->Bind(sub, "--upload-rate", &NodeOptions::upload_rate, "upload_rate", "Swarm upload limit, bytes/s (0: none)");
  a->Bind(sub, "--download-rate", &NodeOptions::download_rate, "download_rate",
          "Swarm download limit, bytes/s (0: none)");
  a->Bind(sub, "--on-update", &NodeOptions::on_update, "on_update",
          "Shell command after each switch (env DELTASWARM_VERSION, DELTASWARM_CHECKPOINT)");
  a->Bind(sub, "-j,--threads", &NodeOptions::threads, "threads", "Worker threads (0: all cores)");
  sub->add_option("--ready-file", a->ready_file, "Write the ip:port peers can reach this node at, once serving");
  sub->footer("Config keys (type, default, meaning):\n" + DescribeNodeConfig());
  AddOutputFlags(sub, registry);
  sub->callback([a, &registry] {
    registry.chosen = "node";
    registry.body = [a, &registry](ProgressFn progress) -> Result<CommandOutput> {
      DS_ASSIGN_OR_RETURN(NodeOptions options, a->Resolve());
      const std::atomic<bool>& stop = InstallStopSignals();
      const OutputOptions out_mode = registry.output;
      auto on_event = [&](const NodeEvent& e) {
        if (e.type == "ready" && !a->ready_file.empty()) std::ofstream(a->ready_file) << e.endpoint << "\n";
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
