// deltaswarm keygen -o KEY [--force]
#include "command.h"
#include "deltaswarm/manifest.h"

namespace deltaswarm::cli {

void AddKeygenCommand(CLI::App& app, Registry& registry) {
  struct KeygenArgs {
    std::string out;
    bool force = false;
  };
  auto a = std::make_shared<KeygenArgs>();
  CLI::App* sub = app.add_subcommand(
      "keygen", "Make an Ed25519 key pair for signing manifests: KEY (private, mode 0600) and KEY.pub");
  sub->add_option("-o,--output", a->out, "Private key path; the public key goes to KEY.pub")->required();
  sub->add_flag("--force", a->force, "Replace an existing key pair");
  AddOutputFlags(sub, registry);
  sub->callback([a, &registry] {
    registry.chosen = "keygen";
    registry.body = [a](ProgressFn) -> Result<CommandOutput> {
      DS_RETURN_IF_ERROR(GenerateKeyPair(a->out, a->force));
      // Read back: proves the file is a loadable key and gives its id.
      DS_ASSIGN_OR_RETURN(SigningKey key, SigningKey::Load(a->out));
      CommandOutput out;
      out.result = {{"key", a->out}, {"public_key", a->out + ".pub"}, {"key_id", key.key_id()}};
      out.text = a->out + ": new Ed25519 key (public key " + a->out + ".pub)\nkey id " + key.key_id() + "\n";
      return out;
    };
  });
}

}  // namespace deltaswarm::cli
