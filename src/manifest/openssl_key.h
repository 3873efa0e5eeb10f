// The one place deltaswarm touches OpenSSL's key API: Ed25519 keys in PEM,
// their key ids, and ownership of EVP_PKEY handles.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>

#include "deltaswarm/status.h"

namespace deltaswarm {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

enum class KeyPart { kPrivate, kPublic };

// Reads an Ed25519 key from a PEM file: kNotFound if the file is missing,
// kInvalidArgument "<path>: not an Ed25519 private|public key" otherwise.
Result<PkeyPtr> LoadEd25519Pem(const std::string& path, KeyPart part);
// PKCS#8 (private) or SubjectPublicKeyInfo (public) PEM text.
Result<std::string> Ed25519Pem(EVP_PKEY* key, KeyPart part);
// First 16 hex digits of SHA-256 over the raw 32-byte public key.
std::string Ed25519KeyId(EVP_PKEY* key);
// Drops OpenSSL's queued errors so they do not surface in a later, unrelated call.
void ClearOpenSslErrors();

}  // namespace deltaswarm
