// OpenBucket: picks the backend from the URL's scheme.
#include <cstring>
#include <filesystem>
#include <memory>

#include "bucket/directory_bucket.h"
#include "bucket/http_bucket.h"
#include "bucket/s3_bucket.h"
#include "core/file.h"
#include "deltaswarm/bucket.h"
#include "deltaswarm/tls.h"

namespace deltaswarm {

namespace {

// Checks an HTTPS client's files up front: libcurl would report a missing key
// only as a handshake failure on every request (and retry it), far from the
// file's name.
Status CheckClientTls(const std::string& url, const TlsIdentity& tls) {
  if (tls.cert.empty() && !tls.key.empty())
    return InvalidArgument(url + ": tls_key " + tls.key + " given without tls_cert");
  if (tls.has_certificate()) {
    Result<CertificateInfo> info = CheckIdentity(tls);
    return info.ok() ? Status::Ok() : info.status().Prefixed(url);
  }
  if (!tls.ca.empty()) {
    Result<std::string> ca = ReadPemFile(tls.ca);
    if (!ca.ok()) return ca.status().Prefixed(url + ": tls_ca");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Bucket>> OpenBucket(const std::string& url, bool create, const TlsIdentity& tls,
                                           const StopSignal* stop) {
  if (url.starts_with("s3://")) {
    HttpOptions options;
    options.stop = stop;
    // An https:// endpoint is verified against tls.ca when given (a private
    // store's CA), else the system's trust store.
    if (tls.has_certificate() || !tls.ca.empty() || !tls.key.empty()) {
      DS_RETURN_IF_ERROR(CheckClientTls(url, tls));
      options.tls = tls;
    }
    return OpenS3Bucket(url, options);
  }
  if (url.starts_with("http://") || url.starts_with("https://")) {
    HttpOptions options;
    options.stop = stop;
    if (url.starts_with("https://")) {
      DS_RETURN_IF_ERROR(CheckClientTls(url, tls));
      options.tls = tls;
    }
    return std::unique_ptr<Bucket>(std::make_unique<HttpBucket>(url, options));
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
    DS_RETURN_IF_ERROR(MakeDirectories(path));
  }
  return std::unique_ptr<Bucket>(std::make_unique<DirectoryBucket>(path));
}

}  // namespace deltaswarm
