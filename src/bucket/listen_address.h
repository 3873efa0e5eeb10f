// "ip:port" or "[v6]:port" as the HTTP servers of this layer listen on it.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <string>

#include "deltaswarm/status.h"

namespace deltaswarm {

// Port 0 is allowed (any free port). kInvalidArgument naming listen otherwise.
Result<boost::asio::ip::tcp::endpoint> ParseListenAddress(const std::string& listen);

}  // namespace deltaswarm
