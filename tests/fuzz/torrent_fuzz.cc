// libFuzzer target: the input is a .torrent as a bucket serves it
// (versions/<id>/<dir>.torrent). It goes through what src/swarm does before
// libtorrent adds a torrent (Swarm::Impl::Add and Admission): libtorrent's
// load_torrent_buffer with the limits swarm.cc sets, CheckTorrentNames, a TLS
// torrent's revocation list (TorrentRevocationList), and the piece geometry
// the share seed reads. libtorrent reports a bad torrent by exception, which
// swarm.cc catches; anything else (a crash, a sanitizer report) is a bug.
#include <libtorrent/load_torrent.hpp>
#include <libtorrent/torrent_info.hpp>

#include <cstddef>
#include <cstdint>
#include <exception>

#include "swarm/torrent_names.h"
#include "swarm/torrent_tls.h"

using namespace deltaswarm;

namespace {

// As TorrentLimits() in src/swarm/swarm.cc (file-local there).
lt::load_torrent_limits Limits() {
  lt::load_torrent_limits limits;
  limits.max_buffer_size = 256 << 20;
  limits.max_decode_tokens = 20000000;
  return limits;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const lt::add_torrent_params atp = lt::load_torrent_buffer(
        lt::span<const char>(reinterpret_cast<const char*>(data), static_cast<std::ptrdiff_t>(size)), Limits());
    if (!atp.ti) return 0;
    const lt::torrent_info& ti = *atp.ti;
    if (!CheckTorrentNames(ti).ok()) return 0;
    if (!ti.ssl_cert().empty()) (void)TorrentRevocationList(ti);
    const int pieces = ti.num_pieces();
    if (pieces > 0) (void)ti.piece_size(lt::piece_index_t(pieces - 1));
    (void)ti.name();
    (void)ti.info_hashes();
  } catch (const std::exception&) {
  }
  return 0;
}
