// Closed swarms: a cluster certificate authority, the node certificates it
// issues, the revocation list, and the identity a role presents
// (docs/SECURITY.md).
//
// Every role that joins a swarm or talks to an HTTPS bucket takes a
// TlsIdentity. Swarms of TLS torrents (the publisher put the CA certificate
// into them) accept only peers whose certificate that CA issued and has not
// revoked; the HTTP bucket client presents the identity and verifies the
// server against the CA.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "deltaswarm/status.h"

namespace deltaswarm {

// PEM files; all empty: no TLS. cert and key go together.
struct TlsIdentity {
  std::string cert;  // this node's certificate, issued by the cluster CA
  std::string key;   // its private key
  std::string ca;    // the cluster CA certificate (verifies HTTPS servers and clients)

  bool has_certificate() const { return !cert.empty(); }
};

// The files of a cluster CA directory.
std::string CaCertPath(const std::string& ca_dir);  // DIR/ca.pem
std::string CaKeyPath(const std::string& ca_dir);   // DIR/ca.key (mode 0600)
std::string CrlPath(const std::string& ca_dir);     // DIR/crl.pem

struct CaInitOptions {
  std::string dir;                          // created if missing; must not hold a CA unless force
  std::string name = "deltaswarm cluster CA";  // the CA's subject CN
  int days = 3650;
  bool force = false;
};
// Writes DIR/ca.pem (self-signed, CA:TRUE), DIR/ca.key and an empty DIR/crl.pem.
Status InitCertificateAuthority(const CaInitOptions& options);

struct IssueOptions {
  std::string ca_dir;
  std::string name;                // subject CN, e.g. the node's host name
  int days = 365;
  std::vector<std::string> hosts;  // extra subjectAltNames (DNS names or IP addresses) a server answers on
  std::string out;                 // the certificate; its key goes to KeyPathFor(out)
  // Shifts the validity window back by this many seconds (tests: a
  // certificate that has already expired).
  int64_t backdate_s = 0;
  bool force = false;
};
struct IssuedCertificate {
  std::string cert_path;
  std::string key_path;
  std::string serial_hex;
};
// A node certificate: subjectAltName DNS:* (libtorrent admits a peer to an
// SSL torrent only if a name matches the torrent's or is "*") plus hosts;
// serverAuth and clientAuth, since a peer is both.
Result<IssuedCertificate> IssueCertificate(const IssueOptions& options);
// "node.pem" -> "node.key"; other names get ".key" appended.
std::string KeyPathFor(const std::string& cert_path);

// Adds the certificate's serial to DIR/crl.pem and re-signs it. Versions
// published afterwards carry the new list, and their seeds refuse that
// certificate. Revoking twice is not an error.
Status RevokeCertificate(const std::string& ca_dir, const std::string& cert_path);

struct CertificateInfo {
  std::string subject;     // CN
  std::string serial_hex;
  int64_t not_before = 0;  // Unix seconds
  int64_t not_after = 0;
};
// The identity a role starts with: cert and key readable PEM, the key belongs
// to the certificate, now within its validity, and (if ca is given) issued by
// ca. One-line errors naming the file: "node.pem: certificate expired on
// 2026-12-01 10:00:00 UTC".
Result<CertificateInfo> CheckIdentity(const TlsIdentity& identity);
// What a PEM certificate says (`ca show`), without a key and without judging
// its validity; kInvalidArgument "<path>: not a PEM certificate".
Result<CertificateInfo> InspectCertificate(const std::string& cert_path);

// kInvalidArgument "node.pem: certificate expired on ..." (or "not valid
// before ...") unless now is within info's validity.
Status CheckValidNow(const CertificateInfo& info, const std::string& cert_path);

// "2026-12-01 10:00:00 UTC": how certificate times read in messages.
std::string UtcText(int64_t unix_seconds);

// Reads a whole PEM file (a certificate, a CRL), at most 1 MiB.
Result<std::string> ReadPemFile(const std::string& path);

// RFC 7919's ffdhe2048 group as PEM DH parameters: libtorrent wants DH
// parameters for every SSL torrent, and OpenSSL 3 refuses groups under 2048 bits.
const std::string& Ffdhe2048Pem();

}  // namespace deltaswarm
