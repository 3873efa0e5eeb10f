// corrupt_peer: a lying seed, for tests of hash-failure handling. It adds a
// torrent as a complete seed and answers every block request with garbage of
// the requested length (a well-formed PIECE message), so a leecher's hash check
// of any piece it took from here fails.
//
//   corrupt_peer [--tls CERT KEY DH] TORRENT SAVE_PATH READY_FILE [LISTEN_IP:PORT [MAX_CORRUPT]]
//
// With --tls it joins a TLS torrent's closed swarm with that certificate
// (PEM files; DH parameters as libtorrent wants them), as an insider gone bad.
//
// With MAX_CORRUPT, only that many blocks per connection are garbage; later
// requests get the real data read from SAVE_PATH (which then must hold the files).
//
// Listens on LISTEN (default 127.0.0.1:0, TCP only; no DHT, LSD, UPnP,
// NAT-PMP), writes "ip:port" to READY_FILE once it serves, and runs until
// SIGTERM or SIGINT; then prints "corrupt blocks sent: N" on stdout.
// Test-only: it includes libtorrent directly.
#include <libtorrent/add_torrent_params.hpp>
#include <libtorrent/alert_types.hpp>
#include <libtorrent/extensions.hpp>
#include <libtorrent/load_torrent.hpp>
#include <libtorrent/peer_connection_handle.hpp>
#include <libtorrent/peer_request.hpp>
#include <libtorrent/session.hpp>
#include <libtorrent/session_params.hpp>
#include <libtorrent/settings_pack.hpp>
#include <libtorrent/torrent_handle.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<bool> g_stop{false};
std::atomic<long> g_sent{0};
long g_max_corrupt = -1;  // -1: no limit
extern "C" void OnStop(int) { g_stop.store(true); }

void PutU32(std::vector<char>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

class CorruptPeerPlugin final : public lt::peer_plugin {
 public:
  explicit CorruptPeerPlugin(lt::peer_connection_handle pc) : pc_(std::move(pc)), rng_(std::random_device{}()) {}

  // A PIECE message: <len = 9 + n><id 7><index><begin><n garbage bytes>.
  bool on_request(lt::peer_request const& r) override {
    if (r.length <= 0 || r.length > (1 << 20)) return false;
    if (g_max_corrupt >= 0 && sent_ >= g_max_corrupt) return false;  // the real block
    ++sent_;
    std::vector<char> msg;
    msg.reserve(13 + static_cast<size_t>(r.length));
    PutU32(msg, 9u + static_cast<uint32_t>(r.length));
    msg.push_back(7);
    PutU32(msg, static_cast<uint32_t>(static_cast<int>(r.piece)));
    PutU32(msg, static_cast<uint32_t>(r.start));
    for (int i = 0; i < r.length; ++i) msg.push_back(static_cast<char>(rng_()));
    pc_.send_buffer(msg.data(), static_cast<int>(msg.size()));
    g_sent.fetch_add(1);
    return true;  // handled: libtorrent does not read and send the real block
  }

 private:
  lt::peer_connection_handle pc_;
  std::mt19937 rng_;
  long sent_ = 0;  // garbage blocks sent on this connection
};

class CorruptTorrentPlugin final : public lt::torrent_plugin {
 public:
  std::shared_ptr<lt::peer_plugin> new_connection(lt::peer_connection_handle const& pc) override {
    return std::make_shared<CorruptPeerPlugin>(pc);
  }
};

int Fail(const std::string& what) {
  std::cerr << "corrupt_peer: error: " << what << std::endl;
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::vector<std::string> tls;  // cert, key, dh
  if (args.size() >= 4 && args[0] == "--tls") {
    tls.assign(args.begin() + 1, args.begin() + 4);
    args.erase(args.begin(), args.begin() + 4);
  }
  if (args.size() < 3 || args.size() > 5) {
    std::cerr << "usage: corrupt_peer [--tls CERT KEY DH] TORRENT SAVE_PATH READY_FILE [LISTEN_IP:PORT [MAX_CORRUPT]]\n";
    return 2;
  }
  const std::string torrent = args[0], save_path = args[1], ready_file = args[2];
  const std::string listen = args.size() >= 4 ? args[3] : "127.0.0.1:0";
  if (args.size() == 5) g_max_corrupt = std::stol(args[4]);
  const lt::socket_type_t socket_type = tls.empty() ? lt::socket_type_t::tcp : lt::socket_type_t::tcp_ssl;
  std::signal(SIGTERM, OnStop);
  std::signal(SIGINT, OnStop);
  try {
    lt::settings_pack s;
    s.set_str(lt::settings_pack::listen_interfaces, tls.empty() ? listen : listen + "s");
    s.set_int(lt::settings_pack::alert_mask, lt::alert_category::status | lt::alert_category::error);
    s.set_bool(lt::settings_pack::enable_dht, false);
    s.set_bool(lt::settings_pack::enable_lsd, false);
    s.set_bool(lt::settings_pack::enable_upnp, false);
    s.set_bool(lt::settings_pack::enable_natpmp, false);
    s.set_bool(lt::settings_pack::enable_outgoing_utp, false);
    s.set_bool(lt::settings_pack::enable_incoming_utp, false);
    s.set_bool(lt::settings_pack::allow_multiple_connections_per_ip, true);
    lt::session ses(lt::session_params(std::move(s)));
    ses.add_extension([](lt::torrent_handle const&, lt::client_data_t) -> std::shared_ptr<lt::torrent_plugin> {
      return std::make_shared<CorruptTorrentPlugin>();
    });

    lt::add_torrent_params atp = lt::load_torrent_file(torrent);
    atp.save_path = save_path;
    atp.flags &= ~(lt::torrent_flags::auto_managed | lt::torrent_flags::paused);
    atp.flags |= lt::torrent_flags::seed_mode;  // claims every piece without reading a byte
    ses.add_torrent(std::move(atp));

    int port = 0;
    std::string host = listen.substr(0, listen.rfind(':'));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (port == 0 && !g_stop.load() && std::chrono::steady_clock::now() < deadline) {
      ses.wait_for_alert(std::chrono::milliseconds(100));
      std::vector<lt::alert*> alerts;
      ses.pop_alerts(&alerts);
      for (lt::alert* a : alerts) {
        if (auto* ok = lt::alert_cast<lt::listen_succeeded_alert>(a)) {
          if (ok->socket_type == socket_type) port = ok->port;
        } else if (auto* failed = lt::alert_cast<lt::listen_failed_alert>(a)) {
          if (failed->socket_type == socket_type) return Fail("listen on " + listen + ": " + failed->error.message());
        } else if (auto* need = lt::alert_cast<lt::torrent_need_cert_alert>(a)) {
          if (tls.empty()) return Fail("a TLS torrent: give --tls CERT KEY DH");
          need->handle.set_ssl_certificate(tls[0], tls[1], tls[2]);
        }
      }
    }
    if (port == 0) return Fail("no listen socket on " + listen + " after 10 s");
    {
      const std::string tmp = ready_file + ".tmp";
      std::ofstream(tmp) << host << ":" << port << "\n";
      if (std::rename(tmp.c_str(), ready_file.c_str()) != 0) return Fail("cannot write " + ready_file);
    }
    while (!g_stop.load()) {
      ses.wait_for_alert(std::chrono::milliseconds(100));
      std::vector<lt::alert*> alerts;
      ses.pop_alerts(&alerts);  // keep the queue short; only a late certificate request matters
      for (lt::alert* a : alerts)
        if (auto* need = lt::alert_cast<lt::torrent_need_cert_alert>(a); need != nullptr && !tls.empty())
          need->handle.set_ssl_certificate(tls[0], tls[1], tls[2]);
    }
    lt::session_proxy proxy = ses.abort();
  } catch (const std::exception& e) {
    return Fail(e.what());
  }
  std::cout << "corrupt blocks sent: " << g_sent.load() << std::endl;
  return 0;
}
