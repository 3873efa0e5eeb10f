// OpenBucket: picks the backend from the URL's scheme.
#include <cstring>
#include <filesystem>
#include <memory>

#include "bucket/directory_bucket.h"
#include "bucket/http_bucket.h"
#include "core/file.h"
#include "deltaswarm/bucket.h"

namespace deltaswarm {

Result<std::unique_ptr<Bucket>> OpenBucket(const std::string& url, bool create) {
  if (url.starts_with("http://") || url.starts_with("https://")) {
    return std::unique_ptr<Bucket>(std::make_unique<HttpBucket>(url));
  }
  std::string path = url;
  if (url.starts_with("file://")) {
    path = url.substr(std::strlen("file://"));
    if (path.empty() || path.front() != '/') {
      return InvalidArgument(url + ": a file:// bucket needs an absolute path (file:///abs/path)");
    }
  }
  if (path.empty()) return InvalidArgument("empty bucket path");
  if (!IsDirectory(path)) {
    if (!create) return NotFound(path + ": bucket directory not found");
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return IoError(path + ": cannot create bucket directory: " + ec.message());
  }
  return std::unique_ptr<Bucket>(std::make_unique<DirectoryBucket>(path));
}

}  // namespace deltaswarm
