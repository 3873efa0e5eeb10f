#include "bucket/bucket_server.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <type_traits>

#include "bucket/bucket_key.h"
#include "bucket/connection_limits.h"
#include "bucket/listen_address.h"
#include "bucket/open_beneath.h"

namespace deltaswarm {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

// After accept fails for lack of descriptors, the wait before the next try:
// doubling from the first to the last while failures go on.
constexpr auto kFirstAcceptBackoff = std::chrono::milliseconds(50);
constexpr auto kLastAcceptBackoff = std::chrono::milliseconds(1000);
// Pending connections closed per descriptor shortage, at most: a bound on
// the work one wakeup does, not a limit a flood can use.
constexpr int kMaxShedPerShortage = 4096;
// What one read asks of the socket while waiting for a request's first byte.
constexpr size_t kFirstReadSize = 4096;
// The close_notify exchange at the end of a TLS connection; a peer that does
// not answer is simply disconnected.
constexpr auto kTlsShutdownTimeout = std::chrono::seconds(2);

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// What every session of one server shares; it outlives them (BucketServer::Impl).
struct SessionSettings {
  std::string root;
  std::chrono::milliseconds handshake_timeout{0};
  std::chrono::milliseconds header_timeout{0};
  std::chrono::milliseconds idle_timeout{0};
};

// One keep-alive connection, plain (PlainStream) or TLS (TlsStream):
// handshake (TLS), then read a request, answer it, repeat. The connection
// closes, and gives back its slot, when the last handler holding the session
// is gone.
template <typename Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // stream_args: the accepted socket, and for TLS the server's ssl::context.
  template <typename... StreamArgs>
  Session(const SessionSettings& settings, ConnectionLimiter::Slot slot, StreamArgs&&... stream_args)
      : stream_(std::forward<StreamArgs>(stream_args)...), settings_(settings), slot_(std::move(slot)) {}

  void Start() {
    if constexpr (kTls) {
      // Bounded, so a client that connects and never speaks TLS (or stalls
      // half-way) holds nothing for long.
      beast::get_lowest_layer(stream_).expires_after(settings_.handshake_timeout);
      stream_.async_handshake(ssl::stream_base::server, [self = this->shared_from_this()](beast::error_code ec) {
        // No certificate, one from another CA, a revoked one, not TLS at
        // all, or too slow: only this connection ends.
        if (!ec) self->ReadFirst();
      });
    } else {
      ReadFirst();
    }
  }

 private:
  // A new connection has header_timeout, in all, to deliver its first
  // request's header: connecting and saying nothing (or a byte at a time)
  // holds a slot no longer than that.
  void ReadFirst() {
    beast::get_lowest_layer(stream_).expires_after(settings_.header_timeout);
    ReadRequest();
  }

  // Between requests a keep-alive client may stay silent for idle_timeout;
  // once it starts a request, the header must follow within header_timeout.
  void ReadNext() {
    if (buffer_.size() > 0) {  // pipelined: the next request has begun already
      beast::get_lowest_layer(stream_).expires_after(settings_.header_timeout);
      return ReadRequest();
    }
    beast::get_lowest_layer(stream_).expires_after(settings_.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kFirstReadSize),
                            [self = this->shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec == asio::error::eof) return self->Close();
                              if (ec) return;  // idle too long, or reset: the connection just ends
                              self->buffer_.commit(n);
                              beast::get_lowest_layer(self->stream_).expires_after(self->settings_.header_timeout);
                              self->ReadRequest();
                            });
  }

  // Reads one request under the deadline already set.
  void ReadRequest() {
    request_ = {};
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
    if (target.empty() || target.front() != '/' || IsPrefix(key) || !CheckKey(key).ok() ||
        key.find(".tmp-") != std::string::npos)
      return SendText(http::status::not_found, "not found\n");
    // Only a regular file reached without any symbolic link: a link in the
    // mirror (to /etc/passwd, or to another object) is not there either.
    Result<int> fd = OpenRegularFileBeneath(settings_.root, key);
    if (!fd.ok() && fd.status().code() == Code::kNotFound) return SendText(http::status::not_found, "not found\n");
    // Out of descriptors, say: the object may well be there, so the client
    // is told to retry rather than that it is gone.
    if (!fd.ok()) return SendText(http::status::service_unavailable, "try again\n");
    beast::file file;
    file.native_handle(*fd);  // owns it from here
    http::file_body::value_type body;
    beast::error_code ec;
    body.reset(std::move(file), ec);
    if (ec) return SendText(http::status::service_unavailable, "try again\n");
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
    // A client that stops reading its response holds the slot no longer.
    beast::get_lowest_layer(stream_).expires_after(settings_.idle_timeout);
    http::async_write(stream_, *res, [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
      if (ec) return;
      if (!res->keep_alive()) return self->Close();
      self->ReadNext();
    });
  }

  Stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::empty_body> request_;
  const SessionSettings& settings_;
  ConnectionLimiter::Slot slot_;
};

// A client address as the per-address cap counts it: an IPv4 client of a
// dual-stack listener counts as its IPv4 address.
std::string ClientAddress(const tcp::endpoint& remote) {
  asio::ip::address address = remote.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6());
  return address.to_string();
}

Status CheckLimits(const BucketServerLimits& limits, std::chrono::milliseconds handshake_timeout) {
  if (limits.max_connections < 1 || limits.max_connections_per_address < 1)
    return InvalidArgument("metadata server: max_connections and max_connections_per_address must be at least 1");
  const auto ms = std::chrono::milliseconds(1);
  if (limits.header_timeout < ms || limits.idle_timeout < ms || handshake_timeout < ms)
    return InvalidArgument("metadata server: handshake, header and idle timeouts must be at least 1 ms");
  return Status::Ok();
}

// The soft RLIMIT_NOFILE, 0 if unknown.
uint64_t DescriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  return static_cast<uint64_t>(limit.rlim_cur);
}

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
  std::string host;
  int port = 0;
  // Both declared before io, so they outlive the sessions the io_context's
  // pending handlers hold (they refer to the settings and give their slots back).
  SessionSettings settings;
  std::unique_ptr<ConnectionLimiter> limiter;
  // Null: plain HTTP. Declared before io for the same reason.
  std::unique_ptr<ssl::context> tls;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  asio::steady_timer accept_backoff_timer{io};
  std::chrono::milliseconds accept_backoff{0};
  // /dev/null, held so that one descriptor can be freed when there are none
  // left: see ShedPending. -1 while it is lent out (or could not be had back).
  int reserve_fd = -1;
  std::thread thread;

  ~Impl() {
    if (reserve_fd >= 0) ::close(reserve_fd);
  }

  // Everything below runs on the one thread that runs io, so the limiter
  // and the backoff need no lock.
  void Accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (!acceptor.is_open()) return;
      if (ec) return AcceptFailed(ec);
      accept_backoff = std::chrono::milliseconds(0);
      Admit(std::move(socket));
      Accept();
    });
  }

  // Re-arming at once after a failure that repeats (no descriptors, no
  // memory) spins: the pending connection stays queued and wakes the loop
  // again at once. So every failure waits first, longer while they go on.
  void AcceptFailed(const beast::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    if (ec == asio::error::no_descriptors || ec.value() == ENFILE) ShedPending();
    accept_backoff = std::clamp(accept_backoff * 2, std::chrono::milliseconds(kFirstAcceptBackoff),
                                std::chrono::milliseconds(kLastAcceptBackoff));
    accept_backoff_timer.expires_after(accept_backoff);
    accept_backoff_timer.async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec && acceptor.is_open()) Accept();
    });
  }

  // The descriptor table is full: lend the reserve descriptor to accept, and
  // at once close, what is queued (libuv's EMFILE trick), so those clients
  // hear "closed" now instead of waiting in a queue that cannot drain, then
  // take the reserve back. The listening socket is non-blocking (Start), so
  // an empty queue ends the loop with EAGAIN.
  void ShedPending() {
    if (reserve_fd < 0) reserve_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);  // lost earlier: try again
    if (reserve_fd < 0) return;
    ::close(reserve_fd);
    for (int i = 0; i < kMaxShedPerShortage; ++i) {
      const int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0 && errno == EINTR) continue;
      if (fd < 0) break;  // EAGAIN (drained), or the freed descriptor went elsewhere
      ::close(fd);
    }
    reserve_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }

  // Over a cap the connection is closed at once (the socket goes with this
  // scope): no byte read, no handshake, no descriptor kept.
  void Admit(tcp::socket socket) {
    beast::error_code ec;
    const tcp::endpoint remote = socket.remote_endpoint(ec);
    if (ec) return;  // already reset by the peer
    ConnectionLimiter::Slot slot = limiter->TryAcquire(ClientAddress(remote));
    if (!slot.held()) return;
    if (tls) {
      // Asio throws when OpenSSL cannot create the connection's SSL object
      // (out of memory): that connection is dropped, the server goes on.
      try {
        std::make_shared<Session<TlsStream>>(settings, std::move(slot), std::move(socket), *tls)->Start();
      } catch (const boost::system::system_error&) {
        ERR_clear_error();
      }
    } else {
      std::make_shared<Session<PlainStream>>(settings, std::move(slot), std::move(socket))->Start();
    }
  }
};

Result<std::unique_ptr<BucketServer>> BucketServer::Start(const std::string& root, const std::string& listen,
                                                         const BucketServerTls& tls,
                                                         const BucketServerLimits& limits) {
  DS_ASSIGN_OR_RETURN(tcp::endpoint endpoint, ParseListenAddress(listen));
  DS_RETURN_IF_ERROR(CheckLimits(limits, tls.handshake_timeout));
  auto impl = std::make_unique<Impl>();
  impl->settings = SessionSettings{root, tls.handshake_timeout, limits.header_timeout, limits.idle_timeout};
  impl->limiter = std::make_unique<ConnectionLimiter>(
      EffectiveCaps(limits.max_connections, limits.max_connections_per_address, DescriptorLimit()));
  if (tls.identity.has_certificate()) {
    DS_ASSIGN_OR_RETURN(impl->tls, MakeTlsContext(tls));
  } else if (tls.require_client_cert || !tls.crl.empty()) {
    return InvalidArgument("metadata server: require_client_cert and tls_crl need HTTPS: a certificate (tls_cert)");
  }
  impl->host = UrlHost(endpoint);
  DS_RETURN_IF_ERROR(Listen(impl->acceptor, endpoint, "metadata server", listen));
  beast::error_code ec;
  // ShedPending accepts by hand and must meet EAGAIN, not block, on an empty queue.
  impl->acceptor.non_blocking(true, ec);
  if (ec) return IoError("metadata server: cannot listen on " + listen + ": " + ec.message());
  impl->reserve_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (impl->reserve_fd < 0)
    return IoError(std::string("metadata server: cannot open /dev/null (its reserve descriptor): ") +
                   std::strerror(errno));
  impl->port = impl->acceptor.local_endpoint().port();
  impl->Accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<BucketServer>(new BucketServer(std::move(impl)));
}

BucketServer::BucketServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

// Pending sessions die with the io_context.
BucketServer::~BucketServer() { StopServing(impl_->io, impl_->acceptor, impl_->thread); }

int BucketServer::port() const { return impl_->port; }

int BucketServer::max_connections() const { return impl_->limiter->caps().total; }

int BucketServer::max_connections_per_address() const { return impl_->limiter->caps().per_address; }

std::string BucketServer::url() const {
  return std::string(impl_->tls ? "https://" : "http://") + impl_->host + ":" + std::to_string(port()) + "/";
}

}  // namespace deltaswarm
