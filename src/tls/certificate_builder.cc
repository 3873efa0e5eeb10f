#include "tls/certificate_builder.h"

#include <openssl/bn.h>
#include <openssl/x509v3.h>

namespace deltaswarm::tls {

namespace {

// 128 random bits with the top bit set: positive, unique without a
// counter file, and under RFC 5280's 20-octet limit.
Status SetRandomSerial(X509* cert) {
  BignumPtr bn(BN_new());
  if (!bn || BN_rand(bn.get(), 128, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
      !BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)))
    return IoError("cannot make a certificate serial: " + TakeOpenSslError());
  return Status::Ok();
}

Status SetSubject(X509* cert, const std::string& common_name) {
  X509_NAME* name = X509_get_subject_name(cert);
  if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0) != 1)
    return InvalidArgument("certificate name '" + common_name + "': " + TakeOpenSslError());
  return Status::Ok();
}

Status SetValidity(X509* cert, int64_t not_before, int64_t not_after) {
  if (!ASN1_TIME_set(X509_getm_notBefore(cert), static_cast<time_t>(not_before)) ||
      !ASN1_TIME_set(X509_getm_notAfter(cert), static_cast<time_t>(not_after)))
    return IoError("cannot set the certificate's validity: " + TakeOpenSslError());
  return Status::Ok();
}

Status AddExtensions(X509* cert, const CertificateSpec& spec) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, spec.issuer ? spec.issuer : cert, cert, nullptr, nullptr, 0);
  for (const auto& [nid, value] : spec.extensions) {
    X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
      return IoError(std::string("cannot add ") + OBJ_nid2sn(nid) + " " + value + ": " + TakeOpenSslError());
  }
  if (spec.alt_names &&
      X509_add1_ext_i2d(cert, NID_subject_alt_name, const_cast<GENERAL_NAMES*>(spec.alt_names), 0,
                    X509V3_ADD_DEFAULT) != 1)
    return IoError("cannot add subjectAltName: " + TakeOpenSslError());
  return Status::Ok();
}

}  // namespace

Result<X509Ptr> BuildCertificate(const CertificateSpec& spec) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) return IoError("out of memory");
  DS_RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  DS_RETURN_IF_ERROR(SetSubject(cert.get(), spec.common_name));
  X509_NAME* issuer_name = spec.issuer ? X509_get_subject_name(spec.issuer) : X509_get_subject_name(cert.get());
  if (X509_set_issuer_name(cert.get(), issuer_name) != 1 || X509_set_pubkey(cert.get(), spec.subject_key) != 1)
    return IoError("cannot build the certificate: " + TakeOpenSslError());
  DS_RETURN_IF_ERROR(SetValidity(cert.get(), spec.not_before, spec.not_after));
  DS_RETURN_IF_ERROR(AddExtensions(cert.get(), spec));
  if (X509_sign(cert.get(), spec.issuer_key, EVP_sha256()) <= 0)
    return IoError("cannot sign the certificate: " + TakeOpenSslError());
  return cert;
}

Status CheckValidityDays(int days) {
  if (days < 1 || days > 36500) return InvalidArgument("validity of " + std::to_string(days) + " days: use 1 to 36500");
  return Status::Ok();
}

Status CheckCommonName(const std::string& name) {
  if (name.empty() || name.size() > 64)
    return InvalidArgument("certificate name '" + name + "': use 1 to 64 characters");
  return Status::Ok();
}

Result<PkeyPtr> NewP256Key() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) return IoError("EC P-256 key generation failed: " + TakeOpenSslError());
  return key;
}

}  // namespace deltaswarm::tls
