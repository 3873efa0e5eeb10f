#include "manifest/openssl_key.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <array>

#include "core/file.h"
#include "deltaswarm/digest.h"

namespace deltaswarm {

namespace {

constexpr uint64_t kMaxPemBytes = 64 << 10;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

// Refuses a passphrase instead of letting OpenSSL prompt on the terminal.
int NoPassphrase(char*, int, int, void*) { return 0; }

}  // namespace

void ClearOpenSslErrors() { ERR_clear_error(); }

Result<PkeyPtr> LoadEd25519Pem(const std::string& path, KeyPart part) {
  const char* what = part == KeyPart::kPrivate ? "private" : "public";
  DS_ASSIGN_OR_RETURN(std::vector<std::byte> pem, ReadWholeFile(path, kMaxPemBytes));
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return IoError(path + ": out of memory reading the key");
  PkeyPtr key(part == KeyPart::kPrivate ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr)
                                        : PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassphrase, nullptr));
  OPENSSL_cleanse(pem.data(), pem.size());
  ClearOpenSslErrors();
  if (!key || EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519)
    return InvalidArgument(path + ": not an Ed25519 " + what + " key");
  return key;
}

Result<std::string> Ed25519Pem(EVP_PKEY* key, KeyPart part) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  bool ok = bio && (part == KeyPart::kPrivate
                        ? PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr)
                        : PEM_write_bio_PUBKEY(bio.get(), key)) == 1;
  if (!ok) {
    ClearOpenSslErrors();
    return IoError("cannot encode the Ed25519 key as PEM");
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  std::string pem(data, static_cast<size_t>(n));
  // The memory BIO frees without wiping; the private key must not linger.
  OPENSSL_cleanse(data, static_cast<size_t>(n));
  return pem;
}

std::string Ed25519KeyId(EVP_PKEY* key) {
  std::array<std::byte, 32> raw{};
  size_t len = raw.size();
  if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1 || len != raw.size()) {
    ClearOpenSslErrors();
    return "";  // cannot happen for an Ed25519 key
  }
  return Sha256Of(raw).Hex().substr(0, 16);
}

}  // namespace deltaswarm
