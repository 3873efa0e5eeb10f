// CheckTorrentNames: a torrent's name and file paths, as its info dict spells
// them, hold no control character (0x00-0x1f, 0x7f), the rule for names in
// manifests and indexes. libtorrent would turn most of them into '_' (a file
// the manifest does not list) and keep DEL; refusing says what is wrong.
#pragma once

#include <libtorrent/torrent_info.hpp>

#include "deltaswarm/status.h"

namespace deltaswarm {

Status CheckTorrentNames(const lt::torrent_info& ti);

}  // namespace deltaswarm
