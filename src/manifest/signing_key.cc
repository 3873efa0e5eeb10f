// SigningKey and TrustedKey: Ed25519 keys loaded from PEM, signing and
// verifying with OpenSSL's one-shot EVP_DigestSign / EVP_DigestVerify (Ed25519
// hashes internally, so no digest is named).
#include <openssl/evp.h>

#include <array>

#include "deltaswarm/manifest.h"
#include "manifest/openssl_key.h"

namespace deltaswarm {

namespace {

constexpr size_t kSignatureBytes = 64;

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

const unsigned char* Bytes(std::span<const std::byte> s) { return reinterpret_cast<const unsigned char*>(s.data()); }

bool ParseSignatureHex(const std::string& hex, std::array<unsigned char, kSignatureBytes>* out) {
  if (hex.size() != 2 * kSignatureBytes) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;  // lowercase only: one spelling per signature
  };
  for (size_t i = 0; i < kSignatureBytes; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

}  // namespace

struct SigningKey::Impl {
  PkeyPtr key;  // read-only after Load; each Sign uses its own context
  std::string public_pem;
};

SigningKey::~SigningKey() = default;
SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;

Result<SigningKey> SigningKey::Load(const std::string& pem_path) {
  DS_ASSIGN_OR_RETURN(PkeyPtr key, LoadEd25519Pem(pem_path, KeyPart::kPrivate));
  SigningKey k;
  k.impl_ = std::make_unique<Impl>();
  DS_ASSIGN_OR_RETURN(k.impl_->public_pem, Ed25519Pem(key.get(), KeyPart::kPublic));
  k.key_id_ = Ed25519KeyId(key.get());
  k.impl_->key = std::move(key);
  return k;
}

std::string SigningKey::public_pem() const { return impl_->public_pem; }

Result<std::string> SigningKey::SignHex(std::span<const std::byte> message) const {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  std::array<uint8_t, kSignatureBytes> sig{};
  size_t len = sig.size();
  bool ok = ctx && EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, impl_->key.get()) == 1 &&
            EVP_DigestSign(ctx.get(), sig.data(), &len, Bytes(message), message.size()) == 1 && len == sig.size();
  if (!ok) {
    ClearOpenSslErrors();
    return IoError("key " + key_id_ + ": Ed25519 signing failed");
  }
  return ToHex(sig);
}

struct TrustedKey::Impl {
  PkeyPtr key;
};

TrustedKey::~TrustedKey() = default;
TrustedKey::TrustedKey(TrustedKey&&) noexcept = default;
TrustedKey& TrustedKey::operator=(TrustedKey&&) noexcept = default;

Result<TrustedKey> TrustedKey::Load(const std::string& pem_path) {
  DS_ASSIGN_OR_RETURN(PkeyPtr key, LoadEd25519Pem(pem_path, KeyPart::kPublic));
  TrustedKey k;
  k.impl_ = std::make_unique<Impl>();
  k.key_id_ = Ed25519KeyId(key.get());
  k.impl_->key = std::move(key);
  return k;
}

bool TrustedKey::Verify(std::span<const std::byte> message, const std::string& signature_hex) const {
  std::array<unsigned char, kSignatureBytes> sig{};
  if (!ParseSignatureHex(signature_hex, &sig)) return false;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, impl_->key.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), Bytes(message), message.size()) == 1;
  ClearOpenSslErrors();
  return ok;
}

}  // namespace deltaswarm
