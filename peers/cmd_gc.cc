// deltaswarm gc --bucket URL --model NAME --keep N --trust KEY.pub
#include "command.h"
#include "deltaswarm/roles.h"

namespace deltaswarm::cli {

void AddGcCommand(CLI::App& app, Registry& registry) {
  struct GcArgs {
    std::string bucket, model;
    uint64_t keep = 10;
    std::vector<std::string> trust;
  };
  auto a = std::make_shared<GcArgs>();
  CLI::App* sub = app.add_subcommand("gc", "Remove from a bucket the versions no retained version needs");
  sub->add_option("--bucket", a->bucket, "Bucket URL or path")->required();
  sub->add_option("--model", a->model, "Model name")->required();
  sub->add_option("--keep", a->keep, "Newest versions that must stay pullable (default 10)");
  sub->add_option("--trust", a->trust, "Trusted public key (PEM) for the manifests read; repeatable")->required();
  AddOutputFlags(sub, registry);
  sub->callback([a, &registry] {
    registry.chosen = "gc";
    registry.body = [a](ProgressFn) -> Result<CommandOutput> {
      DS_ASSIGN_OR_RETURN(GcReport r, CollectGarbage(a->bucket, a->model, a->keep, a->trust));
      CommandOutput out;
      out.result = {{"removed", r.removed}, {"oldest_kept", r.oldest_kept}};
      out.text = a->model + ": removed " + std::to_string(r.removed.size()) + " version(s); oldest kept " +
                 std::to_string(r.oldest_kept) + "\n";
      return out;
    };
  });
}

}  // namespace deltaswarm::cli
