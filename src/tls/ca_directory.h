// A cluster CA directory opened for signing: its certificate and key.
#pragma once

#include <string>

#include "tls/openssl_util.h"

namespace deltaswarm::tls {

struct CertificateAuthority {
  X509Ptr cert;
  PkeyPtr key;
  std::string cert_path;
  std::string key_path;
};

// Loads DIR/ca.pem and DIR/ca.key; kMismatch when the key is not the
// certificate's, kInvalidArgument when the certificate is not a CA's.
Result<CertificateAuthority> OpenCertificateAuthority(const std::string& ca_dir);

}  // namespace deltaswarm::tls
