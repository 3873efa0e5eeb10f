// libFuzzer target: the input is a manifest.json as a bucket serves it.
// ParseManifest must return a Status for anything; what it accepts is checked
// against a fixed key (VerifyManifest: ok or a Status, never a crash), and
// must survive its own serialization: the stored form parses back to the same
// bytes (CanonicalBytes is what the signature covers).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "deltaswarm/manifest.h"
#include "fuzz_key.h"

using namespace deltaswarm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  auto m = ParseManifest(bytes, "fuzz/manifest.json");
  if (!m.ok()) {
    if (m.status().message().find('\n') != std::string::npos) std::abort();  // one-line errors
    return 0;
  }
  const TrustedKey& key = fuzz::FuzzTrustedKey();
  (void)VerifyManifest(*m, std::span<const TrustedKey>(&key, 1), "fuzz/manifest.json");
  for (const char* kind : {"delta", "keyframe"})
    if (const ManifestArtifact* a = m->Find(kind)) (void)a->bytes();

  const std::string stored = SerializeManifest(*m);
  auto again = ParseManifest(std::as_bytes(std::span(stored)), "fuzz/again.json");
  if (!again.ok() || SerializeManifest(*again) != stored || CanonicalBytes(*again) != CanonicalBytes(*m))
    std::abort();
  return 0;
}
