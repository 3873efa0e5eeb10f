// Reading one YAML value as a C++ type, strictly: a number field takes only a
// number that fits, a list field only a sequence of scalars. Errors are one
// line "FILE:LINE: KEY: expected ..." (kInvalidArgument).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <vector>

#include "deltaswarm/status.h"

namespace deltaswarm::config {

// "FILE:LINE" of a node (1-based), or "FILE" when yaml-cpp has no position.
std::string Where(const std::string& file, const YAML::Mark& mark);

// Where a value is: its file, and the position to report when the value has
// none of its own (an empty "key:" is positioned at its key).
struct Location {
  std::string file;
  YAML::Mark fallback;
  std::string Of(const YAML::Node& node) const {
    return Where(file, node.IsNull() || node.Mark().is_null() ? fallback : node.Mark());
  }
};

template <typename V>
struct YamlValue;  // specialised below: kType, Read (strict), Show (for documentation)

#define DS_YAML_VALUE(V, type_name)                                                              \
  template <>                                                                                     \
  struct YamlValue<V> {                                                                           \
    static constexpr const char* kType = type_name;                                               \
    static Result<V> Read(const YAML::Node& node, const Location& at, const std::string& key);   \
    static std::string Show(const V& value);                                                      \
  }

DS_YAML_VALUE(bool, "boolean");
DS_YAML_VALUE(std::string, "string");
DS_YAML_VALUE(std::vector<std::string>, "list of strings");
DS_YAML_VALUE(uint64_t, "unsigned integer");
DS_YAML_VALUE(unsigned, "unsigned integer");
DS_YAML_VALUE(int, "integer");
DS_YAML_VALUE(double, "number");

#undef DS_YAML_VALUE

}  // namespace deltaswarm::config
