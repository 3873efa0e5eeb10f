// PEM files in and out of the tls layer, each read bounded.
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "core/file.h"
#include "deltaswarm/tls.h"
#include "tls/openssl_util.h"

namespace deltaswarm {

namespace {
// Certificates, keys and CRLs are a few kB; a CRL of 10 000 serials is ~400 kB.
constexpr uint64_t kMaxPemBytes = 1 << 20;
}  // namespace

Result<std::string> ReadPemFile(const std::string& path) {
  DS_ASSIGN_OR_RETURN(std::vector<std::byte> bytes, ReadWholeFile(path, kMaxPemBytes));
  std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  OPENSSL_cleanse(bytes.data(), bytes.size());  // it may be a private key
  return text;
}

namespace tls {

namespace {

// Refuses a passphrase instead of letting OpenSSL prompt on the terminal.
int NoPassphrase(char*, int, int, void*) { return 0; }

template <typename T, typename Reader>
Result<T> ParsePemFile(const std::string& path, const char* what, Reader read) {
  WipedString pem;
  DS_ASSIGN_OR_RETURN(pem.text, ReadPemFile(path));
  BioPtr bio(BIO_new_mem_buf(pem.text.data(), static_cast<int>(pem.text.size())));
  if (!bio) return IoError(path + ": out of memory");
  T object(read(bio.get()));
  ERR_clear_error();
  if (!object) return InvalidArgument(path + ": not a PEM " + what);
  return object;
}

// The memory BIO's contents as a string; wiped when it held a private key.
std::string TakeBioText(BIO* bio, bool secret) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<size_t>(n));
  if (secret) OPENSSL_cleanse(data, static_cast<size_t>(n));
  return text;
}

template <typename Writer>
Result<std::string> WritePem(const char* what, bool secret, Writer write) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) return IoError(std::string("cannot encode the ") + what + ": " + TakeOpenSslError());
  return TakeBioText(bio.get(), secret);
}

}  // namespace

WipedString::~WipedString() { OPENSSL_cleanse(text.data(), text.size()); }

std::string TakeOpenSslError() {
  unsigned long err = ERR_get_error();
  ERR_clear_error();
  if (err == 0) return "unknown error";
  const char* reason = ERR_reason_error_string(err);
  return reason ? reason : "error " + std::to_string(err);
}

Result<X509Ptr> LoadCertificate(const std::string& path) {
  return ParsePemFile<X509Ptr>(path, "certificate",
                               [](BIO* b) { return PEM_read_bio_X509(b, nullptr, NoPassphrase, nullptr); });
}

Result<PkeyPtr> LoadPrivateKey(const std::string& path) {
  return ParsePemFile<PkeyPtr>(path, "private key",
                               [](BIO* b) { return PEM_read_bio_PrivateKey(b, nullptr, NoPassphrase, nullptr); });
}

Result<X509CrlPtr> LoadCrl(const std::string& path) {
  return ParsePemFile<X509CrlPtr>(path, "certificate revocation list",
                                  [](BIO* b) { return PEM_read_bio_X509_CRL(b, nullptr, NoPassphrase, nullptr); });
}

Result<std::string> CertificatePem(X509* cert) {
  return WritePem("certificate", false, [cert](BIO* b) { return PEM_write_bio_X509(b, cert); });
}

Result<std::string> PrivateKeyPem(EVP_PKEY* key) {
  return WritePem("private key", true, [key](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
}

Result<std::string> CrlPem(X509_CRL* crl) {
  return WritePem("revocation list", false, [crl](BIO* b) { return PEM_write_bio_X509_CRL(b, crl); });
}

}  // namespace tls
}  // namespace deltaswarm
