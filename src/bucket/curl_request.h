// One HTTP request through libcurl (the only file that calls libcurl). Each
// thread keeps one easy handle, so consecutive requests to the bucket reuse
// the connection; a handle is never shared between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "bucket/http_options.h"
#include "deltaswarm/status.h"
#include "deltaswarm/stop_signal.h"

namespace deltaswarm {

struct HttpRequest {
  std::string method = "GET";        // GET, HEAD, PUT, POST, DELETE, MOVE
  std::string url;
  // What messages name the object by ("s3://b/k"); the url when empty.
  std::string label;
  std::vector<std::string> headers;  // "Name: value"
  // PUT or POST body: upload_size bytes supplied by read_body(offset, buffer) -> bytes filled.
  uint64_t upload_size = 0;
  std::function<Result<size_t>(uint64_t offset, std::span<std::byte> buffer)> read_body;
  // The body of a 2xx answer, in order; total is the Content-Length or -1.
  // An error status aborts the transfer and is reported in HttpResponse::local.
  std::function<Status(uint64_t offset, std::span<const std::byte> data, int64_t total)> on_body;
  // A 2xx body larger than this (by its Content-Length, as soon as the
  // headers are in, or by the bytes as they arrive) aborts the transfer with
  // a kCorruption in HttpResponse::local; no byte past it reaches on_body.
  uint64_t max_body = UINT64_MAX;
  // The transfer ends by then, wherever it is (connecting, waiting for a
  // byte): HttpResponse::local is a kIoError "<url>: <deadline_text>".
  SteadyClock::time_point deadline = SteadyClock::time_point::max();
  std::string deadline_text = "deadline passed";
  // Once requested (may be null), the transfer ends within milliseconds:
  // HttpResponse::local is kCancelled.
  const StopSignal* stop = nullptr;
  // The first this many bytes of a non-2xx body are kept in
  // HttpResponse::error_body (an S3 error document says what went wrong).
  size_t error_body_bytes = 0;
  // Response headers to keep (lower-case names, "etag"): HttpResponse::headers.
  std::vector<std::string> capture_headers;

  const std::string& Label() const { return label.empty() ? url : label; }
};

struct HttpResponse {
  long status = 0;               // the HTTP status, 0 if none arrived
  int64_t content_length = -1;   // from the headers, -1 if unknown
  std::string transport_error;   // non-empty when the transfer failed ("connection refused")
  bool transient = false;        // worth retrying: a network fault, 5xx or 429
  Status local;                  // an error raised by read_body or on_body, a bound, the deadline or a stop
  // The captured headers of the final answer, by lower-case name, values trimmed.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string error_body;
  std::string Header(const std::string& name) const;
};

HttpResponse PerformHttp(const HttpOptions& options, const HttpRequest& request);

// "a b/c" -> "a%20b/c": keeps [A-Za-z0-9._~/-], percent-encodes other bytes.
std::string PercentEncodePath(const std::string& path);

}  // namespace deltaswarm
