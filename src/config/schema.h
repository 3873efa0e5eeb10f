// A config file's schema: the one table that maps each YAML key to a field of
// an options struct, with its type (from the field), whether it is required,
// a range check and a line of documentation. Defaults are the struct's own
// initializers (roles.h, gateway.h), so they exist once; Describe() shows them.
// One schema per role, in src/config/<role>_config.cc. Not thread-safe to
// build; Load is const.
#pragma once

#include <yaml-cpp/yaml.h>

#include <functional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "config/yaml_value.h"
#include "deltaswarm/config.h"
#include "deltaswarm/status.h"
#include "format/printable.h"

namespace deltaswarm::config {

// A range check: the empty string when the value is fine, else why not ("must be > 0").
template <typename V>
using Check = std::function<std::string(const V&)>;

template <typename T>
class Schema;

// The schema of an options struct; each role's <role>_config.cc defines its own.
template <typename T>
const Schema<T>& SchemaFor();

template <typename T>
class Schema {
 public:
  template <typename V>
  Schema& Required(std::string key, V T::*field, std::string doc, std::type_identity_t<Check<V>> check = {}) {
    return Add<V>(std::move(key), [field](auto& t) -> auto& { return t.*field; }, std::move(doc), std::move(check),
                  true);
  }
  template <typename V>
  Schema& Optional(std::string key, V T::*field, std::string doc, std::type_identity_t<Check<V>> check = {}) {
    return Add<V>(std::move(key), [field](auto& t) -> auto& { return t.*field; }, std::move(doc), std::move(check),
                  false);
  }
  // A field of a member struct, e.g. PublishOptions::diff.threads.
  template <typename S, typename V>
  Schema& Optional(std::string key, S T::*outer, V S::*inner, std::string doc,
                   std::type_identity_t<Check<V>> check = {}) {
    auto access = [outer, inner](auto& t) -> auto& { return (t.*outer).*inner; };
    return Add<V>(std::move(key), access, std::move(doc), std::move(check), false);
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
        if (f == nullptr)
          return InvalidArgument(Where(file, k.Mark()) + ": unknown key '" + Printable(key, '\'') + "'" + Known());
        if (!seen.insert(key).second) return InvalidArgument(Where(file, k.Mark()) + ": key '" + key + "' repeated");
        DS_RETURN_IF_ERROR(f->set(v, Location{file, k.Mark()}, base));
      }
      for (const Field& f : fields_)
        if (f.required && !seen.count(f.key) && !given_elsewhere.count(f.key))
          return InvalidArgument(Where(file, root.Mark()) + ": missing required key '" + f.key + "' (" + f.doc + ")");
      return base;
    } catch (const YAML::Exception& e) {
      // e.msg may quote the character yaml-cpp stopped at, a newline or NUL too.
      return InvalidArgument(Where(file, e.mark) + ": " + Printable(e.msg));
    }
  }

  // Every key in schema order, with its default as YAML text.
  std::vector<ConfigKey> Keys() const {
    const T defaults{};
    std::vector<ConfigKey> keys;
    for (const Field& f : fields_)
      keys.push_back({f.key, f.type, f.required, f.required ? "" : f.show(defaults), f.doc});
    return keys;
  }

  // One line per key: "key (type, default X): doc" or "key (type, required): doc".
  std::string Describe() const {
    std::string out;
    for (const ConfigKey& k : Keys())
      out += k.name + " (" + k.type + ", " + (k.required ? "required" : "default " + k.default_value) + "): " + k.doc +
             "\n";
    return out;
  }

  // The range check of key on options' value (e.g. one set by a flag): "" when
  // fine or when key has no check, else why not.
  std::string CheckValue(const T& options, const std::string& key) const {
    const Field* f = Find(key);
    return f == nullptr ? "unknown config key '" + key + "'" : f->check_value(options);
  }

 private:
  struct Field {
    std::string key;
    std::string type;
    std::string doc;
    bool required;
    std::function<Status(const YAML::Node&, const Location&, T&)> set;
    std::function<std::string(const T&)> show;
    std::function<std::string(const T&)> check_value;
  };

  // access(t) is the field inside t, const or not (a generic lambda).
  template <typename V, typename Access>
  Schema& Add(std::string key, Access access, std::string doc, Check<V> check, bool required) {
    Field f;
    f.key = key;
    f.type = YamlValue<V>::kType;
    f.doc = std::move(doc);
    f.required = required;
    f.set = [key, access, check](const YAML::Node& node, const Location& at, T& out) -> Status {
      DS_ASSIGN_OR_RETURN(V value, YamlValue<V>::Read(node, at, key));
      if (check) {
        std::string why = check(value);
        if (!why.empty()) return InvalidArgument(at.Of(node) + ": " + key + ": " + why);
      }
      access(out) = std::move(value);
      return Status::Ok();
    };
    f.show = [access](const T& t) { return YamlValue<V>::Show(access(t)); };
    f.check_value = [access, check](const T& t) { return check ? check(access(t)) : std::string(); };
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

// The roles' schemas (the list in deltaswarm/config.h), one per <role>_config.cc.
template <>
const Schema<NodeOptions>& SchemaFor<NodeOptions>();
template <>
const Schema<GatewayOptions>& SchemaFor<GatewayOptions>();
template <>
const Schema<PublishOptions>& SchemaFor<PublishOptions>();
template <>
const Schema<PullOptions>& SchemaFor<PullOptions>();

}  // namespace deltaswarm::config
