// Serves a directory bucket read-only over HTTP/1.1, the way nginx serves a
// Hub bucket to HttpBucket: GET and HEAD of /<key> answer the object (200 with
// Content-Length), 404 for a missing key or a prefix, 405 for other methods.
// A gateway serves its metadata mirror with it, so nodes behind it use the
// gateway as their bucket. Range requests get the whole object (allowed by
// RFC 9110); nodes only read small metadata whole.
#pragma once

#include <memory>
#include <string>

#include "deltaswarm/status.h"

namespace deltaswarm {

class BucketServer {
 public:
  // Listens on "ip:port" (port 0: any free port) and serves root's files from
  // a background thread. kInvalidArgument for a bad address, kIoError if it
  // cannot listen.
  static Result<std::unique_ptr<BucketServer>> Start(const std::string& root, const std::string& listen);
  // Stops accepting and closes every connection.
  ~BucketServer();
  BucketServer(const BucketServer&) = delete;
  BucketServer& operator=(const BucketServer&) = delete;

  // "http://ip:port/" (the listening address; 0.0.0.0 stays as given).
  std::string url() const;
  int port() const;

 private:
  struct Impl;
  explicit BucketServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace deltaswarm
