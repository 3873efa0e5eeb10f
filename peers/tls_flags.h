// The TLS flags of every role that joins a swarm (--tls-cert, --tls-key,
// --tls-ca), bound to the config keys of src/config/tls_keys.h, and the
// warning an open swarm prints at start.
#pragma once

#include <iostream>
#include <string>

#include "config_flags.h"
#include "deltaswarm/tls.h"

namespace deltaswarm::cli {

inline constexpr char kTlsCaHelp[] = "The cluster CA certificate (PEM): checks --tls-cert, verifies an https:// bucket";

// ca_help: what --tls-ca means for this role (the publisher's makes TLS torrents).
template <typename Options>
void BindTlsFlags(ConfigFlags<Options>& c, TlsIdentity Options::*tls, const std::string& ca_help = kTlsCaHelp) {
  c.Bind("--tls-cert", tls, &TlsIdentity::cert, "tls_cert",
         "This node's certificate (PEM, from 'deltaswarm ca issue'); needed to join a closed swarm");
  c.Bind("--tls-key", tls, &TlsIdentity::key, "tls_key", "The private key of --tls-cert (PEM)");
  c.Bind("--tls-ca", tls, &TlsIdentity::ca, "tls_ca", ca_help);
}

// For the commands without a config file (seed).
inline void AddTlsOptions(CLI::App* sub, TlsIdentity& tls) {
  sub->add_option("--tls-cert", tls.cert,
                  "This node's certificate (PEM, from 'deltaswarm ca issue'); needed to join a closed swarm");
  sub->add_option("--tls-key", tls.key, "The private key of --tls-cert (PEM)");
  sub->add_option("--tls-ca", tls.ca, kTlsCaHelp);
}

// One line on stderr when a role serves an open swarm: anyone who reaches
// its port can download what it holds.
inline void WarnIfOpenSwarm(const TlsIdentity& tls, const std::string& role) {
  if (tls.has_certificate()) return;
  std::cerr << "deltaswarm " << role
            << ": warning: no TLS certificate (tls_cert): any host that reaches the swarm port can download "
               "open torrents from it\n";
}

}  // namespace deltaswarm::cli
