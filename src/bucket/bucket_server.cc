#include "bucket/bucket_server.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <thread>
#include <type_traits>

#include "bucket/bucket_key.h"

namespace deltaswarm {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

// A client that stalls longer than this mid-request or mid-response is dropped.
constexpr auto kIdleTimeout = std::chrono::seconds(30);
// The close_notify exchange at the end of a TLS connection; a peer that does
// not answer is simply disconnected.
constexpr auto kTlsShutdownTimeout = std::chrono::seconds(2);

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

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

// One keep-alive connection, plain (PlainStream) or TLS (TlsStream):
// handshake (TLS), then read a request, answer it, repeat. The connection
// closes when the last handler holding the session is gone.
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // stream_args: the accepted socket, and for TLS the server's ssl::context.
  template <typename... StreamArgs>
  Session(const std::string& root, std::chrono::milliseconds handshake_timeout, StreamArgs&&... stream_args)
      : stream_(std::forward<StreamArgs>(stream_args)...), root_(root), handshake_timeout_(handshake_timeout) {}

  void Start() {
    if constexpr (kTls) {
      // Bounded, so a client that connects and never speaks TLS (or stalls
      // half-way) holds nothing for long.
      beast::get_lowest_layer(stream_).expires_after(handshake_timeout_);
      stream_.async_handshake(ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        // No certificate, one from another CA, a revoked one, not TLS at
        // all, or too slow: only this connection ends.
        if (!ec) self->Read();
      });
    } else {
      Read();
    }
  }

 private:
  void Read() {
    request_ = {};
    beast::get_lowest_layer(stream_).expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, request_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return Close();
    if (ec) return;  // timeout, reset or a malformed request: the connection just ends
    Respond();
  }

  // Ends the connection politely: TLS's close_notify (bounded), or a TCP FIN.
  void Close() {
    if constexpr (kTls) {
      beast::get_lowest_layer(stream_).expires_after(kTlsShutdownTimeout);
      // Whatever the peer answers, the socket closes with the session.
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {});
    } else {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
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
    beast::get_lowest_layer(stream_).expires_after(kIdleTimeout);
    http::async_write(stream_, *res, [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec) return;
      if (!res->keep_alive()) return self->Close();
      self->Read();
    });
  }

  Stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::empty_body> request_;
  const std::string& root_;
  std::chrono::milliseconds handshake_timeout_;
};

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct X509CrlFree {
  void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};
struct EvpPkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

// Adds every CRL in the PEM file at crl_path to ctx's store and turns on
// checking client certificates against them. Each must be signed by the CA at
// ca_path: OpenSSL would otherwise refuse every client later, with a reason
// ("unable to get certificate CRL") far from the file at fault.
Status AddCrl(SSL_CTX* ctx, const std::string& crl_path, const std::string& ca_path) {
  DS_ASSIGN_OR_RETURN(std::string ca_pem, ReadPemFile(ca_path));
  std::unique_ptr<BIO, BioFree> ca_bio(BIO_new_mem_buf(ca_pem.data(), static_cast<int>(ca_pem.size())));
  std::unique_ptr<X509, X509Free> ca(ca_bio ? PEM_read_bio_X509(ca_bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!ca) return InvalidArgument(ca_path + ": not a PEM certificate");
  std::unique_ptr<EVP_PKEY, EvpPkeyFree> ca_key(X509_get_pubkey(ca.get()));
  DS_ASSIGN_OR_RETURN(std::string pem, ReadPemFile(crl_path));
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio || !ca_key) return IoError(crl_path + ": out of memory");
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  int added = 0;
  while (true) {
    std::unique_ptr<X509_CRL, X509CrlFree> crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
    if (!crl) break;  // the end of the file (or garbage after the last CRL: caught below if there was none)
    if (X509_CRL_verify(crl.get(), ca_key.get()) != 1) {
      ERR_clear_error();
      return InvalidArgument(crl_path + ": revocation list not signed by the CA " + ca_path);
    }
    if (X509_STORE_add_crl(store, crl.get()) != 1) {  // takes its own reference
      ERR_clear_error();
      return IoError(crl_path + ": cannot add the revocation list");
    }
    ++added;
  }
  ERR_clear_error();  // reading past the last CRL leaves "no start line" queued
  if (added == 0) return InvalidArgument(crl_path + ": not a PEM revocation list");
  X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  return Status::Ok();
}

// The server side of HTTPS for tls (which has a certificate).
Result<std::unique_ptr<ssl::context>> MakeTlsContext(const BucketServerTls& tls) {
  const TlsIdentity& id = tls.identity;
  if (tls.require_client_cert && id.ca.empty())
    return InvalidArgument(
        "metadata server: require_client_cert needs tls_ca, the CA client certificates must come from");
  if (!tls.crl.empty() && !tls.require_client_cert)
    return InvalidArgument("metadata server: tls_crl " + tls.crl +
                           " is checked against client certificates: it needs require_client_cert");
  // One-line errors naming the file (missing, expired, key of another
  // certificate, not issued by the CA) before OpenSSL's terser ones.
  Result<CertificateInfo> checked = CheckIdentity(id);
  if (!checked.ok()) return checked.status().Prefixed("metadata server");

  // Boost.Asio's ssl::context reports some faults by exception: this is its one wrapper.
  try {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
    // An encrypted key would make OpenSSL prompt on the terminal; refuse it instead.
    ctx->set_password_callback([](size_t, ssl::context::password_purpose) { return std::string(); });
    beast::error_code ec;
    ctx->use_certificate_chain_file(id.cert, ec);
    if (ec) return InvalidArgument("metadata server: " + id.cert + ": " + ec.message());
    ctx->use_private_key_file(id.key, ssl::context::pem, ec);
    if (ec) return InvalidArgument("metadata server: " + id.key + ": " + ec.message());
    if (tls.require_client_cert) {
      ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
      ctx->load_verify_file(id.ca, ec);
      if (ec) return InvalidArgument("metadata server: " + id.ca + ": " + ec.message());
      // Tells clients which CA to pick a certificate for.
      if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(id.ca.c_str()))
        SSL_CTX_set_client_CA_list(native, names);  // takes ownership
      ERR_clear_error();
      if (!tls.crl.empty()) DS_RETURN_IF_ERROR(AddCrl(native, tls.crl, id.ca).Prefixed("metadata server"));
      // A resumed session skips certificate verification, so a client
      // revoked (or whose certificate expired) after its first handshake
      // could keep coming back; metadata requests are few, so every
      // connection does a full handshake.
      SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
      SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
      SSL_CTX_set_num_tickets(native, 0);
    }
    return ctx;
  } catch (const boost::system::system_error& e) {
    return IoError(std::string("metadata server: TLS setup: ") + e.what());
  }
}

}  // namespace

struct BucketServer::Impl {
  std::string root;
  std::string host;
  int port = 0;
  std::chrono::milliseconds handshake_timeout{0};
  // Null: plain HTTP. Declared before io so that it outlives the sessions
  // the io_context's pending handlers hold.
  std::unique_ptr<ssl::context> tls;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::thread thread;

  void Accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (!acceptor.is_open()) return;
      if (!ec && tls) {
        // Asio throws when OpenSSL cannot create the connection's SSL object
        // (out of memory): that connection is dropped, the server goes on.
        try {
          std::make_shared<Session<TlsStream>>(root, handshake_timeout, std::move(socket), *tls)->Start();
        } catch (const boost::system::system_error&) {
          ERR_clear_error();
        }
      } else if (!ec) {
        std::make_shared<Session<PlainStream>>(root, handshake_timeout, std::move(socket))->Start();
      }
      Accept();
    });
  }
};

Result<std::unique_ptr<BucketServer>> BucketServer::Start(const std::string& root, const std::string& listen,
                                                         const BucketServerTls& tls) {
  DS_ASSIGN_OR_RETURN(tcp::endpoint endpoint, ParseListen(listen));
  auto impl = std::make_unique<Impl>();
  impl->root = root;
  impl->handshake_timeout = tls.handshake_timeout;
  if (tls.identity.has_certificate()) {
    DS_ASSIGN_OR_RETURN(impl->tls, MakeTlsContext(tls));
  } else if (tls.require_client_cert || !tls.crl.empty()) {
    return InvalidArgument("metadata server: require_client_cert and tls_crl need HTTPS: a certificate (tls_cert)");
  }
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

std::string BucketServer::url() const {
  return std::string(impl_->tls ? "https://" : "http://") + impl_->host + ":" + std::to_string(port()) + "/";
}

}  // namespace deltaswarm
