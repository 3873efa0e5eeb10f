// S3Bucket: a bucket in an S3-compatible object store (AWS S3, MinIO, Ceph
// RGW, R2, s3rver...), at s3://BUCKET/PREFIX (s3_location.h). Every request
// is signed with AWS Signature V4 by libcurl, the payload unsigned
// (x-amz-content-sha256: UNSIGNED-PAYLOAD, which S3 accepts over HTTPS and
// HTTP alike). Reads share the HTTP bucket's bounds, deadlines, stops and
// retries (http_transfer.h). A PUT is atomic in S3 itself, so no temporary
// object is written; files of multipart_threshold bytes and more go up in
// parts of part_size, and a failed multipart upload is aborted.
//
// Create-only: a HEAD first (kAlreadyExists if the key is there), then the
// PUT (or the multipart completion) with "If-None-Match: *", which AWS S3
// (since 2024), MinIO and R2 enforce atomically (412 -> kAlreadyExists).
// A store that ignores the header (s3rver does) only gets the HEAD: two
// writers racing for the same key there may both succeed, the later
// replacing the earlier (docs/CONFIG.md "S3 buckets").
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bucket/http_options.h"
#include "bucket/s3_credentials.h"
#include "bucket/s3_location.h"
#include "bucket/s3_xml.h"
#include "deltaswarm/bucket.h"

namespace deltaswarm {

struct HttpRequest;

struct S3Options {
  HttpOptions http;
  // Files at least this large are uploaded in parts of part_size bytes
  // (AWS: parts of 5 MiB to 5 GiB, at most 10000 of them; the part size
  // grows to fit that count).
  uint64_t multipart_threshold = 64ull << 20;
  uint64_t part_size = 32ull << 20;
  // Keys per ListObjectsV2 page (S3 answers at most 1000).
  int max_keys = 1000;
};

class S3Bucket : public Bucket {
 public:
  S3Bucket(S3Location location, const S3Credentials& credentials, S3Options options = {});

  // "s3://BUCKET/PREFIX/KEY"
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
  using Query = std::vector<std::pair<std::string, std::string>>;
  // The body of an upload: fills buffer from offset, returns bytes filled.
  using BodyReader = std::function<Result<size_t>(uint64_t offset, std::span<std::byte> buffer)>;

  // PREFIX/key, the object's name in the S3 bucket.
  std::string ObjectName(const std::string& key) const;
  // A request for the object (or, with an empty name, the bucket), labelled by Describe.
  HttpRequest RequestFor(const std::string& method, const std::string& object, const Query& query = {}) const;
  Status Write(const std::string& key, uint64_t size, const BodyReader& body, const ProgressFn& progress,
               bool create);
  Status PutWhole(const std::string& object, uint64_t size, const BodyReader& body, const ProgressFn& progress,
                  bool create);
  Status PutMultipart(const std::string& object, uint64_t size, const BodyReader& body,
                      const ProgressFn& progress, bool create);
  // Page `page` of the ListObjectsV2 listing of `from`, resumed at cursor
  // (continuation-token or start-after); total counts the bytes of all pages.
  Result<S3ListPage> FetchPage(const std::string& from, int page, const std::string& cursor_name,
                               const std::string& cursor, uint64_t& total);
  // Every key below the object prefix `from` (ending in '/'), by
  // ListObjectsV2 pages and their continuation tokens.
  Status ListKeys(const std::string& from, std::vector<std::string>& keys);

  S3Location location_;
  S3Options options_;
};

// OpenBucket's s3:// branch: the location (with the environment's endpoint
// and region), then the credentials; a missing piece fails here, in one line.
Result<std::unique_ptr<Bucket>> OpenS3Bucket(const std::string& url, HttpOptions http);

}  // namespace deltaswarm
