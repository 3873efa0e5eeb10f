// Configuration files: YAML read strictly into the roles' option structs.
// Every key, its type and its default (the option struct's own initializer)
// are listed once, in the role's schema in src/config/; configs/ has
// commented examples.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "deltaswarm/roles.h"
#include "deltaswarm/status.h"

namespace deltaswarm {

// Reads a node's config file (configs/node.yaml) on top of NodeOptions{}.
// Strict: an unknown or repeated key, a value of the wrong type or out of
// range, or a missing required key is kInvalidArgument with one line
// "FILE:LINE: ..."; an unreadable file is kNotFound or kIoError. Keys in
// given_elsewhere (e.g. set by a command-line flag) count as present.
Result<NodeOptions> LoadNodeConfig(const std::string& path, const std::set<std::string>& given_elsewhere = {});
// The same for YAML text; name stands for the file in messages.
Result<NodeOptions> ParseNodeConfig(const std::string& yaml, const std::string& name,
                                    const std::set<std::string>& given_elsewhere = {});

// The node's keys in schema order, and one line per key: name, type,
// "required" or its default, and what it means.
std::vector<std::string> NodeConfigKeys();
std::string DescribeNodeConfig();

}  // namespace deltaswarm
