// The client side shared by the buckets that speak HTTP (WebDAV, S3): a
// request sent with retries, reads bounded by size, deadline and stop, and
// the three reads every such bucket does (an object into memory, into a new
// file, its size by HEAD). The caller fills in the URL, its headers and a
// label for messages; HttpOptions carries the signing, if any.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "bucket/curl_request.h"
#include "bucket/http_options.h"
#include "deltaswarm/progress.h"
#include "deltaswarm/status.h"
#include "deltaswarm/stop_signal.h"

namespace deltaswarm {

// Sends request with retries; `before_attempt` (if set) resets per-attempt
// state. Returns the final response when an HTTP status arrived (any status
// that is not transient, or a transient one after the last try), else an
// IoError naming the request and the fault.
Result<HttpResponse> SendWithRetries(const HttpOptions& options, HttpRequest& request,
                                     const std::function<Status()>& before_attempt = {});

// A read of at most max_bytes: that bound, the budget's deadline for it, the
// stop (the caller's, else the options').
void BoundRead(const HttpOptions& options, HttpRequest& request, uint64_t max_bytes, const StopSignal* stop);

// kIoError "<label>: GET answered HTTP 403", with detail appended when given.
Status UnexpectedAnswer(const HttpRequest& request, const HttpResponse& response, const std::string& detail = {});

// A GET of the whole object (request: url, headers, label). kNotFound on
// 404; any other answer than 200 is UnexpectedAnswer (with the error body's
// first bytes, as S3 explains itself there).
Result<std::vector<std::byte>> FetchToMemory(const HttpOptions& options, HttpRequest request, uint64_t max_bytes);
// A GET streamed into a new file at path, fsynced; removed on any failure.
Result<uint64_t> FetchToFile(const HttpOptions& options, HttpRequest request, const std::string& path,
                             uint64_t max_bytes, const ProgressFn& progress, const StopSignal* stop);
// HEAD: the Content-Length; kNotFound on 404.
Result<uint64_t> FetchSize(const HttpOptions& options, HttpRequest request);
// A GET of a small text answer (a listing, an S3 result document) of at most
// max_bytes; every status is returned, with its body.
struct TextAnswer {
  long status = 0;
  std::string body;
  HttpResponse response;
};
Result<TextAnswer> FetchText(const HttpOptions& options, HttpRequest request, uint64_t max_bytes);

}  // namespace deltaswarm
