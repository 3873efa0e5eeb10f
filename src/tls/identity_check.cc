// CheckIdentity: what a role verifies about its own certificate before it
// joins a closed swarm, so that a bad file fails at start with one line
// instead of as refused TLS handshakes later.
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "deltaswarm/tls.h"
#include "tls/asn1_time.h"
#include "tls/certificate_info.h"
#include "tls/openssl_util.h"

namespace deltaswarm {

Status CheckValidNow(const CertificateInfo& info, const std::string& cert_path) {
  int64_t now = tls::NowUnixSeconds();
  if (now > info.not_after)
    return InvalidArgument(cert_path + ": certificate expired on " + UtcText(info.not_after));
  if (now < info.not_before)
    return InvalidArgument(cert_path + ": certificate not valid before " + UtcText(info.not_before));
  return Status::Ok();
}

namespace {

bool IsWrongIssuer(int error) {
  return error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY || error == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
         error == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE || error == X509_V_ERR_CERT_SIGNATURE_FAILURE ||
         error == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT || error == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN;
}

// The chain check a peer makes of us (without the CRL: revocation is judged
// by the seeds of each version, docs/SECURITY.md).
Status CheckIssuedBy(X509* cert, const std::string& cert_path, const std::string& ca_path) {
  DS_ASSIGN_OR_RETURN(tls::X509Ptr ca, tls::LoadCertificate(ca_path));
  tls::X509StorePtr store(X509_STORE_new());
  tls::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca.get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert, nullptr) != 1)
    return IoError(ca_path + ": cannot set up verification: " + tls::TakeOpenSslError());
  int verified = X509_verify_cert(ctx.get());
  int error = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  if (verified == 1) return Status::Ok();
  if (IsWrongIssuer(error)) return Mismatch(cert_path + ": not issued by " + ca_path);
  return Mismatch(cert_path + ": does not verify against " + ca_path + ": " +
                  X509_verify_cert_error_string(error));
}

}  // namespace

Result<CertificateInfo> CheckIdentity(const TlsIdentity& identity) {
  if (identity.cert.empty() != identity.key.empty()) return InvalidArgument("tls: cert and key go together");
  if (identity.cert.empty()) return InvalidArgument("tls: no certificate to check");
  DS_ASSIGN_OR_RETURN(tls::X509Ptr cert, tls::LoadCertificate(identity.cert));
  DS_ASSIGN_OR_RETURN(tls::PkeyPtr key, tls::LoadPrivateKey(identity.key));
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return Mismatch(identity.key + ": not the key of " + identity.cert);
  }
  DS_ASSIGN_OR_RETURN(CertificateInfo info, tls::DescribeCertificate(cert.get(), identity.cert));
  DS_RETURN_IF_ERROR(CheckValidNow(info, identity.cert));
  if (!identity.ca.empty()) DS_RETURN_IF_ERROR(CheckIssuedBy(cert.get(), identity.cert, identity.ca));
  return info;
}

}  // namespace deltaswarm
