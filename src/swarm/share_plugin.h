// Seed shares: a seed that hands each connected node only its own share of
// pieces, so that every piece leaves the seed about once and the nodes trade
// the rest among themselves (../shared/notes/libtorrent.md, section 10).
//
// The protocol needs no extension message. A share seed's peer id starts with
// kShareSeedPrefix; it sends HAVE_ALL as any seed does, which nodes running
// the share plugin ignore, then one HAVE per piece it hands out. Peers without
// the plugin take HAVE_ALL at its word and download whatever they like.
//
// A few pieces no connected peer holds are out at a time, each with a node
// (the one served least); each HAVE reported back frees a slot, so shares
// follow the nodes actually present and their speed. When a node disconnects,
// the pieces it was handed and the pieces only it held go back to the pool. A
// piece handed out but not reported within a deadline is handed to another
// node as well, and a node that has reported no piece for min_deadline_s is
// offered what it lacks.
#pragma once

#include <libtorrent/extensions.hpp>

#include <cstdint>
#include <memory>

namespace deltaswarm {

inline constexpr char kShareSeedPrefix[] = "-SD";

struct ShareSeedOptions {
  int in_flight_pieces = 4;     // pieces handed out and not yet reported, over all nodes
  int upload_rate = 0;          // the seed's limit in bytes/s (0: unknown), for deadlines
  double min_deadline_s = 5;    // a handed-out piece is re-handed after at least this
};

// For a torrent of num_pieces pieces that this session seeds: hands out
// shares as above.
std::shared_ptr<lt::torrent_plugin> MakeShareSeedPlugin(int num_pieces, int piece_bytes,
                                                        const ShareSeedOptions& options);

// For every other torrent: ignores a share seed's HAVE_ALL, so that only the
// pieces it hands out are requested from it.
std::shared_ptr<lt::torrent_plugin> MakeShareNodePlugin();

}  // namespace deltaswarm
