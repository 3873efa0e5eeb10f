// "ip:port" or "[v6]:port" as the HTTP servers of this layer listen on it.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <string>
#include <thread>

#include "deltaswarm/status.h"

namespace deltaswarm {

// Port 0 is allowed (any free port). kInvalidArgument naming listen otherwise.
Result<boost::asio::ip::tcp::endpoint> ParseListenAddress(const std::string& listen);
// The host part of a URL for endpoint: "127.0.0.1" or "[::1]".
std::string UrlHost(const boost::asio::ip::tcp::endpoint& endpoint);
// Opens, binds (reusing the address) and listens; kIoError "<what>: cannot
// listen on <listen>: ..." otherwise.
Status Listen(boost::asio::ip::tcp::acceptor& acceptor, const boost::asio::ip::tcp::endpoint& endpoint,
              const std::string& what, const std::string& listen);
// Closes the acceptor and stops the loop from the loop's own thread (so no
// handler races the shutdown), then joins that thread.
void StopServing(boost::asio::io_context& io, boost::asio::ip::tcp::acceptor& acceptor, std::thread& loop);

}  // namespace deltaswarm
