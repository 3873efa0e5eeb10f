#include "config/yaml_value.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "format/printable.h"

namespace deltaswarm::config {

namespace {

Status Expected(const YAML::Node& node, const Location& at, const std::string& key, const char* what) {
  // The value is quoted escaped: a control character in it must not split the line.
  std::string got = node.IsNull()       ? "nothing"
                    : node.IsSequence() ? "a list"
                    : node.IsMap()      ? "a mapping"
                                        : "'" + Printable(node.Scalar(), '\'') + "'";
  return InvalidArgument(at.Of(node) + ": " + key + ": expected " + what + ", got " + got);
}

// Integers by from_chars: no sign for unsigned types, no trailing text, no overflow.
template <typename V>
Result<V> ReadInteger(const YAML::Node& node, const Location& at, const std::string& key, const char* what) {
  if (!node.IsScalar()) return Expected(node, at, key, what);
  const std::string& s = node.Scalar();
  V value{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec == std::errc::result_out_of_range)
    return InvalidArgument(at.Of(node) + ": " + key + ": " + s + " is out of range");
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return Expected(node, at, key, what);
  return value;
}

}  // namespace

std::string Where(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0) return file;
  return file + ":" + std::to_string(mark.line + 1);
}

// Only "true" and "false": YAML 1.1's yes/no/on/off are easy to write by accident.
Result<bool> YamlValue<bool>::Read(const YAML::Node& node, const Location& at, const std::string& key) {
  if (node.IsScalar() && node.Scalar() == "true") return true;
  if (node.IsScalar() && node.Scalar() == "false") return false;
  return Expected(node, at, key, "true or false");
}
std::string YamlValue<bool>::Show(const bool& v) { return v ? "true" : "false"; }

Result<std::string> YamlValue<std::string>::Read(const YAML::Node& node, const Location& at,
                                                 const std::string& key) {
  if (!node.IsScalar()) return Expected(node, at, key, "a string");
  return node.Scalar();
}
std::string YamlValue<std::string>::Show(const std::string& v) { return v.empty() ? "\"\"" : "\"" + v + "\""; }

Result<std::vector<std::string>> YamlValue<std::vector<std::string>>::Read(const YAML::Node& node,
                                                                           const Location& at,
                                                                           const std::string& key) {
  if (!node.IsSequence()) return Expected(node, at, key, "a list of strings");
  std::vector<std::string> out;
  for (const YAML::Node& item : node) {
    if (!item.IsScalar()) return Expected(item, at, key + " item", "a string");
    out.push_back(item.Scalar());
  }
  return out;
}
std::string YamlValue<std::vector<std::string>>::Show(const std::vector<std::string>& v) {
  std::string s = "[";
  for (const auto& x : v) s += (s.size() > 1 ? ", " : "") + x;
  return s + "]";
}

Result<uint64_t> YamlValue<uint64_t>::Read(const YAML::Node& node, const Location& at, const std::string& key) {
  return ReadInteger<uint64_t>(node, at, key, "an unsigned integer");
}
std::string YamlValue<uint64_t>::Show(const uint64_t& v) { return std::to_string(v); }

Result<unsigned> YamlValue<unsigned>::Read(const YAML::Node& node, const Location& at, const std::string& key) {
  return ReadInteger<unsigned>(node, at, key, "an unsigned integer");
}
std::string YamlValue<unsigned>::Show(const unsigned& v) { return std::to_string(v); }

Result<int> YamlValue<int>::Read(const YAML::Node& node, const Location& at, const std::string& key) {
  return ReadInteger<int>(node, at, key, "an integer");
}
std::string YamlValue<int>::Show(const int& v) { return std::to_string(v); }

Result<double> YamlValue<double>::Read(const YAML::Node& node, const Location& at, const std::string& key) {
  if (!node.IsScalar() || node.Scalar().empty()) return Expected(node, at, key, "a number");
  const std::string& s = node.Scalar();
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  // strtod also takes "inf", "nan" and hex floats: a config wants plain decimals.
  if (end != s.c_str() + s.size() || !std::isfinite(v) || s.find_first_of("xXnN") != std::string::npos)
    return Expected(node, at, key, "a number");
  return v;
}
std::string YamlValue<double>::Show(const double& v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace deltaswarm::config
