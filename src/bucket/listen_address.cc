#include "bucket/listen_address.h"

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

}  // namespace deltaswarm
