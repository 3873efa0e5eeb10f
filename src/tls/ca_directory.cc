#include "tls/ca_directory.h"

#include <openssl/err.h>

#include "deltaswarm/tls.h"

namespace deltaswarm {

namespace {
std::string InDirectory(const std::string& dir, const char* name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}
}  // namespace

std::string CaCertPath(const std::string& ca_dir) { return InDirectory(ca_dir, "ca.pem"); }
std::string CaKeyPath(const std::string& ca_dir) { return InDirectory(ca_dir, "ca.key"); }
std::string CrlPath(const std::string& ca_dir) { return InDirectory(ca_dir, "crl.pem"); }

std::string KeyPathFor(const std::string& cert_path) {
  const std::string pem = ".pem";
  if (cert_path.size() > pem.size() && cert_path.compare(cert_path.size() - pem.size(), pem.size(), pem) == 0)
    return cert_path.substr(0, cert_path.size() - pem.size()) + ".key";
  return cert_path + ".key";
}

namespace tls {

Result<CertificateAuthority> OpenCertificateAuthority(const std::string& ca_dir) {
  CertificateAuthority ca;
  ca.cert_path = CaCertPath(ca_dir);
  ca.key_path = CaKeyPath(ca_dir);
  DS_ASSIGN_OR_RETURN(ca.cert, LoadCertificate(ca.cert_path));
  DS_ASSIGN_OR_RETURN(ca.key, LoadPrivateKey(ca.key_path));
  if (X509_check_ca(ca.cert.get()) == 0) return InvalidArgument(ca.cert_path + ": not a CA certificate");
  if (X509_check_private_key(ca.cert.get(), ca.key.get()) != 1) {
    ERR_clear_error();
    return Mismatch(ca.key_path + ": not the key of " + ca.cert_path);
  }
  return ca;
}

}  // namespace tls
}  // namespace deltaswarm
