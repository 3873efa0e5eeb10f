// The command-line side of a role's config file: `--config FILE` and one flag
// per config key. A flag that is given wins over the file (a list flag such
// as --peer replaces the file's list); a required key is satisfied by its
// flag. Each flag's help names its key and the key's default, and the
// subcommand's help footer lists every key: both come from the schema, so
// defaults are written once. Used by node, gateway, publish and pull.
//
// CLI11 stores parsed values into this object: create it with make_shared
// and keep it alive with the subcommand; it neither copies nor moves.
#pragma once

#include <CLI/CLI.hpp>
#include <deque>
#include <functional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "deltaswarm/config.h"
#include "deltaswarm/status.h"

namespace deltaswarm::cli {

template <typename Options>
class ConfigFlags {
 public:
  // Adds --config to sub and the key list to its help footer; example is
  // the commented example file (e.g. "configs/node.yaml").
  ConfigFlags(CLI::App* sub, const std::string& example) : sub_(sub) {
    sub->add_option("--config", config_,
                    "YAML config file (keys below, example " + example + ", docs/CONFIG.md); flags override it");
    sub->footer("Config keys (type, default, meaning):\n" + DescribeConfig<Options>());
  }
  ConfigFlags(const ConfigFlags&) = delete;
  ConfigFlags& operator=(const ConfigFlags&) = delete;

  // Binds the flag `names` (CLI11 spelling: "-j,--threads", or a positional
  // "checkpoint") to config key `key`, which is stored in field.
  template <typename V>
  CLI::Option* Bind(const std::string& names, V Options::*field, const std::string& key, const std::string& help) {
    return Add(sub_->add_option(names, flags_.*field, Help(help, key)), key,
               [field](const Options& from, Options& to) {
                 to.*field = from.*field;
                 return Status::Ok();
               });
  }

  // The same for a field of a member struct (PublishOptions::diff.threads).
  template <typename S, typename V>
  CLI::Option* Bind(const std::string& names, S Options::*outer, V S::*inner, const std::string& key,
                    const std::string& help) {
    return Add(sub_->add_option(names, (flags_.*outer).*inner, Help(help, key)), key,
               [outer, inner](const Options& from, Options& to) {
                 (to.*outer).*inner = (from.*outer).*inner;
                 return Status::Ok();
               });
  }

  // A flag given as text that parse turns into the key's value (e.g. sizes
  // like "4Mi" for a key in bytes); a parse error fails Resolve.
  template <typename S, typename V>
  CLI::Option* BindParsed(const std::string& names, S Options::*outer, V S::*inner, const std::string& key,
                          const std::string& help,
                          std::type_identity_t<std::function<Result<V>(const std::string&)>> parse) {
    std::string& text = texts_.emplace_back();  // a deque: earlier references stay valid
    CLI::Option* option = sub_->add_option(names, text, Help(help, key));
    return Add(option, key, [outer, inner, parse, &text, option](const Options&, Options& to) -> Status {
      Result<V> value = parse(text);
      if (!value.ok()) return value.status().Prefixed(option->get_name());
      (to.*outer).*inner = *value;
      return Status::Ok();
    });
  }

  // A boolean key as two flags, e.g. "--share,!--no-share": the first sets
  // it true, the one marked '!' false.
  CLI::Option* BindSwitch(const std::string& names, bool Options::*field, const std::string& key,
                          const std::string& help) {
    return Add(sub_->add_flag(names, flags_.*field, Help(help, key)), key,
               [field](const Options& from, Options& to) {
                 to.*field = from.*field;
                 return Status::Ok();
               });
  }

  // The options: Options{}, then the --config file (if given), then the
  // flags given. Errors: the file's (with its line), a required key given
  // nowhere, a flag value out of the key's range.
  // waived: required keys this run does without (publish --refresh-latest
  // needs no checkpoint).
  Result<Options> Resolve(const std::set<std::string>& waived = {}) const {
    DS_RETURN_IF_ERROR(CheckEveryKeyHasAFlag());
    std::set<std::string> given = waived;
    for (const auto& o : overrides_)
      if (o.option->count() > 0) given.insert(o.key);
    Options options;
    if (!config_.empty()) {
      DS_ASSIGN_OR_RETURN(options, LoadConfig<Options>(config_, given));
    } else {
      for (const ConfigKey& k : ConfigKeys<Options>())
        if (k.required && !given.count(k.name))
          return InvalidArgument(FlagFor(k.name) + " is required (or key '" + k.name + "' in a --config file)");
    }
    for (const auto& o : overrides_) {
      if (o.option->count() == 0) continue;
      DS_RETURN_IF_ERROR(o.apply(flags_, options));
      std::string why = CheckConfigValue<Options>(options, o.key);
      if (!why.empty()) return InvalidArgument(o.option->get_name() + ": " + why);
    }
    return options;
  }

 private:
  // A flag that overrides one config key.
  struct Override {
    CLI::Option* option;
    std::string key;
    std::function<Status(const Options& flags, Options& to)> apply;
  };

  CLI::Option* Add(CLI::Option* option, const std::string& key,
                   std::function<Status(const Options&, Options&)> apply) {
    overrides_.push_back({option, key, std::move(apply)});
    return option;
  }

  // "help (config: key, default X)" from the schema, so defaults are written once.
  static std::string Help(const std::string& help, const std::string& key) {
    for (const ConfigKey& k : ConfigKeys<Options>())
      if (k.name == key)
        return help + " (config: " + key + (k.required ? ", required" : ", default " + k.default_value) + ")";
    return help + " (config: " + key + ")";
  }

  std::string FlagFor(const std::string& key) const {
    for (const auto& o : overrides_)
      if (o.key == key) return o.option->get_name();
    return "'" + key + "'";
  }

  // Keeps the promise that every setting has a flag: a schema key without a
  // flag, or a flag bound to no key, is a bug caught on any run.
  Status CheckEveryKeyHasAFlag() const {
    std::set<std::string> bound;
    for (const auto& o : overrides_) bound.insert(o.key);
    std::set<std::string> keys;
    for (const ConfigKey& k : ConfigKeys<Options>()) keys.insert(k.name);
    for (const auto& key : keys)
      if (!bound.count(key)) return Status(Code::kUnsupported, "internal: config key '" + key + "' has no flag");
    for (const auto& key : bound)
      if (!keys.count(key)) return Status(Code::kUnsupported, "internal: a flag is bound to unknown key '" + key + "'");
    return Status::Ok();
  }

  CLI::App* sub_;
  std::string config_;
  Options flags_;                  // values given on the command line
  std::deque<std::string> texts_;  // flags parsed at Resolve
  std::vector<Override> overrides_;
};

}  // namespace deltaswarm::cli
