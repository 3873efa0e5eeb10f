// deltaswarm status --dest DIR: which version a node holds, and whose chunks it seeds.
#include "command.h"
#include "deltaswarm/roles.h"
#include "progress_reporter.h"

namespace deltaswarm::cli {

void AddStatusCommand(CLI::App& app, Registry& registry) {
  auto dest = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("status", "Show which version a node's store holds and which it keeps");
  sub->add_option("--dest", *dest, "The node's store (as given to pull --dest)")->required();
  AddOutputFlags(sub, registry);
  sub->callback([dest, &registry] {
    registry.chosen = "status";
    registry.body = [dest](ProgressFn) -> Result<CommandOutput> {
      DS_ASSIGN_OR_RETURN(StoreStatus s, ReadStoreStatus(*dest));
      CommandOutput out;
      out.result = {{"dest", *dest},         {"current", s.current}, {"model", s.model},
                    {"current_bytes", s.current_bytes}, {"versions", s.versions}, {"seeding", s.seeding}};
      auto list = [](const std::vector<uint64_t>& ids) {
        std::string text;
        for (uint64_t v : ids) text += (text.empty() ? "" : ", ") + std::to_string(v);
        return text;
      };
      out.text = s.current ? *dest + ": " + s.model + " version " + std::to_string(s.current) + " (" +
                                 HumanBytes(s.current_bytes) + "); keeps " + list(s.versions) +
                                 (s.seeding.empty() ? "" : "; chunks kept for seeding: " + list(s.seeding)) + "\n"
                           : *dest + ": no version yet\n";
      return out;
    };
  });
}

}  // namespace deltaswarm::cli
