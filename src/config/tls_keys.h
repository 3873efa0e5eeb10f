// The TLS keys of every role that joins a swarm or reads an HTTPS bucket:
// one definition, so that their names and meaning never drift apart.
#pragma once

#include "config/schema.h"
#include "deltaswarm/tls.h"

namespace deltaswarm::config {

inline constexpr char kTlsCaDoc[] = "the cluster CA certificate (PEM): checks tls_cert and verifies an https:// bucket";

// ca_doc: what tls_ca means for this role (the publisher's makes TLS torrents).
template <typename T>
void AddTlsKeys(Schema<T>& s, TlsIdentity T::*tls, const std::string& ca_doc = kTlsCaDoc) {
  s.Optional("tls_cert", tls, &TlsIdentity::cert,
             "this node's certificate (PEM, from `deltaswarm ca issue`); needed to join a closed swarm")
      .Optional("tls_key", tls, &TlsIdentity::key, "the private key of tls_cert (PEM)")
      .Optional("tls_ca", tls, &TlsIdentity::ca, ca_doc);
}

}  // namespace deltaswarm::config
