#include "bucket/curl_request.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <mutex>
#include <optional>

namespace deltaswarm {

namespace {

// Large receive buffers cut the per-callback overhead: the difference between
// ~1 and several GB/s on loopback (libcurl caps it at 512 KiB).
constexpr long kReceiveBuffer = 512 * 1024;
constexpr long kUploadBuffer = 1024 * 1024;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// The calling thread's easy handle and the multi handle that drives it, kept
// between requests: the multi handle owns the connection cache, so
// consecutive requests reuse the connection.
struct HandleCache {
  CURL* handle = nullptr;
  CURLM* multi = nullptr;
  bool busy = false;
  ~HandleCache() {
    if (handle) curl_easy_cleanup(handle);
    if (multi) curl_multi_cleanup(multi);
  }
};
thread_local HandleCache tls_cache;

// Borrows the thread's handles (or private ones if a callback re-enters).
class HandleLease {
 public:
  HandleLease() {
    GlobalInit();
    if (!tls_cache.busy) {
      if (!tls_cache.handle) tls_cache.handle = curl_easy_init();
      if (!tls_cache.multi) tls_cache.multi = curl_multi_init();
      handle_ = tls_cache.handle;
      multi_ = tls_cache.multi;
      tls_cache.busy = true;
      cached_ = true;
    } else {
      handle_ = curl_easy_init();
      multi_ = curl_multi_init();
    }
    if (handle_) curl_easy_reset(handle_);
  }
  ~HandleLease() {
    if (cached_) {
      tls_cache.busy = false;
      return;
    }
    if (handle_) curl_easy_cleanup(handle_);
    if (multi_) curl_multi_cleanup(multi_);
  }
  HandleLease(const HandleLease&) = delete;
  HandleLease& operator=(const HandleLease&) = delete;
  CURL* get() const { return handle_; }
  CURLM* multi() const { return multi_; }

 private:
  CURL* handle_ = nullptr;
  CURLM* multi_ = nullptr;
  bool cached_ = false;
};

struct Transfer {
  CURL* handle;
  const HttpRequest* request;
  uint64_t sent = 0;
  uint64_t received = 0;
  Status local;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string error_body;
};

bool IsSuccess(CURL* h) {
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  return status >= 200 && status < 300;
}

Status TooLarge(const HttpRequest& request, const std::string& what) {
  return Corruption(request.Label() + ": object is " + what + ", more than the " + std::to_string(request.max_body) +
                    " bytes expected");
}

// A Content-Length past the bound fails the transfer before its first byte.
bool ContentLengthTooLarge(Transfer* t) {
  if (t->request->max_body == UINT64_MAX || !t->local.ok() || !IsSuccess(t->handle)) return false;
  curl_off_t total = -1;
  curl_easy_getinfo(t->handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &total);
  if (total < 0 || static_cast<uint64_t>(total) <= t->request->max_body) return false;
  t->local = TooLarge(*t->request, std::to_string(total) + " bytes (Content-Length)");
  return true;
}

// Called by libcurl as soon as the headers are in and then often: a
// non-zero answer aborts the transfer (CURLE_ABORTED_BY_CALLBACK).
int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return ContentLengthTooLarge(static_cast<Transfer*>(user)) ? 1 : 0;
}

size_t OnWrite(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t bytes = size * n;
  // Error pages (nginx's 404 HTML) are not the object: drop them, but for
  // the few bytes the request keeps to explain the error.
  if (!IsSuccess(t->handle)) {
    size_t room = t->request->error_body_bytes - std::min(t->request->error_body_bytes, t->error_body.size());
    t->error_body.append(data, std::min(room, bytes));
    return bytes;
  }
  if (ContentLengthTooLarge(t)) return CURL_WRITEFUNC_ERROR;
  // One perform can deliver a whole fast body: a stop lands within one block.
  if (t->request->stop && t->request->stop->requested()) {
    t->local = Status(Code::kCancelled, t->request->Label() + ": stopped");
    return CURL_WRITEFUNC_ERROR;
  }
  // Counted here, not trusted from the headers: a body without a length, or
  // longer than its length says, stops at the bound.
  if (bytes > t->request->max_body - t->received) {
    t->local = TooLarge(*t->request, "at least " + std::to_string(t->received + bytes) + " bytes");
    return CURL_WRITEFUNC_ERROR;
  }
  if (!t->request->on_body) {
    t->received += bytes;
    return bytes;
  }
  curl_off_t total = -1;
  curl_easy_getinfo(t->handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &total);
  Status s = t->request->on_body(t->received, {reinterpret_cast<const std::byte*>(data), bytes},
                                 static_cast<int64_t>(total));
  if (!s.ok()) {
    t->local = std::move(s);
    return CURL_WRITEFUNC_ERROR;
  }
  t->received += bytes;
  return bytes;
}

size_t OnRead(char* buffer, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  uint64_t left = t->request->upload_size - t->sent;
  size_t want = static_cast<size_t>(std::min<uint64_t>(left, size * n));
  if (want == 0) return 0;
  Result<size_t> got = t->request->read_body(t->sent, {reinterpret_cast<std::byte*>(buffer), want});
  if (!got.ok()) {
    t->local = got.status();
    return CURL_READFUNC_ABORT;
  }
  t->sent += *got;
  return *got;
}

// Keeps the headers the request asked for; a header block starts afresh
// (a "100 Continue" or a redirect comes before the final answer). Bounded:
// a server sending endless headers only fills the named slots.
size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t bytes = size * n;
  std::string_view line(data, bytes);
  if (line.starts_with("HTTP/")) {
    t->headers.clear();
    return bytes;
  }
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return bytes;
  std::string name(line.substr(0, colon));
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const std::string& wanted : t->request->capture_headers) {
    if (wanted != name) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.remove_suffix(1);
    std::erase_if(t->headers, [&](const auto& h) { return h.first == name; });
    t->headers.emplace_back(name, std::string(value));
  }
  return bytes;
}

bool IsTransientCurlError(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

// A short lower-case phrase for the fault, as the bucket's messages want it.
std::string DescribeCurlError(CURL* h, CURLcode code, const char* detail) {
  long os_errno = 0;
  curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
  if (code == CURLE_COULDNT_CONNECT && os_errno == ECONNREFUSED) return "connection refused";
  if (os_errno == ECONNRESET) return "connection reset";
  std::string text = detail[0] ? detail : curl_easy_strerror(code);
  if (code == CURLE_OPERATION_TIMEDOUT) return "timed out (" + text + ")";
  return text;
}

// For https:// (libcurl ignores these for http://). curl_easy_reset leaves
// peer and host verification on; they are set again so that no later edit
// can quietly drop them: a closed swarm's bucket is only as closed as this.
void SetTlsOptions(CURL* h, const TlsIdentity& tls) {
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!tls.ca.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, tls.ca.c_str());
  if (tls.has_certificate()) {
    curl_easy_setopt(h, CURLOPT_SSLCERT, tls.cert.c_str());
    curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM");
    // Without a key file libcurl looks for the key in the certificate file.
    if (!tls.key.empty()) curl_easy_setopt(h, CURLOPT_SSLKEY, tls.key.c_str());
    curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM");
  }
}

// Runs the transfer on multi until it is over, the deadline passes or a stop
// is requested (a stop wakes the poll at once). Returns libcurl's result;
// the deadline and a stop leave their error in t.local.
CURLcode Drive(CURLM* multi, CURL* h, const HttpRequest& request, Transfer& t) {
  if (curl_multi_add_handle(multi, h) != CURLM_OK) return CURLE_FAILED_INIT;
  std::optional<StopSignal::Registration> wake;
  if (request.stop) wake.emplace(request.stop->OnStop([multi] { curl_multi_wakeup(multi); }));
  CURLcode result = CURLE_OK;
  for (;;) {
    int running = 0;
    if (curl_multi_perform(multi, &running) != CURLM_OK) {
      result = CURLE_FAILED_INIT;
      break;
    }
    int queued = 0;
    bool done = false;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == h) {
        result = msg->data.result;
        done = true;
      }
    }
    if (done) break;
    if (request.stop && request.stop->requested()) {
      t.local = Status(Code::kCancelled, request.Label() + ": stopped");
      result = CURLE_ABORTED_BY_CALLBACK;
      break;
    }
    auto now = SteadyClock::now();
    if (now >= request.deadline) {
      t.local = IoError(request.Label() + ": " + request.deadline_text);
      result = CURLE_OPERATION_TIMEDOUT;
      break;
    }
    // At most a second per wait, and never past the deadline.
    auto left = std::chrono::ceil<std::chrono::milliseconds>(request.deadline - now).count();
    int wait_ms = static_cast<int>(std::clamp<decltype(left)>(left, 1, 1000));
    if (curl_multi_poll(multi, nullptr, 0, wait_ms, nullptr) != CURLM_OK) {
      result = CURLE_FAILED_INIT;
      break;
    }
  }
  curl_multi_remove_handle(multi, h);  // mid-transfer: closes that connection
  return result;
}

}  // namespace

HttpResponse PerformHttp(const HttpOptions& options, const HttpRequest& request) {
  HttpResponse response;
  HandleLease lease;
  CURL* h = lease.get();
  if (!h || !lease.multi()) {
    response.transport_error = "cannot create a libcurl handle";
    return response;
  }
  Transfer t{h, &request, 0, 0, Status::Ok(), {}, {}};
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  // curl would wait up to a second for "100 Continue" before a large PUT body.
  headers = curl_slist_append(headers, "Expect:");
  for (const std::string& line : options.headers) headers = curl_slist_append(headers, line.c_str());
  for (const std::string& line : request.headers) headers = curl_slist_append(headers, line.c_str());

  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // no SIGALRM: we run on many threads
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, options.low_speed_bytes_per_s);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, options.low_speed_time_s);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_BUFFERSIZE, kReceiveBuffer);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnWrite);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, OnProgress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
  SetTlsOptions(h, options.tls);
  if (!request.capture_headers.empty()) {
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  }
  if (!options.aws_sigv4.empty()) {
    // libcurl signs the method, path, query, Host, x-amz-date and the
    // x-amz-* headers given; the payload hash is the x-amz-content-sha256
    // header's value (7.88 computes none for a streamed body).
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, options.aws_sigv4.c_str());
    curl_easy_setopt(h, CURLOPT_USERNAME, options.access_key.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, options.secret_key.c_str());
  }
  if (request.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT") {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, kUploadBuffer);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.upload_size));
    curl_easy_setopt(h, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(h, CURLOPT_READDATA, &t);
  } else if (request.method == "POST") {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.upload_size));
    curl_easy_setopt(h, CURLOPT_READFUNCTION, OnRead);
    curl_easy_setopt(h, CURLOPT_READDATA, &t);
  } else if (request.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  CURLcode code = Drive(lease.multi(), h, request, t);
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
  curl_off_t length = -1;
  curl_easy_getinfo(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
  response.content_length = static_cast<int64_t>(length);
  response.local = std::move(t.local);
  response.headers = std::move(t.headers);
  response.error_body = std::move(t.error_body);
  if (code != CURLE_OK && response.local.ok()) {
    response.transport_error = DescribeCurlError(h, code, error_buffer);
    response.transient = IsTransientCurlError(code);
  } else if (code == CURLE_OK) {
    response.transient = response.status >= 500 || response.status == 429;
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  curl_slist_free_all(headers);
  return response;
}

std::string HttpResponse::Header(const std::string& name) const {
  for (const auto& [n, v] : headers)
    if (n == name) return v;
  return {};
}

std::string PercentEncodePath(const std::string& path) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(path.size());
  for (unsigned char c : path) {
    bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                c == '_' || c == '~' || c == '/' || c == '-';
    if (keep) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace deltaswarm
