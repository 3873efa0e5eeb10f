#include "swarm/lt_errors.h"

#include <libtorrent/bdecode.hpp>
#include <libtorrent/error_code.hpp>

namespace deltaswarm {

Status LtErrorStatus(const std::string& what, const lt::error_code& ec) {
  // A .torrent that does not parse is bad input, not an I/O fault.
  const bool bad_input = ec.category() == lt::bdecode_category() ||
                         (ec.category() == lt::libtorrent_category() &&
                          (ec.value() == lt::errors::torrent_is_no_dict ||
                           ec.value() == lt::errors::torrent_missing_info ||
                           ec.value() == lt::errors::torrent_info_no_dict ||
                           ec.value() == lt::errors::torrent_missing_piece_length ||
                           ec.value() == lt::errors::torrent_missing_name ||
                           ec.value() == lt::errors::torrent_invalid_name ||
                           ec.value() == lt::errors::torrent_invalid_length ||
                           ec.value() == lt::errors::torrent_file_parse_failed ||
                           ec.value() == lt::errors::torrent_invalid_hashes ||
                           ec.value() == lt::errors::torrent_invalid_piece_layer ||
                           ec.value() == lt::errors::torrent_missing_pieces_root ||
                           ec.value() == lt::errors::invalid_piece_size ||
                           ec.value() == lt::errors::no_files_in_torrent));
  std::string message = what + ": " + ec.message();
  return bad_input ? Corruption(std::move(message)) : IoError(std::move(message));
}

Status LtExceptionStatus(const std::string& what, const std::exception& e) {
  if (const auto* se = dynamic_cast<const lt::system_error*>(&e)) return LtErrorStatus(what, se->code());
  return IoError(what + ": " + e.what());
}

}  // namespace deltaswarm
