// deltaswarm ca init|issue|revoke|show: the cluster CA of a closed swarm
// (docs/SECURITY.md).
#include "command.h"
#include "deltaswarm/tls.h"

namespace deltaswarm::cli {

namespace {

nlohmann::json InfoJson(const CertificateInfo& info) {
  return {{"subject", info.subject},
          {"serial", info.serial_hex},
          {"not_before", info.not_before},
          {"not_after", info.not_after}};
}

void AddInit(CLI::App* ca, Registry& registry) {
  auto a = std::make_shared<CaInitOptions>();
  CLI::App* sub = ca->add_subcommand(
      "init", "Make a new cluster CA in DIR: ca.pem (certificate), ca.key (private key, mode 0600) and an "
              "empty revocation list crl.pem");
  sub->add_option("-o,--output", a->dir, "CA directory (created, mode 0700, if missing)")->required();
  sub->add_option("--name", a->name, "The CA's subject CN")->capture_default_str();
  sub->add_option("--days", a->days, "Validity of the CA certificate, in days")->capture_default_str();
  sub->add_flag("--force", a->force, "Replace a CA already in DIR (every certificate it issued stops working)");
  AddOutputFlags(sub, registry);
  sub->callback([a, &registry] {
    registry.chosen = "ca init";
    registry.body = [a](ProgressFn) -> Result<CommandOutput> {
      DS_RETURN_IF_ERROR(InitCertificateAuthority(*a));
      DS_ASSIGN_OR_RETURN(CertificateInfo info, InspectCertificate(CaCertPath(a->dir)));
      CommandOutput out;
      out.result = InfoJson(info);
      out.result.update({{"ca_cert", CaCertPath(a->dir)}, {"ca_key", CaKeyPath(a->dir)}, {"crl", CrlPath(a->dir)}});
      out.text = CaCertPath(a->dir) + ": new cluster CA \"" + info.subject + "\", valid until " +
                 UtcText(info.not_after) + "\n" + CaKeyPath(a->dir) +
                 ": its private key (mode 0600; it need not leave this machine)\n" + CrlPath(a->dir) +
                 ": revocation list, empty\n";
      return out;
    };
  });
}

void AddIssue(CLI::App* ca, Registry& registry) {
  auto a = std::make_shared<IssueOptions>();
  CLI::App* sub = ca->add_subcommand(
      "issue", "Issue a node certificate signed by the CA: FILE, and its key (mode 0600) beside it "
               "(node.pem -> node.key); prints both paths and the serial");
  sub->add_option("--ca", a->ca_dir, "CA directory (from ca init)")->required();
  sub->add_option("--name", a->name, "Subject CN, e.g. the node's host name")->required();
  sub->add_option("--days", a->days, "Validity in days (never beyond the CA's)")->capture_default_str();
  sub->add_option("--host", a->hosts,
                  "An extra subjectAltName a server answers on: an IP address (IP:) or a DNS name; "
                  "repeatable or comma-separated. DNS:* is always there")
      ->delimiter(',');
  sub->add_option("-o,--output", a->out, "Certificate path (PEM)")->required();
  sub->add_flag("--force", a->force, "Replace an existing certificate and key");
  AddOutputFlags(sub, registry);
  sub->callback([a, &registry] {
    registry.chosen = "ca issue";
    registry.body = [a](ProgressFn) -> Result<CommandOutput> {
      DS_ASSIGN_OR_RETURN(IssuedCertificate issued, IssueCertificate(*a));
      // Read back: proves the file is a loadable certificate and gives its validity.
      DS_ASSIGN_OR_RETURN(CertificateInfo info, InspectCertificate(issued.cert_path));
      CommandOutput out;
      out.result = InfoJson(info);
      out.result.update({{"cert", issued.cert_path}, {"key", issued.key_path}});
      out.text = "certificate " + issued.cert_path + " (CN=" + info.subject + ", valid until " +
                 UtcText(info.not_after) + ")\nkey         " + issued.key_path + " (mode 0600)\nserial      " +
                 issued.serial_hex + "\n";
      return out;
    };
  });
}

void AddRevoke(CLI::App* ca, Registry& registry) {
  struct RevokeArgs {
    std::string ca_dir, cert;
  };
  auto a = std::make_shared<RevokeArgs>();
  CLI::App* sub = ca->add_subcommand(
      "revoke", "Add CERT to the CA's crl.pem and re-sign it: versions published from now on refuse it "
                "(earlier versions keep their list); revoking twice is not an error");
  sub->add_option("--ca", a->ca_dir, "CA directory that issued CERT")->required();
  sub->add_option("cert", a->cert, "The certificate to revoke (PEM)")->required();
  AddOutputFlags(sub, registry);
  sub->callback([a, &registry] {
    registry.chosen = "ca revoke";
    registry.body = [a](ProgressFn) -> Result<CommandOutput> {
      DS_ASSIGN_OR_RETURN(CertificateInfo info, InspectCertificate(a->cert));
      DS_RETURN_IF_ERROR(RevokeCertificate(a->ca_dir, a->cert));
      CommandOutput out;
      out.result = InfoJson(info);
      out.result.update({{"cert", a->cert}, {"crl", CrlPath(a->ca_dir)}});
      out.text = a->cert + ": serial " + info.serial_hex + " (CN=" + info.subject + ") revoked in " +
                 CrlPath(a->ca_dir) + "; versions published from now on refuse it\n";
      return out;
    };
  });
}

void AddShow(CLI::App* ca, Registry& registry) {
  auto cert = std::make_shared<std::string>();
  CLI::App* sub = ca->add_subcommand(
      "show", "Print a certificate's subject, serial and validity; exit 2 with a one-line error if it has "
              "expired or is not valid yet");
  sub->add_option("cert", *cert, "Certificate (PEM)")->required();
  AddOutputFlags(sub, registry);
  sub->callback([cert, &registry] {
    registry.chosen = "ca show";
    registry.body = [cert](ProgressFn) -> Result<CommandOutput> {
      DS_ASSIGN_OR_RETURN(CertificateInfo info, InspectCertificate(*cert));
      DS_RETURN_IF_ERROR(CheckValidNow(info, *cert));
      CommandOutput out;
      out.result = InfoJson(info);
      out.result["cert"] = *cert;
      out.text = "subject  " + info.subject + "\nserial   " + info.serial_hex + "\nvalid    " +
                 UtcText(info.not_before) + " to " + UtcText(info.not_after) + "\n";
      return out;
    };
  });
}

}  // namespace

void AddCaCommand(CLI::App& app, Registry& registry) {
  CLI::App* ca = app.add_subcommand(
      "ca", "The cluster certificate authority of a closed swarm, where only holders of its certificates "
            "download (docs/SECURITY.md): init, issue, revoke, show");
  ca->require_subcommand(1);
  AddInit(ca, registry);
  AddIssue(ca, registry);
  AddRevoke(ca, registry);
  AddShow(ca, registry);
}

}  // namespace deltaswarm::cli
