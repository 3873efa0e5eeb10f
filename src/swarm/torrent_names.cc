#include "swarm/torrent_names.h"

#include <libtorrent/bdecode.hpp>

#include <string>
#include <string_view>

namespace deltaswarm {

namespace {

// As for loading the torrent (swarm.cc): a 100k-file hybrid info dict has
// over a million tokens.
constexpr int kDepthLimit = 100;
constexpr int kTokenLimit = 20000000;

bool HasControlCharacter(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  return false;
}

std::string_view View(lt::string_view s) { return {s.data(), s.size()}; }  // libtorrent's is boost's

// a\x0ab: a name for a one-line message (the format layer's Printable is
// out of this layer's reach).
std::string Printable(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size() && i < 200; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += {'\\', static_cast<char>(c)};
    } else if (c < 0x20 || c == 0x7f) {
      out += {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
    } else {
      out += static_cast<char>(c);
    }
  }
  return s.size() > 200 ? out + "..." : out;
}

Status Refuse(const lt::torrent_info& ti, std::string_view what, std::string_view name) {
  // The torrent's name as libtorrent keeps it: other controls as '_', DEL as is.
  return Corruption("torrent " + Printable(ti.name()) + ": " + std::string(what) + " \"" + Printable(name) +
                    "\" holds a control character");
}

// v2 "file tree": every key below it is a path component ("" marks a file).
Status CheckFileTree(const lt::torrent_info& ti, const lt::bdecode_node& tree) {
  if (tree.type() != lt::bdecode_node::dict_t) return Status::Ok();  // libtorrent refused it already
  for (int i = 0; i < tree.dict_size(); ++i) {
    const auto [lt_key, child] = tree.dict_at(i);
    const std::string_view key = View(lt_key);
    if (HasControlCharacter(key)) return Refuse(ti, "file name", key);
    if (!key.empty()) DS_RETURN_IF_ERROR(CheckFileTree(ti, child));
  }
  return Status::Ok();
}

// v1 "files": each a dict whose "path" (and "path.utf-8") lists components.
Status CheckFileList(const lt::torrent_info& ti, const lt::bdecode_node& files) {
  if (files.type() != lt::bdecode_node::list_t) return Status::Ok();
  for (int i = 0; i < files.list_size(); ++i) {
    const lt::bdecode_node file = files.list_at(i);
    if (file.type() != lt::bdecode_node::dict_t) continue;
    for (const char* key : {"path", "path.utf-8"}) {
      const lt::bdecode_node path = file.dict_find_list(key);
      for (int k = 0; path && k < path.list_size(); ++k) {
        const std::string_view part = View(path.list_string_value_at(k));
        if (HasControlCharacter(part)) return Refuse(ti, "file name", part);
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Status CheckTorrentNames(const lt::torrent_info& ti) {
  lt::error_code ec;
  const lt::bdecode_node info = lt::bdecode(ti.info_section(), ec, nullptr, kDepthLimit, kTokenLimit);
  if (ec || info.type() != lt::bdecode_node::dict_t)
    return Corruption("torrent " + ti.name() + ": info dict: " + ec.message());
  for (const char* key : {"name", "name.utf-8"}) {
    const std::string_view name = View(info.dict_find_string_value(key));
    if (HasControlCharacter(name)) return Refuse(ti, "name", name);
  }
  DS_RETURN_IF_ERROR(CheckFileList(ti, info.dict_find_list("files")));
  return CheckFileTree(ti, info.dict_find_dict("file tree"));
}

}  // namespace deltaswarm
