#include "deltaswarm/digest.h"

#include <openssl/evp.h>
#include <xxhash.h>

#include <stdexcept>

namespace deltaswarm {

template <size_t N>
std::string Digest<N>::Hex() const {
  return ToHex(bytes);
}
template struct Digest<16>;
template struct Digest<32>;

std::string ToHex(std::span<const uint8_t> bytes) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 15]);
  }
  return s;
}

template <size_t N>
bool ParseHex(const std::string& hex, Digest<N>* out) {
  if (hex.size() != 2 * N) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < N; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}
template bool ParseHex<16>(const std::string&, Digest<16>*);
template bool ParseHex<32>(const std::string&, Digest<32>*);

Hash128 HashBytes(std::span<const std::byte> data) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits(data.data(), data.size()));
  Hash128 h;
  static_assert(sizeof(c.digest) == 16);
  std::copy(std::begin(c.digest), std::end(c.digest), h.bytes.begin());
  return h;
}

Hash128 HashOfHashes(std::span<const Hash128> hashes) {
  return HashBytes(std::as_bytes(hashes));
}

struct Sha256Hasher::Impl {
  EVP_MD_CTX* ctx = nullptr;
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Sha256Hasher::Sha256Hasher() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = EVP_MD_CTX_new();
  // Allocation failure of a few bytes is not a recoverable input error.
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("OpenSSL: cannot initialise SHA-256");
}
Sha256Hasher::~Sha256Hasher() = default;
Sha256Hasher::Sha256Hasher(Sha256Hasher&&) noexcept = default;
Sha256Hasher& Sha256Hasher::operator=(Sha256Hasher&&) noexcept = default;

void Sha256Hasher::Update(std::span<const std::byte> data) {
  EVP_DigestUpdate(impl_->ctx, data.data(), data.size());
}

Sha256 Sha256Hasher::Finish() {
  Sha256 out;
  unsigned int len = 0;
  EVP_DigestFinal_ex(impl_->ctx, out.bytes.data(), &len);
  return out;
}

Sha256 Sha256Of(std::span<const std::byte> data) {
  Sha256Hasher h;
  h.Update(data);
  return h.Finish();
}

}  // namespace deltaswarm
