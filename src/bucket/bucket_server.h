// Serves a directory bucket read-only over HTTP/1.1, the way nginx serves a
// Hub bucket to HttpBucket: GET and HEAD of /<key> answer the object (200 with
// Content-Length), 404 for a missing key or a prefix, 405 for other methods.
// A gateway serves its metadata mirror with it, so nodes behind it use the
// gateway as their bucket. Range requests get the whole object (allowed by
// RFC 9110); nodes only read small metadata whole.
//
// With a TLS identity it speaks HTTPS only (TLS 1.2 or later), and can demand
// a client certificate from the cluster CA, not revoked by a CRL: then only
// the cluster's nodes read the mirror (docs/SECURITY.md).
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

class BucketServer {
 public:
  // Listens on "ip:port" (port 0: any free port) and serves root's files from
  // a background thread, over HTTPS when tls.identity has a certificate.
  // kInvalidArgument for a bad address or TLS setting (require_client_cert
  // without identity.ca, a crl without require_client_cert), the identity's
  // and the CRL's own errors (CheckIdentity), kIoError if it cannot listen.
  // A failed handshake closes that connection only.
  static Result<std::unique_ptr<BucketServer>> Start(const std::string& root, const std::string& listen,
                                                     const BucketServerTls& tls = {});
  // Stops accepting and closes every connection.
  ~BucketServer();
  BucketServer(const BucketServer&) = delete;
  BucketServer& operator=(const BucketServer&) = delete;

  // "http://ip:port/", or "https://ip:port/" with TLS (the listening
  // address; 0.0.0.0 stays as given).
  std::string url() const;
  int port() const;

 private:
  struct Impl;
  explicit BucketServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace deltaswarm
