// RevokeCertificate: adds a certificate to its CA's revocation list.
#include <openssl/err.h>

#include "core/file.h"
#include "deltaswarm/tls.h"
#include "tls/crl.h"
#include "tls/pending_outputs.h"

namespace deltaswarm {

namespace {

// Only a certificate this CA signed can be revoked by it: a stranger's
// serial in the list would revoke nothing and hide the mistake.
Status CheckIssuedBy(const tls::CertificateAuthority& ca, X509* cert, const std::string& cert_path) {
  tls::PkeyPtr ca_public(X509_get_pubkey(ca.cert.get()));
  bool signed_by_ca = ca_public && X509_check_issued(ca.cert.get(), cert) == X509_V_OK &&
                      X509_verify(cert, ca_public.get()) == 1;
  ERR_clear_error();
  if (!signed_by_ca) return Mismatch(cert_path + ": not issued by " + ca.cert_path);
  return Status::Ok();
}

// The current list, its signature checked; none yet (a CA directory from
// before crl.pem existed) is an empty list.
Result<tls::X509CrlPtr> LoadCurrentCrl(const tls::CertificateAuthority& ca, const std::string& crl_path) {
  if (!PathExists(crl_path)) return tls::X509CrlPtr();
  DS_ASSIGN_OR_RETURN(tls::X509CrlPtr crl, tls::LoadCrl(crl_path));
  tls::PkeyPtr ca_public(X509_get_pubkey(ca.cert.get()));
  bool signed_by_ca = ca_public && X509_CRL_verify(crl.get(), ca_public.get()) == 1;
  ERR_clear_error();
  if (!signed_by_ca) return Corruption(crl_path + ": not signed by " + ca.cert_path);
  return crl;
}

}  // namespace

Status RevokeCertificate(const std::string& ca_dir, const std::string& cert_path) {
  DS_ASSIGN_OR_RETURN(tls::CertificateAuthority ca, tls::OpenCertificateAuthority(ca_dir));
  DS_ASSIGN_OR_RETURN(tls::X509Ptr cert, tls::LoadCertificate(cert_path));
  DS_RETURN_IF_ERROR(CheckIssuedBy(ca, cert.get(), cert_path));
  const std::string crl_path = CrlPath(ca_dir);
  DS_ASSIGN_OR_RETURN(tls::X509CrlPtr current, LoadCurrentCrl(ca, crl_path));
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert.get());
  if (current && tls::CrlListsSerial(current.get(), serial)) return Status::Ok();  // revoked already

  DS_ASSIGN_OR_RETURN(tls::X509CrlPtr next, tls::SignCrl(ca, current.get(), serial));
  DS_ASSIGN_OR_RETURN(std::string pem, tls::CrlPem(next.get()));
  tls::PendingOutputs outputs(/*replace=*/true);
  DS_RETURN_IF_ERROR(outputs.Add(crl_path, pem, 0644));
  return outputs.Commit();
}

}  // namespace deltaswarm
