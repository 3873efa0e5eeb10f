// deltaswarm: the command-line entry. Parses, runs one subcommand, prints its
// summary and maps the status to the documented exit code.
#include <chrono>
#include <iostream>

#include "command.h"
#include "progress_reporter.h"

using namespace deltaswarm;
using namespace deltaswarm::cli;

int main(int argc, char** argv) {
  CLI::App app{"deltaswarm: compact, verified deltas of model checkpoints, shared over a swarm.\n"
               "Exit codes: 0 ok, 1 internal error, 2 invalid argument, 3 not found, 4 output exists,\n"
               "5 corrupt input, 6 wrong base / mismatch, 7 unsupported version, 8 I/O error,\n"
               "9 no space left, 10 cancelled."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "deltaswarm 0.1.0");
  Registry registry;
  AddDiffCommand(app, registry);
  AddApplyCommand(app, registry);
  AddInspectCommand(app, registry);
  AddVerifyCommand(app, registry);
  AddSynthCommand(app, registry);
  AddPublishCommand(app, registry);
  AddPullCommand(app, registry);
  AddGcCommand(app, registry);
  AddSeedCommand(app, registry);
  AddStatusCommand(app, registry);
  AddKeygenCommand(app, registry);
  AddNodeCommand(app, registry);
  AddGatewayCommand(app, registry);
  AddCaCommand(app, registry);
  AddSimulateCommand(app, registry);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : ExitCodeFor(Code::kInvalidArgument);
  }

  auto start = std::chrono::steady_clock::now();
  ProgressReporter reporter(registry.chosen, registry.output);
  // The library reports errors as Status; an exception here is a bug or an
  // allocation failure, reported as an internal error (exit code 1).
  Result<CommandOutput> out = Status(Code::kCancelled, "not run");
  try {
    registry.swarm_progress = reporter.AsSwarmCallback();
    out = registry.body(reporter.AsCallback());
  } catch (const std::exception& e) {
    reporter.Finish();
    std::cerr << "deltaswarm " << registry.chosen << ": internal error: " << e.what() << "\n";
    return 1;
  }
  reporter.Finish();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  const Status& st = out.status();
  int rc = ExitCodeFor(st.code());
  if (registry.output.json) {
    nlohmann::json summary = {{"event", "summary"},
                              {"command", registry.chosen},
                              {"ok", st.ok()},
                              {"exit_code", rc},
                              {"error", st.ok() ? nlohmann::json(nullptr) : nlohmann::json(st.message())},
                              {"error_code", CodeName(st.code())},
                              {"elapsed_s", elapsed},
                              {"result", out.ok() ? out->result : nlohmann::json::object()}};
    std::cout << summary.dump() << "\n";
  } else if (out.ok() && !registry.output.quiet) {
    std::cout << out->text;
  }
  if (!st.ok()) std::cerr << "deltaswarm " << registry.chosen << ": error: " << st.message() << "\n";
  return rc;
}
