// libFuzzer target: the input is a whole safetensors file. The parser must
// return a Status for anything (no crash, no sanitizer report, no exception),
// and whatever it accepts must satisfy the invariants the codec relies on.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "deltaswarm/checkpoint.h"

using namespace deltaswarm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = ParseSafetensorsHeader("fuzz.safetensors", data, size, size);
  if (!r.ok()) {
    if (r.status().message().find('\n') != std::string::npos) std::abort();
    return 0;
  }
  // Accepted: ranges are inside the data area, sorted, and tile it exactly.
  uint64_t cursor = r->header_bytes;
  for (const TensorInfo& t : r->tensors) {
    if (t.begin > t.end || t.begin < r->header_bytes || t.end > size) std::abort();
    if (t.begin == t.end) continue;
    if (t.begin != cursor) std::abort();
    cursor = t.end;
  }
  if (cursor != size) std::abort();
  return 0;
}
