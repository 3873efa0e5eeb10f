// MakeTorrent: a hybrid (v1 + v2) torrent of a version's artifact directory.
#include <libtorrent/bencode.hpp>
#include <libtorrent/create_torrent.hpp>
#include <libtorrent/error_code.hpp>
#include <libtorrent/file_storage.hpp>
#include <libtorrent/torrent_info.hpp>
#include <libtorrent/version.hpp>

#include <algorithm>
#include <exception>
#include <filesystem>

#include "deltaswarm/digest.h"
#include "deltaswarm/swarm.h"
#include "swarm/lt_errors.h"

namespace deltaswarm {

namespace {

constexpr uint64_t kMinPiece = 16 * 1024;       // libtorrent's minimum
constexpr uint64_t kDefaultPiece = 1 << 20;     // 1 MiB: good for 4 MiB frames in 32 MiB chunks
constexpr uint64_t kMaxPieceCount = 1 << 16;    // keeps v2 piece layers near 2 MB
constexpr uint64_t kMinPieceCount = 1024;        // below 1 GiB: pieces small enough for a swarm to pipeline

// Why hybrid: when a piece of a torrent without v1 hashes fails its check,
// libtorrent's torrent::piece_failed asks a peer for the piece's block hashes;
// a hash reject then makes hash_picker::hashes_rejected index a per-piece
// array by block (a null dereference, or an out-of-bounds heap write). Up to
// 2.0.12 that path is taken only `if (!info_hashes().has_v1())`, so the v1
// hashes of a hybrid torrent keep a corrupt peer from crashing a node. 2.0.13
// tests has_v2() instead, and the fix (upstream's "fix out of bounds write in
// hashes_rejected") is in no release yet: re-check before moving past 2.0.12.
static_assert(LIBTORRENT_VERSION_NUM < 20013,
              "hybrid torrents avoid libtorrent's hashes_rejected crash only up to 2.0.12; see above");

// The info-dict key of a TLS torrent's revocation list (docs/FORMAT.md).
constexpr char kCrlKey[] = "deltaswarm-crl";

bool ValidName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

}  // namespace

uint64_t PieceSizeFor(uint64_t total_bytes) {
  uint64_t piece = kDefaultPiece;
  if (total_bytes < kDefaultPiece * kMinPieceCount) {
    piece = kMinPiece;
    while (piece * 2 * kMinPieceCount <= total_bytes) piece <<= 1;
    return piece;
  }
  while (total_bytes > piece * kMaxPieceCount) piece <<= 1;
  return piece;
}

Result<TorrentFile> MakeTorrent(const std::string& dir, const std::string& name,
                                const std::vector<std::string>& web_seeds, const TorrentAccess& access) {
  namespace fs = std::filesystem;
  if (!ValidName(name)) return InvalidArgument("torrent name '" + name + "': not a single path component");
  std::error_code fec;
  fs::path path = fs::path(dir).lexically_normal();
  if (path.has_filename() == false) path = path.parent_path();  // "a/b/" -> "a/b"
  if (!fs::is_directory(path, fec)) return NotFound(dir + ": no such directory");
  if (access.ca_cert_pem.empty() && !access.crl_pem.empty())
    return InvalidArgument("torrent " + name + ": a revocation list needs a CA certificate");
  try {
    lt::file_storage files;
    // Only regular files directly in dir: the artifact layout is flat.
    const std::string root = fs::absolute(path).string();
    lt::add_files(files, root, [&](const std::string& p) {
      std::error_code ec;
      auto st = fs::symlink_status(p, ec);
      if (ec) return false;
      if (fs::is_directory(st)) return p == root;
      return fs::is_regular_file(st) && fs::path(p).parent_path() == fs::path(root);
    });
    if (files.num_files() == 0) return InvalidArgument(dir + ": no files to put in a torrent");
    uint64_t payload = 0;
    for (lt::file_index_t i : files.file_range()) {
      if (!files.pad_file_at(i)) payload += static_cast<uint64_t>(files.file_size(i));
    }
    const uint64_t piece = PieceSizeFor(payload);
    lt::create_torrent t(files, static_cast<int>(piece), lt::create_flags_t{});  // hybrid: see the static_assert
    t.set_creator("deltaswarm");
    if (!access.ca_cert_pem.empty()) t.set_root_cert(access.ca_cert_pem);
    for (const auto& url : web_seeds) t.add_url_seed(url);
    lt::error_code ec;
    // Reads <parent>/<basename>/<file>: file paths are relative to the torrent name.
    lt::set_piece_hashes(t, fs::path(root).parent_path().string(), ec);
    if (ec) return IoError(dir + ": hashing: " + ec.message());
    // create_torrent refers to `files`; renaming the root only changes the
    // name written into the info dict, now that the data has been read.
    files.set_name(name);
    std::vector<char> buf;
    lt::entry torrent = t.generate();
    if (!access.crl_pem.empty()) torrent["info"][kCrlKey] = access.crl_pem;
    lt::bencode(std::back_inserter(buf), torrent);

    TorrentFile out;
    out.bytes.resize(buf.size());
    std::transform(buf.begin(), buf.end(), out.bytes.begin(), [](char c) { return std::byte(c); });
    lt::torrent_info ti(buf, lt::from_span);  // reads back the info-hash libtorrent will use
    const lt::sha256_hash v2 = ti.info_hashes().v2;
    const lt::sha1_hash v1 = ti.info_hashes().v1;
    out.info_hash_v2_hex =
        ToHex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v2.data()), v2.size()));
    out.info_hash_v1_hex =
        ToHex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(v1.data()), v1.size()));
    out.piece_bytes = piece;
    out.payload_bytes = payload;
    return out;
  } catch (const std::exception& e) {
    return LtExceptionStatus("torrent " + dir, e);
  }
}

}  // namespace deltaswarm
