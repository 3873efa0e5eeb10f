#include "tls/certificate_info.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>

#include <cctype>

#include "tls/asn1_time.h"

namespace deltaswarm {

namespace tls {

namespace {

// The subject's CN; the whole subject in RFC 2253 form if it has none.
std::string SubjectText(X509* cert) {
  X509_NAME* name = X509_get_subject_name(cert);
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index >= 0) {
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index)));
    if (n >= 0) {
      std::string cn(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
      OPENSSL_free(utf8);
      return cn;
    }
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return "";
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

std::string SerialHex(const ASN1_INTEGER* serial) {
  BignumPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  char* hex = bn ? BN_bn2hex(bn.get()) : nullptr;
  if (!hex) return "";
  std::string text(hex);
  OPENSSL_free(hex);
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

Result<CertificateInfo> DescribeCertificate(X509* cert, const std::string& path) {
  CertificateInfo info;
  info.subject = SubjectText(cert);
  info.serial_hex = SerialHex(X509_get0_serialNumber(cert));
  DS_ASSIGN_OR_RETURN(info.not_before, UnixSeconds(X509_get0_notBefore(cert), path + ": notBefore"));
  DS_ASSIGN_OR_RETURN(info.not_after, UnixSeconds(X509_get0_notAfter(cert), path + ": notAfter"));
  return info;
}

}  // namespace tls

Result<CertificateInfo> InspectCertificate(const std::string& cert_path) {
  DS_ASSIGN_OR_RETURN(tls::X509Ptr cert, tls::LoadCertificate(cert_path));
  return tls::DescribeCertificate(cert.get(), cert_path);
}

}  // namespace deltaswarm
