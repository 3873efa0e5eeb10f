// libFuzzer target: the input is a refs/latest as a bucket serves it.
// ParseLatest must return a Status for anything; what it accepts is checked
// against a fixed key (VerifyLatest) and must parse back from its stored form.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "deltaswarm/latest.h"
#include "fuzz_key.h"

using namespace deltaswarm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  auto s = ParseLatest(bytes, "fuzz/refs/latest");
  if (!s.ok()) {
    if (s.status().message().find('\n') != std::string::npos) std::abort();
    return 0;
  }
  const TrustedKey& key = fuzz::FuzzTrustedKey();
  (void)VerifyLatest(*s, std::span<const TrustedKey>(&key, 1), "fuzz/refs/latest");
  (void)s->ExpiredAt(0);

  const std::string stored = SerializeLatest(*s);
  auto again = ParseLatest(std::as_bytes(std::span(stored)), "fuzz/again");
  if (!again.ok() || SerializeLatest(*again) != stored) std::abort();
  return 0;
}
