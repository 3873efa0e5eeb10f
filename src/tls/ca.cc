// InitCertificateAuthority: a new cluster CA directory.
#include <sys/stat.h>

#include <cerrno>
#include <filesystem>

#include "core/file.h"
#include "deltaswarm/tls.h"
#include "tls/asn1_time.h"
#include "tls/certificate_builder.h"
#include "tls/crl.h"
#include "tls/pending_outputs.h"

namespace deltaswarm {

namespace {

// mkdir -p; a directory made here is 0700, as it is to hold the CA's key.
Status CreateCaDirectory(const std::string& dir) {
  if (IsDirectory(dir)) return Status::Ok();
  DS_RETURN_IF_ERROR(CreateParentDirectories(dir));
  Status made = MakeDirectory(dir, 0700);
  return made.code() == Code::kAlreadyExists ? Status::Ok() : made;
}

}  // namespace

Status InitCertificateAuthority(const CaInitOptions& options) {
  if (options.dir.empty()) return InvalidArgument("ca init: no directory given");
  DS_RETURN_IF_ERROR(tls::CheckCommonName(options.name));
  DS_RETURN_IF_ERROR(tls::CheckValidityDays(options.days));
  tls::CertificateAuthority ca;
  ca.cert_path = CaCertPath(options.dir);
  ca.key_path = CaKeyPath(options.dir);
  const std::string crl_path = CrlPath(options.dir);

  tls::PendingOutputs outputs(options.force);
  for (const std::string& path : {ca.key_path, ca.cert_path, crl_path}) DS_RETURN_IF_ERROR(outputs.Refuse(path));
  DS_RETURN_IF_ERROR(CreateCaDirectory(options.dir));

  DS_ASSIGN_OR_RETURN(ca.key, tls::NewP256Key());
  int64_t now = tls::NowUnixSeconds();
  tls::CertificateSpec spec;
  spec.common_name = options.name;
  spec.subject_key = ca.key.get();
  spec.issuer_key = ca.key.get();
  spec.not_before = now - tls::kClockSkewAllowanceS;
  spec.not_after = now + int64_t{options.days} * 86400;
  spec.extensions = {{NID_basic_constraints, "critical,CA:TRUE"},
                     {NID_key_usage, "critical,keyCertSign,cRLSign"},
                     {NID_subject_key_identifier, "hash"},
                     {NID_authority_key_identifier, "keyid:always"}};
  DS_ASSIGN_OR_RETURN(ca.cert, tls::BuildCertificate(spec));
  // An empty list from the start: with CRL checking on, OpenSSL refuses a
  // peer whose issuer has no CRL at all.
  DS_ASSIGN_OR_RETURN(tls::X509CrlPtr crl, tls::SignCrl(ca, nullptr, nullptr));

  tls::WipedString key_pem;
  DS_ASSIGN_OR_RETURN(key_pem.text, tls::PrivateKeyPem(ca.key.get()));
  DS_ASSIGN_OR_RETURN(std::string cert_pem, tls::CertificatePem(ca.cert.get()));
  DS_ASSIGN_OR_RETURN(std::string crl_pem, tls::CrlPem(crl.get()));
  DS_RETURN_IF_ERROR(outputs.Add(ca.key_path, key_pem.text, 0600));
  DS_RETURN_IF_ERROR(outputs.Add(ca.cert_path, cert_pem, 0644));
  DS_RETURN_IF_ERROR(outputs.Add(crl_path, crl_pem, 0644));
  return outputs.Commit();
}

}  // namespace deltaswarm
