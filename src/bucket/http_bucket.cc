#include "bucket/http_bucket.h"

#include <fcntl.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>

#include "bucket/autoindex_listing.h"
#include "bucket/bucket_key.h"
#include "bucket/curl_request.h"
#include "bucket/retry.h"
#include "core/file.h"

namespace deltaswarm {

namespace {

constexpr uint64_t kMaxListingBytes = 64ull << 20;
// GetToFile starts writeback every this many bytes, so the disk works while
// the network does and the final fsync has little left to flush.
constexpr uint64_t kWritebackStep = 32ull << 20;

Status Unexpected(const HttpRequest& request, const HttpResponse& response) {
  return IoError(request.url + ": " + request.method + " answered HTTP " + std::to_string(response.status));
}

// A name no other writer picks: PUTs of the same key from several hosts must
// not share a temporary object.
std::string RandomSuffix() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

bool IsTemporaryName(const std::string& name) { return name.find(".tmp-") != std::string::npos; }

}  // namespace

HttpBucket::HttpBucket(std::string base, HttpOptions options) : base_(std::move(base)), options_(options) {
  while (!base_.empty() && base_.back() == '/') base_.pop_back();
}

std::string HttpBucket::UrlOf(const std::string& key) const { return base_ + "/" + PercentEncodePath(key); }

std::string HttpBucket::Describe(const std::string& key) const { return UrlOf(key); }

Result<HttpResponse> HttpBucket::Send(HttpRequest& request, const std::function<Status()>& before_attempt) {
  HttpResponse last;
  Status setup;
  int tries = RunWithRetries(options_, [&](int) {
    if (before_attempt) setup = before_attempt();
    if (!setup.ok()) return AttemptOutcome::kDone;
    last = PerformHttp(options_, request);
    if (!last.local.ok()) return AttemptOutcome::kDone;  // our own fault (disk, size limit): final
    return last.transient ? AttemptOutcome::kTransient : AttemptOutcome::kDone;
  });
  DS_RETURN_IF_ERROR(setup);
  DS_RETURN_IF_ERROR(last.local);
  std::string after = " (after " + std::to_string(tries) + (tries == 1 ? " attempt)" : " attempts)");
  if (!last.transport_error.empty()) return IoError(request.url + ": " + last.transport_error + after);
  if (last.transient) {
    return IoError(request.url + ": " + request.method + " answered HTTP " + std::to_string(last.status) + after);
  }
  return last;
}

void HttpBucket::Bound(HttpRequest& request, uint64_t max_bytes, const StopSignal* stop) const {
  request.max_body = max_bytes;
  request.deadline = options_.budget.DeadlineFor(max_bytes);
  request.deadline_text = DescribeDeadline(options_.budget, max_bytes);
  request.stop = stop ? stop : options_.stop;
}

Result<std::vector<std::byte>> HttpBucket::Get(const std::string& key, uint64_t max_bytes) {
  DS_RETURN_IF_ERROR(CheckKey(key));
  std::vector<std::byte> data;
  HttpRequest request;
  request.url = UrlOf(key);
  Bound(request, max_bytes, nullptr);  // PerformHttp refuses a body past max_bytes
  request.on_body = [&](uint64_t, std::span<const std::byte> chunk, int64_t total) -> Status {
    if (total >= 0 && data.empty()) data.reserve(static_cast<size_t>(total));
    data.insert(data.end(), chunk.begin(), chunk.end());
    return Status::Ok();
  };
  DS_ASSIGN_OR_RETURN(HttpResponse response, Send(request, [&] {
                        data.clear();
                        return Status::Ok();
                      }));
  if (response.status == 404) return NotFound(request.url + ": not found");
  if (response.status != 200) return Unexpected(request, response);
  return data;
}

Result<uint64_t> HttpBucket::GetToFile(const std::string& key, const std::string& path, uint64_t max_bytes,
                                       const ProgressFn& progress, const StopSignal* stop) {
  DS_RETURN_IF_ERROR(CheckKey(key));
  DS_ASSIGN_OR_RETURN(File out, File::CreateNew(path));
  TempOutputGuard guard(path);  // created by us: removed on any failure below (a stop, the bound, the deadline)
  uint64_t written = 0, flushed = 0;
  HttpRequest request;
  request.url = UrlOf(key);
  // PerformHttp aborts before a byte past max_bytes reaches on_body, so the
  // file never grows beyond it, whatever the server sends or claims.
  Bound(request, max_bytes, stop);
  request.on_body = [&](uint64_t offset, std::span<const std::byte> chunk, int64_t total) -> Status {
    DS_RETURN_IF_ERROR(out.WriteAt(offset, chunk));
    written = offset + chunk.size();
    if (written - flushed >= kWritebackStep) {
      ::sync_file_range(out.fd(), static_cast<off64_t>(flushed), static_cast<off64_t>(written - flushed),
                        SYNC_FILE_RANGE_WRITE);  // a hint: errors surface in the final fsync
      flushed = written;
    }
    if (progress) progress("download", written, total >= 0 ? static_cast<uint64_t>(total) : 0);
    return Status::Ok();
  };
  // A retry starts over: drop what a broken attempt wrote.
  DS_ASSIGN_OR_RETURN(HttpResponse response, Send(request, [&] {
                        written = flushed = 0;
                        return out.Truncate(0);
                      }));
  if (response.status == 404) return NotFound(request.url + ": not found");
  if (response.status != 200) return Unexpected(request, response);
  if (response.content_length >= 0 && written != static_cast<uint64_t>(response.content_length)) {
    return IoError(request.url + ": got " + std::to_string(written) + " of " +
                   std::to_string(response.content_length) + " bytes");
  }
  DS_RETURN_IF_ERROR(out.Sync());
  DS_RETURN_IF_ERROR(out.Close());
  guard.Release();
  return written;
}

Result<uint64_t> HttpBucket::Size(const std::string& key) {
  DS_RETURN_IF_ERROR(CheckKey(key));
  HttpRequest request;
  request.method = "HEAD";
  request.url = UrlOf(key);
  // No body (its Content-Length is the answer): the allowance alone.
  request.deadline = options_.budget.DeadlineFor(0);
  request.deadline_text = DescribeDeadline(options_.budget, 0);
  request.stop = options_.stop;
  DS_ASSIGN_OR_RETURN(HttpResponse response, Send(request));
  if (response.status == 404) return NotFound(request.url + ": not found");
  if (response.status != 200) return Unexpected(request, response);
  if (response.content_length < 0) return IoError(request.url + ": HEAD answered without a Content-Length");
  return static_cast<uint64_t>(response.content_length);
}

Status HttpBucket::PutAtomically(const std::string& key, HttpRequest& put,
                                 const std::function<Status()>& before_attempt, bool replace) {
  std::string tmp_key = key + ".tmp-" + RandomSuffix();
  put.method = "PUT";
  put.url = UrlOf(tmp_key);
  DS_ASSIGN_OR_RETURN(HttpResponse put_response, Send(put, before_attempt));
  if (put_response.status != 201 && put_response.status != 204 && put_response.status != 200) {
    return Unexpected(put, put_response);
  }
  // MOVE swaps the finished object in with one rename on the server;
  // "Overwrite: F" makes nginx answer 412 when the destination exists.
  HttpRequest move;
  move.method = "MOVE";
  move.url = put.url;
  move.headers = {"Destination: " + UrlOf(key), replace ? "Overwrite: T" : "Overwrite: F"};
  Result<HttpResponse> moved = Send(move);
  Status status = moved.status();
  if (moved.ok() && moved->status == 412 && !replace)
    status = AlreadyExists(UrlOf(key) + ": exists, and is never replaced");
  else if (moved.ok() && moved->status != 201 && moved->status != 204)
    status = Unexpected(move, *moved).Prefixed(UrlOf(key));
  if (!status.ok()) (void)Delete(tmp_key);  // best effort: do not leave the temporary behind
  return status;
}

Status HttpBucket::Put(const std::string& key, std::span<const std::byte> data) {
  return Write(key, data, /*replace=*/true);
}
Status HttpBucket::Create(const std::string& key, std::span<const std::byte> data) {
  return Write(key, data, /*replace=*/false);
}
Status HttpBucket::PutFile(const std::string& key, const std::string& path, const ProgressFn& progress) {
  return WriteFile(key, path, progress, /*replace=*/true);
}
Status HttpBucket::CreateFile(const std::string& key, const std::string& path, const ProgressFn& progress) {
  return WriteFile(key, path, progress, /*replace=*/false);
}

Status HttpBucket::Write(const std::string& key, std::span<const std::byte> data, bool replace) {
  DS_RETURN_IF_ERROR(CheckKey(key));
  HttpRequest put;
  put.upload_size = data.size();
  put.read_body = [&](uint64_t offset, std::span<std::byte> buffer) -> Result<size_t> {
    std::memcpy(buffer.data(), data.data() + offset, buffer.size());
    return buffer.size();
  };
  return PutAtomically(key, put, {}, replace);
}

Status HttpBucket::WriteFile(const std::string& key, const std::string& path, const ProgressFn& progress,
                             bool replace) {
  DS_RETURN_IF_ERROR(CheckKey(key));
  DS_ASSIGN_OR_RETURN(File in, File::OpenRead(path));
  DS_ASSIGN_OR_RETURN(uint64_t size, in.Size());
  HttpRequest put;
  put.upload_size = size;
  put.read_body = [&](uint64_t offset, std::span<std::byte> buffer) -> Result<size_t> {
    DS_RETURN_IF_ERROR(in.ReadAt(offset, buffer));
    if (progress) progress("upload", offset + buffer.size(), size);
    return buffer.size();
  };
  return PutAtomically(key, put, {}, replace);
}

Status HttpBucket::Delete(const std::string& key) {
  DS_RETURN_IF_ERROR(CheckKey(key, /*allow_trailing_slash=*/true));
  if (key.empty()) return InvalidArgument(base_ + ": refusing to delete the whole bucket");
  HttpRequest request;
  request.method = "DELETE";
  request.url = UrlOf(key);  // a prefix keeps its '/': nginx then deletes the directory tree
  DS_ASSIGN_OR_RETURN(HttpResponse response, Send(request));
  if (response.status == 200 || response.status == 204 || response.status == 404) return Status::Ok();
  return Unexpected(request, response);
}

Result<std::vector<std::string>> HttpBucket::List(const std::string& prefix) {
  if (!IsPrefix(prefix)) return InvalidArgument("bucket prefix \"" + prefix + "\": must end in '/'");
  DS_RETURN_IF_ERROR(CheckKey(prefix, /*allow_trailing_slash=*/true));
  std::string body;
  HttpRequest request;
  request.url = UrlOf(prefix);
  Bound(request, kMaxListingBytes, nullptr);
  request.on_body = [&](uint64_t, std::span<const std::byte> chunk, int64_t) -> Status {
    body.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
    return Status::Ok();
  };
  DS_ASSIGN_OR_RETURN(HttpResponse response, Send(request, [&] {
                        body.clear();
                        return Status::Ok();
                      }));
  std::vector<std::string> names;
  if (response.status == 404) return names;
  if (response.status != 200) return Unexpected(request, response);
  DS_ASSIGN_OR_RETURN(names, ParseAutoindexListing(body, request.url));
  std::erase_if(names, [](const std::string& name) { return IsTemporaryName(name); });
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace deltaswarm
