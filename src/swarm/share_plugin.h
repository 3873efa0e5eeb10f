// Seed shares: a seed that hands each connected node only its own share of
// pieces, so that every piece leaves the seed about once and the nodes trade
// the rest among themselves (../shared/notes/libtorrent.md, section 10).
//
// The protocol needs no extension message. A share seed's peer id starts with
// kShareSeedPrefix; it sends HAVE_ALL as any seed does, which nodes running
// the share plugin ignore, then one HAVE per piece it offers. Peers without
// the plugin take HAVE_ALL at its word and download whatever they like.
//
// Which piece goes to which node is ShareScheduler's decision
// (include/deltaswarm/share_scheduler.h); this file only feeds it what
// libtorrent reports (connections, bitfields, HAVEs, requests, blocks sent)
// and turns its offers into HAVE messages.
#pragma once

#include <libtorrent/extensions.hpp>

#include <cstdint>
#include <memory>

namespace deltaswarm {

inline constexpr char kShareSeedPrefix[] = "-SD";

struct ShareSeedOptions {
  int upload_rate = 0;    // the seed's limit in bytes/s (0: none; the best rate observed counts)
  int max_in_flight = 0;  // a cap on the pieces in flight (0: the scheduler's own)
};

// For a torrent of num_pieces pieces that this session seeds: hands out
// shares as above.
std::shared_ptr<lt::torrent_plugin> MakeShareSeedPlugin(int num_pieces, int piece_bytes, int last_piece_bytes,
                                                        const ShareSeedOptions& options);

// For every other torrent: ignores a share seed's HAVE_ALL, so that only the
// pieces it hands out are requested from it.
std::shared_ptr<lt::torrent_plugin> MakeShareNodePlugin();

}  // namespace deltaswarm
