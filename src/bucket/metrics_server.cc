#include "bucket/metrics_server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <thread>

#include "bucket/listen_address.h"

namespace deltaswarm {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// The content type Prometheus expects for text exposition 0.0.4.
constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Every connection of one server runs on its single io thread, so the
// count needs no lock.
struct Shared {
  std::function<std::string()> render;
  int open = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, Shared& shared) : stream_(std::move(socket)), shared_(shared) { ++shared_.open; }
  ~Connection() { --shared_.open; }

  void Start() {
    // One deadline for the whole exchange: a client that stalls anywhere is dropped.
    stream_.expires_after(MetricsServer::kRequestTimeout);
    http::async_read(stream_, buffer_, request_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (!ec) self->Respond();
    });
  }

 private:
  void Respond() {
    auto res = std::make_shared<http::response<http::string_body>>(http::status::ok, request_.version());
    const std::string target(request_.target());
    const std::string path = target.substr(0, target.find('?'));
    const bool head = request_.method() == http::verb::head;
    if (!head && request_.method() != http::verb::get) {
      res->result(http::status::method_not_allowed);
      res->set(http::field::allow, "GET, HEAD");
      res->set(http::field::content_type, "text/plain");
      res->body() = "GET or HEAD\n";
    } else if (path != "/metrics") {
      res->result(http::status::not_found);
      res->set(http::field::content_type, "text/plain");
      res->body() = "not found: metrics are at /metrics\n";
    } else {
      res->set(http::field::content_type, kContentType);
      res->body() = shared_.render();
    }
    res->prepare_payload();
    if (head) res->body().clear();  // Content-Length stays that of the body a GET gets
    res->keep_alive(false);
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code, size_t) {
      beast::error_code ignored;
      self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::empty_body> request_;
  Shared& shared_;
};

}  // namespace

struct MetricsServer::Impl {
  std::string host;
  int port = 0;
  Shared shared;  // before io: the connections its handlers hold refer to it
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;

  void Accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (!acceptor.is_open()) return;
      // Over the cap the socket closes with this scope; an accept error
      // (out of descriptors) drops nothing but that connection.
      if (!ec && shared.open < kMaxConnections) std::make_shared<Connection>(std::move(socket), shared)->Start();
      Accept();
    });
  }
};

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& listen,
                                                           std::function<std::string()> render) {
  DS_ASSIGN_OR_RETURN(tcp::endpoint endpoint, ParseListenAddress(listen));
  auto impl = std::make_unique<Impl>();
  impl->shared.render = std::move(render);
  impl->host = UrlHost(endpoint);
  DS_RETURN_IF_ERROR(Listen(impl->acceptor, endpoint, "metrics server", listen));
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() { StopServing(impl_->io, impl_->acceptor, impl_->thread); }

int MetricsServer::port() const { return impl_->port; }

std::string MetricsServer::url() const { return "http://" + impl_->host + ":" + std::to_string(port()) + "/metrics"; }

}  // namespace deltaswarm
