// A Hub bucket: the seed and manifest store. A flat namespace of objects named
// by '/'-separated keys ("llama/versions/3/delta/index.dsi"), behind one
// interface with three backends: a directory (a local path, file://, or a
// shared filesystem), HTTP(S) (GET with Range, PUT, MOVE, DELETE as served by
// nginx's WebDAV module; listing through nginx autoindex in JSON format) and
// S3-compatible object stores (s3://bucket/prefix, AWS Signature V4).
// Implementations are safe to use from several threads at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "deltaswarm/progress.h"
#include "deltaswarm/status.h"
#include "deltaswarm/stop_signal.h"
#include "deltaswarm/tls.h"

namespace deltaswarm {

class Bucket {
 public:
  virtual ~Bucket() = default;

  // The URL or path of key, for messages ("http://127.0.0.1:8080/b/llama/refs/latest").
  virtual std::string Describe(const std::string& key) const = 0;

  // Reads are bounded, whatever the bucket holds or sends: the caller names
  // the most bytes it accepts (a manifest's size for chunks, index and
  // torrents; a documented cap for metadata, docs/FORMAT.md), the read fails
  // with kCorruption as soon as the object is known to be larger (its size,
  // a Content-Length, or the bytes counted as they arrive) and nothing past
  // the bound is kept. Each read also has a deadline, 30 s + max_bytes at
  // 1 MB/s by default (src/bucket/transfer_budget.h), past which it fails
  // with kIoError. A directory bucket opens only regular files, and follows
  // no symbolic link below its root (kNotFound).

  // The whole object; kNotFound if absent (every backend alike), kCorruption if
  // it is larger than max_bytes.
  virtual Result<std::vector<std::byte>> Get(const std::string& key, uint64_t max_bytes) = 0;
  // Streams the object into a new local file at path (which must not exist);
  // returns its size. The file never holds more than max_bytes. Once *stop
  // (may be null) is requested the read ends within about a second, also in
  // the middle of the object, with kCancelled. On failure the file is removed.
  virtual Result<uint64_t> GetToFile(const std::string& key, const std::string& path, uint64_t max_bytes,
                                     const ProgressFn& progress, const StopSignal* stop) = 0;
  // Object size; kNotFound if absent.
  virtual Result<uint64_t> Size(const std::string& key) = 0;

  // Creates or replaces key atomically: readers see the old object or the whole
  // new one (a temporary name, then rename or MOVE).
  virtual Status Put(const std::string& key, std::span<const std::byte> data) = 0;
  virtual Status PutFile(const std::string& key, const std::string& path, const ProgressFn& progress) = 0;
  // As Put and PutFile, but only if key is absent: kAlreadyExists when it is
  // there, also when another writer created it first. A version's objects are
  // written this way, so that nothing published is ever replaced.
  virtual Status Create(const std::string& key, std::span<const std::byte> data) = 0;
  virtual Status CreateFile(const std::string& key, const std::string& path, const ProgressFn& progress) = 0;
  // Removes key, or every key below it if key ends in '/'; absence is not an error.
  virtual Status Delete(const std::string& key) = 0;
  // Names directly below prefix (which ends in '/'): objects by name,
  // "directories" with a trailing '/'. Sorted. Empty if the prefix is absent.
  virtual Result<std::vector<std::string>> List(const std::string& prefix) = 0;
};

// Opens a bucket from a URL: "http://host:port/prefix", "https://...",
// "s3://bucket/prefix[?endpoint=URL&region=R&profile=P]" (src/bucket/s3_location.h;
// credentials as the AWS tools find them, else kInvalidArgument naming where
// it looked), "file:///abs/path" or a plain path. A directory bucket's directory is
// created if missing when create is true. For an https:// URL, tls (when not
// empty) is the client's identity and the CA it verifies the server against;
// its files are checked here (CheckIdentity), so a missing or mismatched file
// fails at once with one line naming it. Other schemes ignore tls. stop
// (may be null; not owned) ends any HTTP request of the bucket within
// milliseconds once requested: a role passes the process's stop.
Result<std::unique_ptr<Bucket>> OpenBucket(const std::string& url, bool create = false, const TlsIdentity& tls = {},
                                           const StopSignal* stop = nullptr);

}  // namespace deltaswarm
