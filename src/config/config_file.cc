// The public config API for every role, over the role's schema
// (config::SchemaFor<Options>, defined in src/config/<role>_config.cc).
#include "config/schema.h"
#include "core/file.h"
#include "deltaswarm/config.h"

namespace deltaswarm {

namespace {
// Config files are a few kB; a bigger one is not a config file.
constexpr uint64_t kMaxConfigBytes = 1 << 20;
}  // namespace

template <typename Options>
Result<Options> ParseConfig(const std::string& yaml, const std::string& name,
                            const std::set<std::string>& given_elsewhere) {
  return config::SchemaFor<Options>().Load(yaml, name, Options{}, given_elsewhere);
}

template <typename Options>
Result<Options> LoadConfig(const std::string& path, const std::set<std::string>& given_elsewhere) {
  DS_ASSIGN_OR_RETURN(std::vector<std::byte> bytes, ReadWholeFile(path, kMaxConfigBytes));
  return ParseConfig<Options>(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path,
                              given_elsewhere);
}

template <typename Options>
std::vector<ConfigKey> ConfigKeys() {
  return config::SchemaFor<Options>().Keys();
}

template <typename Options>
std::string DescribeConfig() {
  return config::SchemaFor<Options>().Describe();
}

template <typename Options>
std::string CheckConfigValue(const Options& options, const std::string& key) {
  return config::SchemaFor<Options>().CheckValue(options, key);
}

// The roles with a config file (the list in config.h).
#define DS_CONFIG_ROLE(Options)                                                                              \
  template Result<Options> LoadConfig<Options>(const std::string&, const std::set<std::string>&);            \
  template Result<Options> ParseConfig<Options>(const std::string&, const std::string&,                      \
                                                const std::set<std::string>&);                               \
  template std::vector<ConfigKey> ConfigKeys<Options>();                                                     \
  template std::string DescribeConfig<Options>();                                                            \
  template std::string CheckConfigValue<Options>(const Options&, const std::string&)

DS_CONFIG_ROLE(NodeOptions);
DS_CONFIG_ROLE(GatewayOptions);
DS_CONFIG_ROLE(PublishOptions);
DS_CONFIG_ROLE(PullOptions);

#undef DS_CONFIG_ROLE

}  // namespace deltaswarm
