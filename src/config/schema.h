// A config file's schema: the one table that maps each YAML key to a field of
// an options struct, with its type (from the field), whether it is required,
// a range check and a line of documentation. Defaults are the struct's own
// initializers (roles.h), so they exist once; Describe() shows them.
// Reused by every role that has a config file (node now; gateway, publisher
// and MPI launcher later). Not thread-safe to build; Load is const.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <set>
#include <type_traits>
#include <string>
#include <vector>

#include "config/yaml_value.h"
#include "deltaswarm/status.h"

namespace deltaswarm::config {

// A range check: the empty string when the value is fine, else why not ("must be > 0").
template <typename V>
using Check = std::function<std::string(const V&)>;

template <typename T>
class Schema {
 public:
  template <typename V>
  Schema& Required(std::string key, V T::*field, std::string doc, std::type_identity_t<Check<V>> check = {}) {
    return Add(std::move(key), field, std::move(doc), std::move(check), true);
  }
  template <typename V>
  Schema& Optional(std::string key, V T::*field, std::string doc, std::type_identity_t<Check<V>> check = {}) {
    return Add(std::move(key), field, std::move(doc), std::move(check), false);
  }

  // Reads the YAML text (a mapping of keys) into a copy of base. Errors name
  // "file:line"; keys in given_elsewhere satisfy Required.
  Result<T> Load(const std::string& text, const std::string& file, T base,
                 const std::set<std::string>& given_elsewhere) const {
    // yaml-cpp reports every fault by exception; this is its one wrapper.
    try {
      YAML::Node root = YAML::Load(text);
      if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);  // an empty file
      if (!root.IsMap())
        return InvalidArgument(Where(file, root.Mark()) + ": expected a mapping of settings (key: value)");
      std::set<std::string> seen;
      for (auto it = root.begin(); it != root.end(); ++it) {
        const YAML::Node k = it->first;  // copies: the iterator hands out temporaries
        const YAML::Node v = it->second;
        std::string key = k.IsScalar() ? k.Scalar() : "?";
        const Field* f = Find(key);
        if (f == nullptr) return InvalidArgument(Where(file, k.Mark()) + ": unknown key '" + key + "'" + Known());
        if (!seen.insert(key).second) return InvalidArgument(Where(file, k.Mark()) + ": key '" + key + "' repeated");
        DS_RETURN_IF_ERROR(f->set(v, Location{file, k.Mark()}, base));
      }
      for (const Field& f : fields_)
        if (f.required && !seen.count(f.key) && !given_elsewhere.count(f.key))
          return InvalidArgument(Where(file, root.Mark()) + ": missing required key '" + f.key + "' (" + f.doc + ")");
      return base;
    } catch (const YAML::Exception& e) {
      return InvalidArgument(Where(file, e.mark) + ": " + e.msg);
    }
  }

  std::vector<std::string> Keys() const {
    std::vector<std::string> keys;
    for (const Field& f : fields_) keys.push_back(f.key);
    return keys;
  }

  // One line per key: "key (type, default X): doc" or "key (type, required): doc".
  std::string Describe() const {
    const T defaults{};
    std::string out;
    for (const Field& f : fields_)
      out += f.key + " (" + f.type + ", " + (f.required ? "required" : "default " + f.show(defaults)) + "): " + f.doc +
             "\n";
    return out;
  }

 private:
  struct Field {
    std::string key;
    std::string type;
    std::string doc;
    bool required;
    std::function<Status(const YAML::Node&, const Location&, T&)> set;
    std::function<std::string(const T&)> show;
  };

  template <typename V>
  Schema& Add(std::string key, V T::*field, std::string doc, Check<V> check, bool required) {
    Field f;
    f.key = key;
    f.type = YamlValue<V>::kType;
    f.doc = std::move(doc);
    f.required = required;
    f.set = [key, field, check](const YAML::Node& node, const Location& at, T& out) -> Status {
      DS_ASSIGN_OR_RETURN(V value, YamlValue<V>::Read(node, at, key));
      if (check) {
        std::string why = check(value);
        if (!why.empty()) return InvalidArgument(at.Of(node) + ": " + key + ": " + why);
      }
      out.*field = std::move(value);
      return Status::Ok();
    };
    f.show = [field](const T& t) { return YamlValue<V>::Show(t.*field); };
    fields_.push_back(std::move(f));
    return *this;
  }

  const Field* Find(const std::string& key) const {
    for (const Field& f : fields_)
      if (f.key == key) return &f;
    return nullptr;
  }

  std::string Known() const {
    std::string s;
    for (const Field& f : fields_) s += (s.empty() ? " (known: " : ", ") + f.key;
    return s + ")";
  }

  std::vector<Field> fields_;
};

}  // namespace deltaswarm::config
