// Makes and signs X509 v3 certificates: the CA's own (self-signed) and the
// node certificates it issues.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tls/openssl_util.h"

namespace deltaswarm::tls {

struct CertificateSpec {
  std::string common_name;        // the subject: CN=common_name, nothing else
  EVP_PKEY* subject_key = nullptr;  // its public half goes into the certificate
  X509* issuer = nullptr;         // nullptr: self-signed by subject_key
  EVP_PKEY* issuer_key = nullptr;  // signs (SHA-256); the subject key when self-signed
  int64_t not_before = 0;         // Unix seconds
  int64_t not_after = 0;
  // v3 extensions in OpenSSL's config syntax ("critical,CA:TRUE"), added in
  // order: subjectKeyIdentifier before authorityKeyIdentifier.
  std::vector<std::pair<int, std::string>> extensions;
  const GENERAL_NAMES* alt_names = nullptr;  // subjectAltName, if any
};

// kInvalidArgument for a name OpenSSL refuses, kIoError for a failure inside OpenSSL.
Result<X509Ptr> BuildCertificate(const CertificateSpec& spec);

// kInvalidArgument unless 1 <= days <= 36500 (a hundred years).
Status CheckValidityDays(int days);
// kInvalidArgument unless 1 to 64 bytes (X.509's limit for a CN).
Status CheckCommonName(const std::string& name);

// A fresh EC P-256 (prime256v1) key.
Result<PkeyPtr> NewP256Key();

}  // namespace deltaswarm::tls
