// A cluster CA and the certificates the swarm tests present, so that every
// swarm test runs a closed swarm (TLS torrents) as a cluster would.
#pragma once

#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <vector>

#include "deltaswarm/tls.h"
#include "test_util.h"

namespace deltaswarm::testing {

struct ClusterCertificates {
  TempDir dir;
  IssuedCertificate seed, node, gateway;

  ClusterCertificates() {
    REQUIRE(InitCertificateAuthority({.dir = dir / "ca"}).ok());
    seed = Issue("seed");
    node = Issue("node");
    gateway = Issue("gateway", 0, "ca", {"127.0.0.1"});  // its HTTPS address
    std::ofstream(dh()) << Ffdhe2048Pem();
  }
  // A certificate of the CA in dir/<ca> (made by InitCertificateAuthority),
  // valid from backdate_s ago.
  IssuedCertificate Issue(const std::string& name, int64_t backdate_s = 0, const std::string& ca = "ca",
                          const std::vector<std::string>& hosts = {}) {
    IssueOptions o;
    o.ca_dir = dir / ca;
    o.name = name;
    o.out = dir / (name + ".pem");
    o.backdate_s = backdate_s;
    o.hosts = hosts;
    auto issued = IssueCertificate(o);
    REQUIRE_MESSAGE(issued.ok(), issued.status().ToString());
    return *issued;
  }
  std::string ca_cert() const { return CaCertPath(dir / "ca"); }
  std::string crl() const { return CrlPath(dir / "ca"); }
  std::string dh() const { return dir / "dh.pem"; }  // for third-party libtorrent clients
  // publish flags: TLS torrents of the cluster CA carrying its revocation list.
  std::vector<std::string> PublishFlags() const { return {"--tls-ca", ca_cert(), "--tls-crl", crl()}; }
  // A role's flags presenting certificate c.
  std::vector<std::string> Flags(const IssuedCertificate& c) const {
    return {"--tls-cert", c.cert_path, "--tls-key", c.key_path, "--tls-ca", ca_cert()};
  }
  // The same without --tls-ca, for publish, whose --tls-ca makes TLS torrents.
  std::vector<std::string> KeyFlags(const IssuedCertificate& c) const {
    return {"--tls-cert", c.cert_path, "--tls-key", c.key_path};
  }
  TlsIdentity Identity(const IssuedCertificate& c) const { return {c.cert_path, c.key_path, ca_cert()}; }
};

inline std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace deltaswarm::testing
