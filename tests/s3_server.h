// S3Server: a real S3-compatible server (s3rver 3.7.1 from npm, run by
// Node.js; scripts/install-deps.sh installs it under .deps/s3rver) on a free
// 127.0.0.1 port, storing into a fresh temporary directory, with one bucket
// created at start. It is the child of the test; Stop() (also run by the
// destructor, so also after a failed CHECK) ends exactly that process.
// Throws std::runtime_error when Node.js or s3rver is missing or it does not
// come up.
//
// What s3rver checks of a request (lib/middleware/authentication.js): a
// SigV4 Authorization header must be well formed, name the access key
// S3RVER, carry a valid x-amz-content-sha256 and an x-amz-date within 15
// minutes; the signature itself is NOT verified, and unsigned requests are
// served. It ignores If-None-Match on PUT and writes objects in place (a
// reader may see a partial object during a PUT).
#pragma once

#include <string>

#include "test_util.h"

namespace deltaswarm::testing {

class S3Server {
 public:
  static constexpr const char* kAccessKey = "S3RVER";
  static constexpr const char* kSecretKey = "S3RVER";

  explicit S3Server(std::string bucket = "deltaswarm-test");
  ~S3Server() { Stop(); }
  S3Server(const S3Server&) = delete;
  S3Server& operator=(const S3Server&) = delete;

  // "http://127.0.0.1:PORT"
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& bucket() const { return bucket_; }
  // "s3://BUCKET/PREFIX?endpoint=http://127.0.0.1:PORT" (no prefix when empty).
  std::string url(const std::string& prefix = "") const;
  // Where s3rver keeps the object of a full key (s3rver's own layout).
  std::string ObjectPath(const std::string& full_key) const;
  // The directory of the bucket's objects, with s3rver's suffixes.
  std::string bucket_dir() const { return data_dir_ + "/" + bucket_; }
  // Sets AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY to s3rver's, for OpenBucket
  // and for the programs the test starts; unsets the session token and profile.
  static void ExportCredentials();
  // "curl --aws-sigv4 ... --user S3RVER:S3RVER -H x-amz-content-sha256:UNSIGNED-PAYLOAD"
  static std::string CurlSigningArgs();
  bool running() const { return process_.running(); }
  void Stop() { process_.Stop(); }

 private:
  TempDir dir_;
  std::string bucket_;
  std::string data_dir_;
  std::string log_path_;
  int port_ = 0;
  ChildProcess process_;
};

}  // namespace deltaswarm::testing
