// IssueCertificate: a node certificate signed by the cluster CA.
#include <openssl/err.h>

#include <algorithm>
#include <cctype>

#include "core/file.h"
#include "deltaswarm/tls.h"
#include "tls/asn1_time.h"
#include "tls/ca_directory.h"
#include "tls/certificate_builder.h"
#include "tls/certificate_info.h"
#include "tls/pending_outputs.h"

namespace deltaswarm {

namespace {

bool IsDnsName(const std::string& host) {
  if (host.empty() || host.size() > 253) return false;
  return std::all_of(host.begin(), host.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == '*';
  });
}

Status AddDnsName(GENERAL_NAMES* names, const std::string& host) {
  tls::GeneralNamePtr name(GENERAL_NAME_new());
  ASN1_IA5STRING* text = ASN1_IA5STRING_new();
  if (!name || !text || ASN1_STRING_set(text, host.data(), static_cast<int>(host.size())) != 1) {
    ASN1_IA5STRING_free(text);
    return IoError("out of memory");
  }
  GENERAL_NAME_set0_value(name.get(), GEN_DNS, text);
  if (sk_GENERAL_NAME_push(names, name.get()) <= 0) return IoError("out of memory");
  name.release();  // names owns it now
  return Status::Ok();
}

// An IPv4 or IPv6 address becomes IP:, anything else a DNS: name.
Status AddHost(GENERAL_NAMES* names, const std::string& host) {
  if (ASN1_OCTET_STRING* address = a2i_IPADDRESS(host.c_str())) {
    tls::GeneralNamePtr name(GENERAL_NAME_new());
    if (!name) {
      ASN1_OCTET_STRING_free(address);
      return IoError("out of memory");
    }
    GENERAL_NAME_set0_value(name.get(), GEN_IPADD, address);
    if (sk_GENERAL_NAME_push(names, name.get()) <= 0) return IoError("out of memory");
    name.release();
    return Status::Ok();
  }
  ERR_clear_error();
  if (!IsDnsName(host)) return InvalidArgument("host '" + host + "': not an IP address or a DNS name");
  return AddDnsName(names, host);
}

// DNS:* first: libtorrent admits a peer to an SSL torrent only if one of its
// certificate's names matches the torrent's name or is "*".
Result<tls::GeneralNamesPtr> AltNames(const std::vector<std::string>& hosts) {
  tls::GeneralNamesPtr names(GENERAL_NAMES_new());
  if (!names) return IoError("out of memory");
  DS_RETURN_IF_ERROR(AddDnsName(names.get(), "*"));
  std::vector<std::string> seen = {"*"};
  for (const std::string& host : hosts) {
    if (std::find(seen.begin(), seen.end(), host) != seen.end()) continue;
    seen.push_back(host);
    DS_RETURN_IF_ERROR(AddHost(names.get(), host));
  }
  return names;
}

}  // namespace

Result<IssuedCertificate> IssueCertificate(const IssueOptions& options) {
  DS_RETURN_IF_ERROR(tls::CheckCommonName(options.name));
  DS_RETURN_IF_ERROR(tls::CheckValidityDays(options.days));
  if (options.out.empty()) return InvalidArgument("ca issue: no output certificate path given");
  if (options.backdate_s < 0) return InvalidArgument("ca issue: backdate_s must not be negative");
  IssuedCertificate issued;
  issued.cert_path = options.out;
  issued.key_path = KeyPathFor(options.out);
  tls::PendingOutputs outputs(options.force);
  DS_RETURN_IF_ERROR(outputs.Refuse(issued.key_path));
  DS_RETURN_IF_ERROR(outputs.Refuse(issued.cert_path));
  DS_ASSIGN_OR_RETURN(tls::GeneralNamesPtr alt_names, AltNames(options.hosts));
  DS_ASSIGN_OR_RETURN(tls::CertificateAuthority ca, tls::OpenCertificateAuthority(options.ca_dir));
  DS_ASSIGN_OR_RETURN(int64_t ca_not_after, tls::UnixSeconds(X509_get0_notAfter(ca.cert.get()), ca.cert_path));

  DS_ASSIGN_OR_RETURN(tls::PkeyPtr key, tls::NewP256Key());
  int64_t start = tls::NowUnixSeconds() - options.backdate_s;
  tls::CertificateSpec spec;
  spec.common_name = options.name;
  spec.subject_key = key.get();
  spec.issuer = ca.cert.get();
  spec.issuer_key = ca.key.get();
  spec.not_before = start - tls::kClockSkewAllowanceS;
  // A certificate is of no use after its CA expires; it ends there at the latest.
  spec.not_after = std::min(start + int64_t{options.days} * 86400, ca_not_after);
  spec.extensions = {{NID_basic_constraints, "critical,CA:FALSE"},
                     {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                     {NID_ext_key_usage, "serverAuth,clientAuth"},
                     {NID_subject_key_identifier, "hash"},
                     {NID_authority_key_identifier, "keyid:always"}};
  spec.alt_names = alt_names.get();
  DS_ASSIGN_OR_RETURN(tls::X509Ptr cert, tls::BuildCertificate(spec));
  issued.serial_hex = tls::SerialHex(X509_get0_serialNumber(cert.get()));

  tls::WipedString key_pem;
  DS_ASSIGN_OR_RETURN(key_pem.text, tls::PrivateKeyPem(key.get()));
  DS_ASSIGN_OR_RETURN(std::string cert_pem, tls::CertificatePem(cert.get()));
  DS_RETURN_IF_ERROR(CreateParentDirectories(options.out));
  DS_RETURN_IF_ERROR(outputs.Add(issued.key_path, key_pem.text, 0600));
  DS_RETURN_IF_ERROR(outputs.Add(issued.cert_path, cert_pem, 0644));
  DS_RETURN_IF_ERROR(outputs.Commit());
  return issued;
}

}  // namespace deltaswarm
