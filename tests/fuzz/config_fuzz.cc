// libFuzzer target: the input is a YAML config file. Each role's strict
// reader (ParseConfig<NodeOptions>, <GatewayOptions>, <PublishOptions>,
// <PullOptions>) must return options or a one-line "FILE:LINE: ..." Status
// for anything; yaml-cpp's exceptions are caught inside (schema.h).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "deltaswarm/config.h"

using namespace deltaswarm;

namespace {

template <typename Options>
void Parse(const std::string& text) {
  auto r = ParseConfig<Options>(text, "fuzz.yaml");
  if (!r.ok() && r.status().message().find('\n') != std::string::npos) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return 0;  // LoadConfig reads no more (config_file.cc)
  const std::string text(reinterpret_cast<const char*>(data), size);
  Parse<NodeOptions>(text);
  Parse<GatewayOptions>(text);
  Parse<PublishOptions>(text);
  Parse<PullOptions>(text);
  return 0;
}
