// HttpBucket: a bucket served over HTTP(S) by a WebDAV server (nginx's dav
// module: GET, HEAD, PUT, MOVE, DELETE; listings via autoindex in JSON).
// Object URL = base + "/" + percent-encoded key. Writes PUT a temporary name
// and MOVE it onto the key, so readers never see half an object. Transient
// faults are retried (HttpOptions). Thread-safe: each thread uses its own
// libcurl handle.
#pragma once

#include <string>

#include "bucket/http_options.h"
#include "deltaswarm/bucket.h"

namespace deltaswarm {

struct HttpRequest;
struct HttpResponse;

class HttpBucket : public Bucket {
 public:
  // base: "http://host:port" or "http://host:port/prefix" (a trailing '/' is ignored).
  explicit HttpBucket(std::string base, HttpOptions options = {});

  std::string Describe(const std::string& key) const override;
  Result<std::vector<std::byte>> Get(const std::string& key, uint64_t max_bytes) override;
  Result<uint64_t> GetToFile(const std::string& key, const std::string& path, uint64_t max_bytes,
                             const ProgressFn& progress, const StopSignal* stop) override;
  Result<uint64_t> Size(const std::string& key) override;
  Status Put(const std::string& key, std::span<const std::byte> data) override;
  Status PutFile(const std::string& key, const std::string& path, const ProgressFn& progress) override;
  Status Create(const std::string& key, std::span<const std::byte> data) override;
  Status CreateFile(const std::string& key, const std::string& path, const ProgressFn& progress) override;
  Status Delete(const std::string& key) override;
  Result<std::vector<std::string>> List(const std::string& prefix) override;

 private:
  std::string UrlOf(const std::string& key) const;
  // SendWithRetries (http_transfer.h) with this bucket's options.
  Result<HttpResponse> Send(HttpRequest& request, const std::function<Status()>& before_attempt = {});
  // PUT (body from request) to a temporary name, then MOVE it onto key.
  Status Write(const std::string& key, std::span<const std::byte> data, bool replace);
  Status WriteFile(const std::string& key, const std::string& path, const ProgressFn& progress, bool replace);
  // PUT to a temporary key, then MOVE onto key (replacing it, or never).
  Status PutAtomically(const std::string& key, HttpRequest& put, const std::function<Status()>& before_attempt,
                       bool replace);

  std::string base_;
  HttpOptions options_;
};

}  // namespace deltaswarm
