#include "bucket/s3_bucket.h"

#include <algorithm>
#include <cstring>
#include <memory>

#include "bucket/bucket_key.h"
#include "bucket/curl_request.h"
#include "bucket/http_transfer.h"
#include "bucket/s3_xml.h"
#include "core/file.h"

namespace deltaswarm {

namespace {

// One ListObjectsV2 page is at most 1000 keys of at most 1 KiB (escaped,
// with their metadata); a listing in all at most this many bytes and pages.
constexpr uint64_t kMaxPageBytes = 16ull << 20;
constexpr uint64_t kMaxListingBytes = 256ull << 20;
constexpr int kMaxPages = 100000;
// A result document (CompleteMultipartUpload, InitiateMultipartUpload).
constexpr uint64_t kMaxResultBytes = 1 << 20;
constexpr uint64_t kMaxParts = 10000;          // S3's limit per upload
constexpr uint64_t kMinPartSize = 5ull << 20;  // S3's, for every part but the last
// AWS may take minutes to assemble a large object, sending spaces meanwhile.
constexpr auto kCompleteDeadline = std::chrono::minutes(15);

// RFC 3986 encoding of a query key or value, as SigV4's canonical query wants.
std::string EncodeQueryPart(const std::string& s) {
  std::string out = PercentEncodePath(s);
  std::string slashless;
  for (char c : out) slashless += c == '/' ? std::string("%2F") : std::string(1, c);
  return slashless;
}

std::string XmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

bool IsOk(long status) { return status == 200 || status == 201 || status == 204; }

}  // namespace

S3Bucket::S3Bucket(S3Location location, const S3Credentials& credentials, S3Options options)
    : location_(std::move(location)), options_(std::move(options)) {
  HttpOptions& http = options_.http;
  http.aws_sigv4 = "aws:amz:" + location_.region + ":s3";
  http.access_key = credentials.access_key;
  http.secret_key = credentials.secret_key;
  // libcurl 7.88 adds no payload hash header; S3 requires one.
  http.headers.push_back("x-amz-content-sha256: UNSIGNED-PAYLOAD");
  if (!credentials.session_token.empty()) http.headers.push_back("x-amz-security-token: " + credentials.session_token);
  options_.max_keys = std::clamp(options_.max_keys, 1, 1000);
  options_.part_size = std::max(options_.part_size, uint64_t{1});
}

std::string S3Bucket::ObjectName(const std::string& key) const {
  return location_.prefix.empty() ? key : location_.prefix + "/" + key;
}

std::string S3Bucket::Describe(const std::string& key) const { return location_.url + "/" + key; }

HttpRequest S3Bucket::RequestFor(const std::string& method, const std::string& object, const Query& query) const {
  HttpRequest request;
  request.method = method;
  request.url = location_.bucket_url;
  if (!object.empty()) request.url += "/" + PercentEncodePath(object);
  else if (!location_.path_style) request.url += "/";
  // Sorted and fully encoded: the form SigV4 signs, whatever libcurl's version does.
  Query sorted = query;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    request.url += (i == 0 ? "?" : "&") + EncodeQueryPart(sorted[i].first) + "=" + EncodeQueryPart(sorted[i].second);
  }
  request.label = "s3://" + location_.bucket + "/" + object;
  return request;
}

Result<std::vector<std::byte>> S3Bucket::Get(const std::string& key, uint64_t max_bytes) {
  DS_RETURN_IF_ERROR(CheckKey(key));
  return FetchToMemory(options_.http, RequestFor("GET", ObjectName(key)), max_bytes);
}

Result<uint64_t> S3Bucket::GetToFile(const std::string& key, const std::string& path, uint64_t max_bytes,
                                     const ProgressFn& progress, const StopSignal* stop) {
  DS_RETURN_IF_ERROR(CheckKey(key));
  return FetchToFile(options_.http, RequestFor("GET", ObjectName(key)), path, max_bytes, progress, stop);
}

Result<uint64_t> S3Bucket::Size(const std::string& key) {
  DS_RETURN_IF_ERROR(CheckKey(key));
  return FetchSize(options_.http, RequestFor("HEAD", ObjectName(key)));
}

Status S3Bucket::Put(const std::string& key, std::span<const std::byte> data) {
  return Write(key, data.size(),
               [&](uint64_t offset, std::span<std::byte> buffer) -> Result<size_t> {
                 std::memcpy(buffer.data(), data.data() + offset, buffer.size());
                 return buffer.size();
               },
               nullptr, /*create=*/false);
}

Status S3Bucket::Create(const std::string& key, std::span<const std::byte> data) {
  return Write(key, data.size(),
               [&](uint64_t offset, std::span<std::byte> buffer) -> Result<size_t> {
                 std::memcpy(buffer.data(), data.data() + offset, buffer.size());
                 return buffer.size();
               },
               nullptr, /*create=*/true);
}

Status S3Bucket::PutFile(const std::string& key, const std::string& path, const ProgressFn& progress) {
  DS_ASSIGN_OR_RETURN(File in, File::OpenRead(path));
  DS_ASSIGN_OR_RETURN(uint64_t size, in.Size());
  return Write(key, size,
               [&](uint64_t offset, std::span<std::byte> buffer) -> Result<size_t> {
                 DS_RETURN_IF_ERROR(in.ReadAt(offset, buffer));
                 return buffer.size();
               },
               progress, /*create=*/false);
}

Status S3Bucket::CreateFile(const std::string& key, const std::string& path, const ProgressFn& progress) {
  DS_ASSIGN_OR_RETURN(File in, File::OpenRead(path));
  DS_ASSIGN_OR_RETURN(uint64_t size, in.Size());
  return Write(key, size,
               [&](uint64_t offset, std::span<std::byte> buffer) -> Result<size_t> {
                 DS_RETURN_IF_ERROR(in.ReadAt(offset, buffer));
                 return buffer.size();
               },
               progress, /*create=*/true);
}

Status S3Bucket::Write(const std::string& key, uint64_t size, const BodyReader& body, const ProgressFn& progress,
                       bool create) {
  DS_RETURN_IF_ERROR(CheckKey(key));
  const std::string object = ObjectName(key);
  if (create) {
    // The check a store without conditional writes still gets (see the header).
    Result<uint64_t> there = FetchSize(options_.http, RequestFor("HEAD", object));
    if (there.ok()) return AlreadyExists(Describe(key) + ": exists, and is never replaced");
    if (there.status().code() != Code::kNotFound) return there.status();
  }
  if (size >= options_.multipart_threshold && size > options_.part_size) {
    return PutMultipart(object, size, body, progress, create);
  }
  return PutWhole(object, size, body, progress, create);
}

Status S3Bucket::PutWhole(const std::string& object, uint64_t size, const BodyReader& body,
                          const ProgressFn& progress, bool create) {
  HttpRequest put = RequestFor("PUT", object);
  put.headers.push_back("Content-Type: application/octet-stream");
  if (create) put.headers.push_back("If-None-Match: *");
  put.error_body_bytes = 4096;
  put.upload_size = size;
  put.read_body = [&](uint64_t offset, std::span<std::byte> buffer) -> Result<size_t> {
    DS_ASSIGN_OR_RETURN(size_t n, body(offset, buffer));
    if (progress) progress("upload", offset + n, size);
    return n;
  };
  DS_ASSIGN_OR_RETURN(HttpResponse response, SendWithRetries(options_.http, put));
  if (create && response.status == 412) return AlreadyExists(put.label + ": exists, and is never replaced");
  if (!IsOk(response.status)) return UnexpectedAnswer(put, response);
  return Status::Ok();
}

Status S3Bucket::PutMultipart(const std::string& object, uint64_t size, const BodyReader& body,
                              const ProgressFn& progress, bool create) {
  uint64_t part_size = std::max(options_.part_size, (size + kMaxParts - 1) / kMaxParts);
  if (options_.part_size >= kMinPartSize) part_size = std::max(part_size, kMinPartSize);

  HttpRequest initiate = RequestFor("POST", object, {{"uploads", ""}});
  initiate.headers.push_back("Content-Type: application/octet-stream");
  DS_ASSIGN_OR_RETURN(TextAnswer started, FetchText(options_.http, initiate, kMaxResultBytes));
  if (started.status != 200) return UnexpectedAnswer(initiate, started.response);
  DS_ASSIGN_OR_RETURN(std::string upload_id, ParseUploadId(started.body, initiate.label));

  // From here on a failure aborts the upload, so that its parts do not stay
  // (and cost) in the store.
  auto abort = [&](Status why) {
    HttpRequest del = RequestFor("DELETE", object, {{"uploadId", upload_id}});
    (void)SendWithRetries(options_.http, del);
    return why;
  };
  std::string manifest = "<CompleteMultipartUpload>";
  uint64_t part_count = (size + part_size - 1) / part_size;
  for (uint64_t part = 1; part <= part_count; ++part) {
    uint64_t from = (part - 1) * part_size;
    uint64_t length = std::min(part_size, size - from);
    HttpRequest put = RequestFor("PUT", object, {{"partNumber", std::to_string(part)}, {"uploadId", upload_id}});
    put.error_body_bytes = 4096;
    put.capture_headers = {"etag"};
    put.upload_size = length;
    put.read_body = [&](uint64_t offset, std::span<std::byte> buffer) -> Result<size_t> {
      DS_ASSIGN_OR_RETURN(size_t n, body(from + offset, buffer));
      if (progress) progress("upload", from + offset + n, size);
      return n;
    };
    Result<HttpResponse> sent = SendWithRetries(options_.http, put);
    if (!sent.ok()) return abort(sent.status());
    if (sent->status != 200) return abort(UnexpectedAnswer(put, *sent));
    std::string etag = sent->Header("etag");
    if (etag.empty()) return abort(IoError(put.label + ": part " + std::to_string(part) + " answered without an ETag"));
    manifest += "<Part><PartNumber>" + std::to_string(part) + "</PartNumber><ETag>" + XmlEscape(etag) + "</ETag></Part>";
  }
  manifest += "</CompleteMultipartUpload>";

  HttpRequest complete = RequestFor("POST", object, {{"uploadId", upload_id}});
  complete.headers.push_back("Content-Type: application/xml");
  if (create) complete.headers.push_back("If-None-Match: *");
  complete.error_body_bytes = 4096;
  complete.upload_size = manifest.size();
  complete.read_body = [&](uint64_t offset, std::span<std::byte> buffer) -> Result<size_t> {
    std::memcpy(buffer.data(), manifest.data() + offset, buffer.size());
    return buffer.size();
  };
  std::string answer;
  complete.max_body = kMaxResultBytes;
  complete.deadline = SteadyClock::now() + kCompleteDeadline;
  complete.stop = options_.http.stop;
  complete.on_body = [&](uint64_t, std::span<const std::byte> chunk, int64_t) -> Status {
    answer.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
    return Status::Ok();
  };
  Result<HttpResponse> done = SendWithRetries(options_.http, complete, [&] {
    answer.clear();
    return Status::Ok();
  });
  if (!done.ok()) return abort(done.status());
  if (create && done->status == 412) return abort(AlreadyExists(complete.label + ": exists, and is never replaced"));
  if (done->status != 200) return abort(UnexpectedAnswer(complete, *done));
  // S3 may answer 200 and report the failure in the body.
  if (std::string why = ErrorDocumentSummary(answer); !why.empty()) {
    return abort(IoError(complete.label + ": completing the multipart upload failed: " + why));
  }
  return Status::Ok();
}

Result<S3ListPage> S3Bucket::FetchPage(const std::string& from, int page, const std::string& cursor_name,
                                       const std::string& cursor, uint64_t& total) {
  const std::string label = "s3://" + location_.bucket + "/" + from;
  if (page == kMaxPages) return Corruption(label + ": a listing of more than " + std::to_string(kMaxPages) + " pages");
  Query query = {{"list-type", "2"}, {"prefix", from}, {"max-keys", std::to_string(options_.max_keys)}};
  if (!cursor.empty()) query.emplace_back(cursor_name, cursor);
  HttpRequest list = RequestFor("GET", "", query);
  list.label = label;
  DS_ASSIGN_OR_RETURN(TextAnswer answer, FetchText(options_.http, list, kMaxPageBytes));
  if (answer.status != 200) return UnexpectedAnswer(list, answer.response);
  total += answer.body.size();
  if (total > kMaxListingBytes) {
    return Corruption(label + ": a listing of more than " + std::to_string(kMaxListingBytes) + " bytes");
  }
  return ParseListObjectsV2(answer.body, label);
}

Status S3Bucket::ListKeys(const std::string& from, std::vector<std::string>& keys) {
  std::string token;
  uint64_t total = 0;
  for (int page = 0;; ++page) {
    DS_ASSIGN_OR_RETURN(S3ListPage parsed, FetchPage(from, page, "continuation-token", token, total));
    for (std::string& k : parsed.keys) keys.push_back(std::move(k));
    if (!parsed.truncated) return Status::Ok();
    if (parsed.next_token == token) return Corruption("s3://" + location_.bucket + "/" + from + ": a listing that repeats its continuation token");
    token = std::move(parsed.next_token);
  }
}

// Not a delimiter listing: s3rver 3.7 leaves out every common prefix that
// holds no object directly ("m/versions/" above "m/versions/2/x"). A flat
// listing that skips each sub-directory as soon as it shows up (start-after
// its last possible key) is right on every store and costs at most one
// request per sub-directory plus one per max_keys objects.
Result<std::vector<std::string>> S3Bucket::List(const std::string& prefix) {
  if (!IsPrefix(prefix)) return InvalidArgument("bucket prefix \"" + prefix + "\": must end in '/'");
  DS_RETURN_IF_ERROR(CheckKey(prefix, /*allow_trailing_slash=*/true));
  const std::string from =
      prefix.empty() ? (location_.prefix.empty() ? "" : location_.prefix + "/") : ObjectName(prefix);
  // Above every UTF-8 key that starts with what it is appended to (U+10FFFF).
  static const std::string kLast = "\xf4\x8f\xbf\xbf";
  std::vector<std::string> names;
  std::string after;
  uint64_t total = 0;
  for (int page = 0;; ++page) {
    DS_ASSIGN_OR_RETURN(S3ListPage parsed, FetchPage(from, page, "start-after", after, total));
    // S3 sends keys sorted; s3rver in its directory walk's order.
    std::sort(parsed.keys.begin(), parsed.keys.end());
    // A key at or before where the page should start would loop.
    if (!parsed.keys.empty() && !after.empty() && parsed.keys.front() <= after) {
      return Corruption("s3://" + location_.bucket + "/" + from + ": the listing goes backwards at \"" + parsed.keys.front() + "\"");
    }
    std::string skip;  // the sub-directory being skipped, as a full prefix
    for (const std::string& key : parsed.keys) {
      after = key;
      if (!skip.empty() && key.starts_with(skip)) continue;
      // Only names below `from` (a server could send others), and not `from`
      // itself (the "folder" object a console creates).
      if (key.size() <= from.size() || !key.starts_with(from)) continue;
      std::string rest = key.substr(from.size());
      size_t slash = rest.find('/');
      if (slash == std::string::npos) {
        names.push_back(std::move(rest));
        continue;
      }
      names.push_back(rest.substr(0, slash + 1));
      skip = from + names.back();
    }
    if (!parsed.truncated || parsed.keys.empty()) break;
    if (!skip.empty() && after.starts_with(skip)) after = skip + kLast;
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

Status S3Bucket::Delete(const std::string& key) {
  DS_RETURN_IF_ERROR(CheckKey(key, /*allow_trailing_slash=*/true));
  if (key.empty()) return InvalidArgument(location_.url + ": refusing to delete the whole bucket");
  std::vector<std::string> objects;
  if (IsPrefix(key)) {
    DS_RETURN_IF_ERROR(ListKeys(ObjectName(key), objects));
    // ListKeys may return keys not below the prefix from a confused server: never delete those.
    std::erase_if(objects, [&](const std::string& o) { return !o.starts_with(ObjectName(key)); });
  } else {
    objects.push_back(ObjectName(key));
  }
  // One DELETE per object: DeleteObjects would need a Content-MD5, and a
  // prefix here is one old version's few dozen objects.
  for (const std::string& object : objects) {
    HttpRequest del = RequestFor("DELETE", object);
    del.error_body_bytes = 4096;
    DS_ASSIGN_OR_RETURN(HttpResponse response, SendWithRetries(options_.http, del));
    if (!IsOk(response.status) && response.status != 404) return UnexpectedAnswer(del, response);
  }
  return Status::Ok();
}

Result<std::unique_ptr<Bucket>> OpenS3Bucket(const std::string& url, HttpOptions http) {
  DS_ASSIGN_OR_RETURN(S3Location location, ParseS3Url(url));
  Result<S3Credentials> credentials = FindS3Credentials(location.profile);
  if (!credentials.ok()) return credentials.status().Prefixed(location.url);
  S3Options options;
  options.http = std::move(http);
  return std::unique_ptr<Bucket>(std::make_unique<S3Bucket>(std::move(location), *credentials, std::move(options)));
}

}  // namespace deltaswarm
