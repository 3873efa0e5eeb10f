#include "tls/crl.h"

#include <openssl/x509v3.h>

#include "tls/asn1_time.h"

namespace deltaswarm::tls {

namespace {

// Copies previous's entries into crl (the caller re-sorts and signs).
Status CopyRevokedEntries(const X509_CRL* previous, X509_CRL* crl) {
  STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(const_cast<X509_CRL*>(previous));
  for (int i = 0; i < sk_X509_REVOKED_num(entries); ++i) {
    X509RevokedPtr copy(X509_REVOKED_dup(sk_X509_REVOKED_value(entries, i)));
    if (!copy || X509_CRL_add0_revoked(crl, copy.get()) != 1) return IoError("cannot copy a CRL entry");
    copy.release();  // crl owns it now
  }
  return Status::Ok();
}

Status AddRevokedSerial(X509_CRL* crl, const ASN1_INTEGER* serial, int64_t now) {
  X509RevokedPtr entry(X509_REVOKED_new());
  Asn1TimePtr when(ASN1_TIME_set(nullptr, static_cast<time_t>(now)));
  if (!entry || !when || X509_REVOKED_set_serialNumber(entry.get(), const_cast<ASN1_INTEGER*>(serial)) != 1 ||
      X509_REVOKED_set_revocationDate(entry.get(), when.get()) != 1 || X509_CRL_add0_revoked(crl, entry.get()) != 1)
    return IoError("cannot add a CRL entry: " + TakeOpenSslError());
  entry.release();  // crl owns it now
  return Status::Ok();
}

// previous's crlNumber + 1, or 1: lets a reader tell the newer of two lists.
Status SetCrlNumber(X509_CRL* crl, const X509_CRL* previous) {
  BignumPtr number(BN_new());
  if (!number) return IoError("out of memory");
  BN_one(number.get());
  if (previous) {
    Asn1IntegerPtr old(static_cast<ASN1_INTEGER*>(
        X509_CRL_get_ext_d2i(previous, NID_crl_number, nullptr, nullptr)));
    if (old && ASN1_INTEGER_to_BN(old.get(), number.get())) BN_add_word(number.get(), 1);
  }
  Asn1IntegerPtr value(BN_to_ASN1_INTEGER(number.get(), nullptr));
  if (!value || X509_CRL_add1_ext_i2d(crl, NID_crl_number, value.get(), 0, X509V3_ADD_REPLACE) != 1)
    return IoError("cannot set the crlNumber: " + TakeOpenSslError());
  return Status::Ok();
}

Status SetAuthorityKeyId(X509_CRL* crl, X509* ca_cert) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca_cert, nullptr, nullptr, crl, 0);
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, NID_authority_key_identifier, "keyid:always"));
  if (!ext || X509_CRL_add_ext(crl, ext.get(), -1) != 1)
    return IoError("cannot set the CRL's authorityKeyIdentifier: " + TakeOpenSslError());
  return Status::Ok();
}

}  // namespace

bool CrlListsSerial(const X509_CRL* crl, const ASN1_INTEGER* serial) {
  STACK_OF(X509_REVOKED)* entries = X509_CRL_get_REVOKED(const_cast<X509_CRL*>(crl));
  for (int i = 0; i < sk_X509_REVOKED_num(entries); ++i)
    if (ASN1_INTEGER_cmp(X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(entries, i)), serial) == 0)
      return true;
  return false;
}

Result<X509CrlPtr> SignCrl(const CertificateAuthority& ca, const X509_CRL* previous,
                           const ASN1_INTEGER* add_serial) {
  X509CrlPtr crl(X509_CRL_new());
  int64_t now = NowUnixSeconds();
  Asn1TimePtr last_update(ASN1_TIME_set(nullptr, static_cast<time_t>(now - kClockSkewAllowanceS)));
  if (!crl || !last_update || X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(ca.cert.get())) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), last_update.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), X509_get0_notAfter(ca.cert.get())) != 1)
    return IoError("cannot build a revocation list for " + ca.cert_path + ": " + TakeOpenSslError());
  if (previous) DS_RETURN_IF_ERROR(CopyRevokedEntries(previous, crl.get()));
  if (add_serial && !(previous && CrlListsSerial(previous, add_serial)))
    DS_RETURN_IF_ERROR(AddRevokedSerial(crl.get(), add_serial, now));
  DS_RETURN_IF_ERROR(SetCrlNumber(crl.get(), previous));
  DS_RETURN_IF_ERROR(SetAuthorityKeyId(crl.get(), ca.cert.get()));
  if (X509_CRL_sort(crl.get()) != 1 || X509_CRL_sign(crl.get(), ca.key.get(), EVP_sha256()) <= 0)
    return IoError("cannot sign the revocation list with " + ca.key_path + ": " + TakeOpenSslError());
  return crl;
}

}  // namespace deltaswarm::tls
