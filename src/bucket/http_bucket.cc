#include "bucket/http_bucket.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>

#include "bucket/autoindex_listing.h"
#include "bucket/bucket_key.h"
#include "bucket/curl_request.h"
#include "bucket/http_transfer.h"
#include "core/file.h"

namespace deltaswarm {

namespace {

constexpr uint64_t kMaxListingBytes = 64ull << 20;

Status Unexpected(const HttpRequest& request, const HttpResponse& response) {
  return UnexpectedAnswer(request, response);
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
  return SendWithRetries(options_, request, before_attempt);
}

Result<std::vector<std::byte>> HttpBucket::Get(const std::string& key, uint64_t max_bytes) {
  DS_RETURN_IF_ERROR(CheckKey(key));
  HttpRequest request;
  request.url = UrlOf(key);
  return FetchToMemory(options_, std::move(request), max_bytes);
}

Result<uint64_t> HttpBucket::GetToFile(const std::string& key, const std::string& path, uint64_t max_bytes,
                                       const ProgressFn& progress, const StopSignal* stop) {
  DS_RETURN_IF_ERROR(CheckKey(key));
  HttpRequest request;
  request.url = UrlOf(key);
  return FetchToFile(options_, std::move(request), path, max_bytes, progress, stop);
}

Result<uint64_t> HttpBucket::Size(const std::string& key) {
  DS_RETURN_IF_ERROR(CheckKey(key));
  HttpRequest request;
  request.url = UrlOf(key);
  return FetchSize(options_, std::move(request));
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
  HttpRequest request;
  request.url = UrlOf(prefix);
  DS_ASSIGN_OR_RETURN(TextAnswer answer, FetchText(options_, request, kMaxListingBytes));
  std::vector<std::string> names;
  if (answer.status == 404) return names;
  if (answer.status != 200) return UnexpectedAnswer(request, answer.response);
  DS_ASSIGN_OR_RETURN(names, ParseAutoindexListing(answer.body, request.url));
  std::erase_if(names, [](const std::string& name) { return IsTemporaryName(name); });
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace deltaswarm
