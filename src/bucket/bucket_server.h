// Serves a directory bucket read-only over HTTP/1.1, the way nginx serves a
// Hub bucket to HttpBucket: GET and HEAD of /<key> answer the object (200 with
// Content-Length), 404 for a missing key or a prefix, 405 for other methods,
// 503 when an object cannot be opened for another reason (out of descriptors).
// A gateway serves its metadata mirror with it, so nodes behind it use the
// gateway as their bucket. Range requests get the whole object (allowed by
// RFC 9110); nodes only read small metadata whole.
//
// With a TLS identity it speaks HTTPS only (TLS 1.2 or later), and can demand
// a client certificate from the cluster CA, not revoked by a CRL: then only
// the cluster's nodes read the mirror (docs/SECURITY.md).
//
// Limits against hostile or broken clients (BucketServerLimits; defaults in
// brackets; the one place they are documented, README and docs/SECURITY.md
// point here):
// - at most max_connections [512] open connections, max_connections_per_address
//   [64] from one client IP; both shrink in proportion to at most half the
//   process's RLIMIT_NOFILE soft limit at Start (the gateway needs the rest
//   for its swarm and upstream bucket). A connection over a cap is accepted
//   and closed at once, before any byte or TLS handshake: it holds no
//   descriptor and costs no handshake, and HttpBucket retries an empty reply
//   with backoff. (A 503 would need a handshake over HTTPS and reading the
//   request, which is the work a flood must not get.)
// - with TLS, the handshake must finish within BucketServerTls::handshake_timeout [10 s];
// - a connection's first request header must be complete within
//   header_timeout [10 s] of accepting it (of the handshake with TLS); later
//   requests may wait idle_timeout [30 s] for their first byte, then have
//   header_timeout for the rest of the header (8 KiB at most). A response
//   the client does not read for idle_timeout is dropped too;
// - when accept fails for lack of descriptors (EMFILE, ENFILE) the server
//   frees a descriptor kept in reserve, accepts and closes what is pending,
//   takes the reserve back, and waits before accepting again: 50 ms,
//   doubling to 1 s while failures go on (with a full table accept fails
//   even with nothing queued, so it then wakes once a second, no more).
// - only regular files are served, never through a symbolic link
//   (open_beneath.h): a link in the mirror answers 404.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "deltaswarm/status.h"
#include "deltaswarm/tls.h"

namespace deltaswarm {

struct BucketServerTls {
  // cert and key: the server's certificate (its address among the
  // subjectAltNames, or clients refuse it) and key; empty: plain HTTP.
  // ca: the CA client certificates must chain to (with require_client_cert).
  TlsIdentity identity;
  bool require_client_cert = false;  // refuse a client without a valid certificate from identity.ca
  std::string crl;                   // PEM CRL file checked against client certificates when non-empty
  // A connection that has not finished its handshake by then is closed, so
  // idle or half-open clients cannot pile up.
  std::chrono::milliseconds handshake_timeout{10000};
};

struct BucketServerLimits {
  int max_connections = 512;
  int max_connections_per_address = 64;
  std::chrono::milliseconds header_timeout{10000};
  std::chrono::milliseconds idle_timeout{30000};
};

class BucketServer {
 public:
  // Listens on "ip:port" (port 0: any free port) and serves root's files from
  // a background thread, over HTTPS when tls.identity has a certificate.
  // kInvalidArgument for a bad address or TLS setting (require_client_cert
  // without identity.ca, a crl without require_client_cert) or a limit below
  // 1 (a cap) or 1 ms (a timeout), the identity's and the CRL's own errors
  // (CheckIdentity), kIoError if it cannot listen. A failed handshake closes
  // that connection only.
  static Result<std::unique_ptr<BucketServer>> Start(const std::string& root, const std::string& listen,
                                                     const BucketServerTls& tls = {},
                                                     const BucketServerLimits& limits = {});
  // Stops accepting and closes every connection.
  ~BucketServer();
  BucketServer(const BucketServer&) = delete;
  BucketServer& operator=(const BucketServer&) = delete;

  // "http://ip:port/", or "https://ip:port/" with TLS (the listening
  // address; 0.0.0.0 stays as given).
  std::string url() const;
  int port() const;
  // The caps in force (the configured ones, lowered by the descriptor limit).
  int max_connections() const;
  int max_connections_per_address() const;

 private:
  struct Impl;
  explicit BucketServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace deltaswarm
