// Configuration files: YAML read strictly into the roles' option structs.
// Every key, its type and its default (the option struct's own initializer)
// are listed once, in the role's schema in src/config/<role>_config.cc;
// configs/ has a commented example per role, docs/CONFIG.md the key tables.
//
// The option structs that have a config file, and the command reading it:
//   NodeOptions     deltaswarm node      (configs/node.yaml, lab-node.yaml)
//   GatewayOptions  deltaswarm gateway   (configs/gateway.yaml)
//   PublishOptions  deltaswarm publish   (configs/publisher.yaml)
//   PullOptions     deltaswarm pull      (configs/cluster-node.yaml)
// The templates below are defined for exactly these four.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "deltaswarm/gateway.h"
#include "deltaswarm/roles.h"
#include "deltaswarm/status.h"

namespace deltaswarm {

// Reads a config file on top of Options{}. Strict: an unknown or repeated
// key, a value of the wrong type or out of range, or a missing required key
// is kInvalidArgument with one line "FILE:LINE: ..."; an unreadable file is
// kNotFound or kIoError. Keys in given_elsewhere (e.g. set by a command-line
// flag) count as present.
template <typename Options>
Result<Options> LoadConfig(const std::string& path, const std::set<std::string>& given_elsewhere = {});

// The same for YAML text; name stands for the file in messages.
template <typename Options>
Result<Options> ParseConfig(const std::string& yaml, const std::string& name,
                            const std::set<std::string>& given_elsewhere = {});

// One key of a schema, for help texts and docs.
struct ConfigKey {
  std::string name;           // the YAML key, e.g. "poll_interval_s"
  std::string type;           // "string", "list of strings", "number", "boolean", ...
  bool required = false;
  std::string default_value;  // as YAML shows it ("10", "\"0.0.0.0:0\"", "[]"); empty when required
  std::string doc;            // one line
};

// The keys in schema order.
template <typename Options>
std::vector<ConfigKey> ConfigKeys();

// One line per key: "key (type, default X): meaning" or "key (type, required): meaning".
template <typename Options>
std::string DescribeConfig();

// The range check of one key applied to a value that did not come from a
// file (a command-line flag): "" when it is fine, else why not ("must be > 0").
template <typename Options>
std::string CheckConfigValue(const Options& options, const std::string& key);

}  // namespace deltaswarm
