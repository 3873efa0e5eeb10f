// Digests: a fast 128-bit content hash (XXH3-128) for frames and files, and
// SHA-256 for chunks. Value types with hex helpers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace deltaswarm {

template <size_t N>
struct Digest {
  std::array<uint8_t, N> bytes{};
  bool operator==(const Digest&) const = default;
  std::string Hex() const;
};

using Hash128 = Digest<16>;
using Sha256 = Digest<32>;

// XXH3-128 of a byte range; stored big-endian (canonical XXH128 form).
Hash128 HashBytes(std::span<const std::byte> data);
// XXH3-128 over the concatenation of the given digests: a file's content
// digest is this over its frames' target hashes, in file order.
Hash128 HashOfHashes(std::span<const Hash128> hashes);

Sha256 Sha256Of(std::span<const std::byte> data);

// Incremental SHA-256 (OpenSSL). Not thread-safe; movable.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(Sha256Hasher&&) noexcept;
  Sha256Hasher& operator=(Sha256Hasher&&) noexcept;
  void Update(std::span<const std::byte> data);
  Sha256 Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

std::string ToHex(std::span<const uint8_t> bytes);
// Parses exactly 2*N hex digits; false on anything else.
template <size_t N>
bool ParseHex(const std::string& hex, Digest<N>* out);

}  // namespace deltaswarm
