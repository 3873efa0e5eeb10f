#include "swarm/session_config.h"

#include <libtorrent/alert.hpp>
#include <libtorrent/session_handle.hpp>

#include <charconv>
#include <utility>

namespace deltaswarm {

Result<lt::tcp::endpoint> ParseEndpoint(const std::string& text, bool allow_port0) {
  const auto bad = [&](const char* why) { return InvalidArgument("endpoint '" + text + "': " + why); };
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad("expected ip:port");
  std::string host = text.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']') return bad("unbalanced '['");
    host = host.substr(1, host.size() - 2);
  }
  unsigned port = 0;
  const char* first = text.data() + colon + 1;
  const char* last = text.data() + text.size();
  auto [end, ec] = std::from_chars(first, last, port);
  if (ec != std::errc() || end != last || first == last || port > 65535) return bad("bad port");
  if (port == 0 && !allow_port0) return bad("port 0");
  lt::error_code aec;
  lt::address addr = lt::make_address(host, aec);
  if (aec) return bad("not an IP address");
  return lt::tcp::endpoint(addr, static_cast<uint16_t>(port));
}

std::string ListenInterfaces(const std::string& listen, const SwarmOptions& options) {
  return options.tls.has_certificate() ? listen + "s" : listen;
}

Result<lt::settings_pack> MakeSettings(const SwarmOptions& options) {
  DS_RETURN_IF_ERROR(ParseEndpoint(options.listen, /*allow_port0=*/true).status());
  if (options.upload_rate < 0 || options.download_rate < 0)
    return InvalidArgument("swarm: rate limits must be >= 0");
  if (options.share_max_in_flight < 0) return InvalidArgument("swarm: share_max_in_flight must be >= 0");
  if (options.tick_interval_ms < 1 || options.tick_interval_ms > 1000)
    return InvalidArgument("swarm: tick_interval_ms must be in 1..1000");
  for (auto [threads, name] :
       {std::pair{options.aio_threads, "aio_threads"}, std::pair{options.hashing_threads, "hashing_threads"}})
    if (threads < 1 || threads > kMaxSwarmThreads)
      return InvalidArgument(std::string("swarm: ") + name + " must be in 1.." + std::to_string(kMaxSwarmThreads) +
                             ", not " + std::to_string(threads));
  if (options.peers.size() > Swarm::kMaxPeers)
    return InvalidArgument("swarm: more than " + std::to_string(Swarm::kMaxPeers) + " bootstrap peers");
  for (const auto& p : options.peers) DS_RETURN_IF_ERROR(ParseEndpoint(p).status());

  lt::settings_pack s;
  s.set_str(lt::settings_pack::listen_interfaces, ListenInterfaces(options.listen, options));
  // Waits wake on alerts (swarm.h): status and errors, storage for
  // cache_flushed_alert, piece_progress so that progress wakes them too,
  // peer for peer_ban_alert (Swarm::Totals counts bans).
  s.set_int(lt::settings_pack::alert_mask, lt::alert_category::status | lt::alert_category::error |
                                            lt::alert_category::storage | lt::alert_category::piece_progress |
                                            lt::alert_category::peer);
  s.set_bool(lt::settings_pack::enable_dht, false);
  s.set_bool(lt::settings_pack::enable_lsd, false);
  s.set_bool(lt::settings_pack::enable_upnp, false);
  s.set_bool(lt::settings_pack::enable_natpmp, false);
  // uTP made limited swarms slower and upload more duplicates.
  s.set_bool(lt::settings_pack::enable_outgoing_utp, false);
  s.set_bool(lt::settings_pack::enable_incoming_utp, false);
  // All peers share one IP on loopback, and may behind a NAT.
  s.set_bool(lt::settings_pack::allow_multiple_connections_per_ip, true);
  s.set_int(lt::settings_pack::upload_rate_limit, options.upload_rate);
  s.set_int(lt::settings_pack::download_rate_limit, options.download_rate);
  s.set_int(lt::settings_pack::tick_interval, options.tick_interval_ms);
  // The limits are payload and BitTorrent bytes. libtorrent would also charge
  // its estimate of TCP/IP headers (and the ACKs of what it downloads) to
  // them, which left a share seed at 2 MB/s sending 10 % below its limit.
  s.set_bool(lt::settings_pack::rate_limit_ip_overhead, false);
  s.set_int(lt::settings_pack::aio_threads, options.aio_threads);
  s.set_int(lt::settings_pack::hashing_threads, options.hashing_threads);
  // A peer that sends data failing the hash check is banned (the default;
  // said here so that nobody turns it off by accident), web seeds included.
  s.set_bool(lt::settings_pack::ban_web_seeds, true);
  // A share seed says so in its peer id (see share_plugin.h), and unchokes
  // every node so that each can fetch its share at once.
  s.set_str(lt::settings_pack::peer_fingerprint, options.share_seed ? "-SD0100-" : "-DS0100-");
  if (options.share_seed) s.set_int(lt::settings_pack::unchoke_slots_limit, -1);
  // A share seed is upload-only and offers nothing at first: a node must not
  // drop it as redundant before its shares arrive.
  s.set_bool(lt::settings_pack::close_redundant_connections, false);
  // Hash failures and torrent errors must not be lost while nobody pops alerts for a while.
  s.set_int(lt::settings_pack::alert_queue_size, 10000);
  return s;
}

lt::ip_filter GlobalPeerClassFilter() {
  lt::ip_filter f;
  const auto global = 1u << static_cast<uint32_t>(lt::session_handle::global_peer_class_id);
  f.add_rule(lt::make_address("0.0.0.0"), lt::make_address("255.255.255.255"), global);
  f.add_rule(lt::make_address("::"), lt::make_address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), global);
  return f;
}

}  // namespace deltaswarm
