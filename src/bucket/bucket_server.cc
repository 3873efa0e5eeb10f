#include "bucket/bucket_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <thread>

#include "bucket/bucket_key.h"

namespace deltaswarm {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// A client that stalls longer than this mid-request or mid-response is dropped.
constexpr auto kIdleTimeout = std::chrono::seconds(30);

// Splits "ip:port" or "[v6]:port".
Result<tcp::endpoint> ParseListen(const std::string& listen) {
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
  asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) return InvalidArgument("listen address '" + listen + "': bad IP address '" + host + "'");
  return tcp::endpoint(address, static_cast<unsigned short>(port));
}

// One keep-alive connection: read a request, answer it, repeat.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const std::string& root) : stream_(std::move(socket)), root_(root) {}

  void Start() { Read(); }

 private:
  void Read() {
    request_ = {};
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream) {
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
      return;
    }
    if (ec) return;  // timeout, reset or a malformed request: the connection just ends
    Respond();
  }

  void Respond() {
    const bool head = request_.method() == http::verb::head;
    if (!head && request_.method() != http::verb::get)
      return SendText(http::status::method_not_allowed, "GET or HEAD\n");
    std::string target(request_.target());
    target = target.substr(0, target.find('?'));
    std::string key = target.empty() ? "" : target.substr(1);
    // Keys are plain names; anything escaping the root, a prefix or a
    // writer's temporary file is simply not there.
    std::error_code fs_ec;
    const std::string path = root_ + "/" + key;
    if (target.empty() || target.front() != '/' || IsPrefix(key) || !CheckKey(key).ok() ||
        key.find(".tmp-") != std::string::npos || !std::filesystem::is_regular_file(path, fs_ec))
      return SendText(http::status::not_found, "not found\n");
    http::file_body::value_type body;
    beast::error_code ec;
    body.open(path.c_str(), beast::file_mode::scan, ec);
    if (ec) return SendText(http::status::not_found, "not found\n");
    const uint64_t size = body.size();
    if (head) {
      auto res = std::make_shared<http::response<http::empty_body>>(http::status::ok, request_.version());
      res->set(http::field::content_type, "application/octet-stream");
      res->content_length(size);
      res->keep_alive(request_.keep_alive());
      return Send(res);
    }
    auto res = std::make_shared<http::response<http::file_body>>(std::piecewise_construct,
                                                                  std::make_tuple(std::move(body)),
                                                                  std::make_tuple(http::status::ok, request_.version()));
    res->set(http::field::content_type, "application/octet-stream");
    res->content_length(size);
    res->keep_alive(request_.keep_alive());
    Send(res);
  }

  void SendText(http::status status, const std::string& text) {
    auto res = std::make_shared<http::response<http::string_body>>(status, request_.version());
    res->set(http::field::content_type, "text/plain");
    if (status == http::status::method_not_allowed) res->set(http::field::allow, "GET, HEAD");
    res->body() = text;
    res->prepare_payload();
    res->keep_alive(request_.keep_alive());
    Send(res);
  }

  template <typename Response>
  void Send(const std::shared_ptr<Response>& res) {
    stream_.expires_after(kIdleTimeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec) return;
      if (!res->keep_alive()) {
        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        return;
      }
      self->Read();
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::empty_body> request_;
  const std::string& root_;
};

}  // namespace

struct BucketServer::Impl {
  std::string root;
  std::string host;
  int port = 0;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;

  void Accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (!acceptor.is_open()) return;
      if (!ec) std::make_shared<Session>(std::move(socket), root)->Start();
      Accept();
    });
  }
};

Result<std::unique_ptr<BucketServer>> BucketServer::Start(const std::string& root, const std::string& listen) {
  DS_ASSIGN_OR_RETURN(tcp::endpoint endpoint, ParseListen(listen));
  auto impl = std::make_unique<Impl>();
  impl->root = root;
  impl->host = endpoint.address().is_v6() ? "[" + endpoint.address().to_string() + "]" : endpoint.address().to_string();
  beast::error_code ec;
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return IoError("metadata server: cannot listen on " + listen + ": " + ec.message());
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<BucketServer>(new BucketServer(std::move(impl)));
}

BucketServer::BucketServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

BucketServer::~BucketServer() {
  // Closing the acceptor and stopping the loop from its own thread keeps the
  // handlers from racing the shutdown; pending sessions die with the io_context.
  asio::post(impl_->io, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor.close(ec);
    impl->io.stop();
  });
  impl_->thread.join();
}

int BucketServer::port() const { return impl_->port; }

std::string BucketServer::url() const { return "http://" + impl_->host + ":" + std::to_string(port()) + "/"; }

}  // namespace deltaswarm
