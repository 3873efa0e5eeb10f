// What every subcommand shares: output mode, a progress reporter and the
// summary it returns. Each cmd_<name>.cc registers one subcommand.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "deltaswarm/progress.h"
#include "deltaswarm/status.h"

namespace deltaswarm::cli {

struct OutputOptions {
  bool json = false;   // JSON lines on stdout: progress events, then one summary
  bool quiet = false;  // no progress, no human summary
};

// What a command hands back: human-readable lines and the summary's "result".
struct CommandOutput {
  std::string text;       // printed to stdout unless --json or --quiet
  nlohmann::json result = nlohmann::json::object();
};

// A registered subcommand's body; runs after parsing.
using CommandBody = std::function<Result<CommandOutput>(ProgressFn progress)>;

struct Registry {
  OutputOptions output;
  std::string chosen;  // name of the subcommand that was parsed
  CommandBody body;
  // Set before body runs: the reporter's sink for swarm downloads.
  SwarmProgressFn swarm_progress;
};

// Each adds its subcommand and options to app; the callback sets registry.body.
void AddDiffCommand(CLI::App& app, Registry& registry);
void AddApplyCommand(CLI::App& app, Registry& registry);
void AddInspectCommand(CLI::App& app, Registry& registry);
void AddVerifyCommand(CLI::App& app, Registry& registry);
void AddSynthCommand(CLI::App& app, Registry& registry);
void AddPublishCommand(CLI::App& app, Registry& registry);
void AddPullCommand(CLI::App& app, Registry& registry);
void AddGcCommand(CLI::App& app, Registry& registry);
void AddSeedCommand(CLI::App& app, Registry& registry);
void AddStatusCommand(CLI::App& app, Registry& registry);
void AddKeygenCommand(CLI::App& app, Registry& registry);
void AddNodeCommand(CLI::App& app, Registry& registry);
void AddGatewayCommand(CLI::App& app, Registry& registry);
void AddCaCommand(CLI::App& app, Registry& registry);
void AddSimulateCommand(CLI::App& app, Registry& registry);

// Adds --json and --quiet to a subcommand.
void AddOutputFlags(CLI::App* sub, Registry& registry);
// Parses sizes like "250M", "1.5G", "4MiB", "1000" (decimal K/M/G/T; Ki/Mi/Gi/Ti binary).
Result<uint64_t> ParseCount(const std::string& text);

}  // namespace deltaswarm::cli
