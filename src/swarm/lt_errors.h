// Turning libtorrent's exceptions and error codes into Status, in one place.
#pragma once

#include <exception>
#include <string>

#include <libtorrent/error_code.hpp>

#include "deltaswarm/status.h"

namespace deltaswarm {

// "what: message". Errors from decoding a torrent are kCorruption ("torrent:
// invalid bencoding"); anything else is kIoError.
Status LtErrorStatus(const std::string& what, const lt::error_code& ec);
Status LtExceptionStatus(const std::string& what, const std::exception& e);

}  // namespace deltaswarm
