// The libtorrent settings a Swarm runs with, and endpoint parsing.
#pragma once

#include <string>

#include <libtorrent/ip_filter.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/socket.hpp>

#include "deltaswarm/status.h"
#include "deltaswarm/swarm.h"

namespace deltaswarm {

// "1.2.3.4:6881" or "[::1]:6881"; kInvalidArgument otherwise. Port 0 only if allow_port0.
Result<lt::tcp::endpoint> ParseEndpoint(const std::string& text, bool allow_port0 = false);

// libtorrent's listen_interfaces for "ip:port": with a certificate (a closed
// swarm) the socket speaks TLS only ("ip:port" + "s").
std::string ListenInterfaces(const std::string& listen, const SwarmOptions& options);

// Settings measured to work for our swarms (/work/shared/notes/libtorrent.md):
// no DHT/LSD/UPnP/NAT-PMP, TCP only, several peers per IP (loopback, NAT),
// rate limits, short tick, the disk threads the options ask for.
Result<lt::settings_pack> MakeSettings(const SwarmOptions& options);

// Puts every address in the global peer class only. By default loopback and
// LAN addresses are in the "local" class, which ignores the rate limits.
lt::ip_filter GlobalPeerClassFilter();

}  // namespace deltaswarm
