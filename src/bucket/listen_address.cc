#include "bucket/listen_address.h"

#include <boost/asio/post.hpp>

#include <charconv>

namespace deltaswarm {

Result<boost::asio::ip::tcp::endpoint> ParseListenAddress(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon + 1 == listen.size())
    return InvalidArgument("listen address '" + listen + "': expected ip:port");
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  int port = -1;
  const char* first = listen.data() + colon + 1;
  const char* last = listen.data() + listen.size();
  auto [end, err] = std::from_chars(first, last, port);
  if (err != std::errc() || end != last || port < 0 || port > 65535)
    return InvalidArgument("listen address '" + listen + "': bad port");
  boost::system::error_code ec;
  boost::asio::ip::address address = boost::asio::ip::make_address(host, ec);
  if (ec) return InvalidArgument("listen address '" + listen + "': bad IP address '" + host + "'");
  return boost::asio::ip::tcp::endpoint(address, static_cast<unsigned short>(port));
}

std::string UrlHost(const boost::asio::ip::tcp::endpoint& endpoint) {
  const std::string address = endpoint.address().to_string();
  return endpoint.address().is_v6() ? "[" + address + "]" : address;
}

Status Listen(boost::asio::ip::tcp::acceptor& acceptor, const boost::asio::ip::tcp::endpoint& endpoint,
              const std::string& what, const std::string& listen) {
  boost::system::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) return IoError(what + ": cannot listen on " + listen + ": " + ec.message());
  return Status::Ok();
}

void StopServing(boost::asio::io_context& io, boost::asio::ip::tcp::acceptor& acceptor, std::thread& loop) {
  boost::asio::post(io, [&io, &acceptor] {
    boost::system::error_code ec;
    acceptor.close(ec);
    io.stop();
  });
  if (loop.joinable()) loop.join();
}

}  // namespace deltaswarm
