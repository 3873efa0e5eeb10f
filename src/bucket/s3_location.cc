#include "bucket/s3_location.h"

#include <cstdlib>
#include <string_view>

#include "bucket/bucket_key.h"

namespace deltaswarm {

namespace {

// S3's rules for bucket names: 3-63 of [a-z0-9.-], starting and ending with
// a letter or digit. Anything else could not be put into a host name safely.
bool IsBucketName(std::string_view name) {
  if (name.size() < 3 || name.size() > 63) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) return false;
  }
  auto edge = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return edge(name.front()) && edge(name.back());
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Query values may be percent-encoded (an endpoint holds ':' and '/').
bool PercentDecode(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

}  // namespace

std::string ProcessEnvironment(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

Result<S3Location> ParseS3Url(const std::string& url, const Environment& env) {
  constexpr std::string_view kScheme = "s3://";
  if (!std::string_view(url).starts_with(kScheme)) return InvalidArgument(url + ": not an s3:// URL");
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  S3Location loc;
  size_t slash = rest.find('/');
  loc.bucket = std::string(rest.substr(0, slash));
  if (!IsBucketName(loc.bucket)) {
    return InvalidArgument(url + ": \"" + loc.bucket +
                           "\" is not an S3 bucket name (3-63 of a-z, 0-9, '.', '-'; s3://BUCKET/PREFIX)");
  }
  std::string prefix = slash == std::string_view::npos ? "" : std::string(rest.substr(slash + 1));
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (!prefix.empty() && !CheckKey(prefix).ok()) {
    return InvalidArgument(url + ": the prefix \"" + prefix + "\" is not a key path (no empty, '.' or '..' parts)");
  }
  loc.prefix = prefix;
  loc.url = "s3://" + loc.bucket + (prefix.empty() ? "" : "/" + prefix);

  std::string endpoint, region;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string name(pair.substr(0, eq)), value;
    if (eq == std::string_view::npos || !PercentDecode(pair.substr(eq + 1), value) || value.empty()) {
      return InvalidArgument(url + ": query parameter \"" + name + "\" needs a value");
    }
    if (name == "endpoint") endpoint = value;
    else if (name == "region") region = value;
    else if (name == "profile") loc.profile = value;
    else return InvalidArgument(url + ": unknown query parameter \"" + name + "\" (endpoint, region, profile)");
  }
  if (endpoint.empty()) endpoint = env("AWS_ENDPOINT_URL_S3");
  if (endpoint.empty()) endpoint = env("AWS_ENDPOINT_URL");
  if (region.empty()) region = env("AWS_REGION");
  if (region.empty()) region = env("AWS_DEFAULT_REGION");
  if (region.empty()) region = "us-east-1";
  for (char c : region) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
      return InvalidArgument(url + ": \"" + region + "\" is not a region name (us-east-1)");
  }
  loc.region = region;
  if (endpoint.empty()) {
    // AWS: virtual-hosted style, which every bucket supports; a dotted name
    // would break the certificate's wildcard, so it goes path-style.
    std::string host = "s3." + region + ".amazonaws.com";
    loc.path_style = loc.bucket.find('.') != std::string::npos;
    loc.bucket_url = loc.path_style ? "https://" + host + "/" + loc.bucket : "https://" + loc.bucket + "." + host;
    return loc;
  }
  if (!endpoint.starts_with("http://") && !endpoint.starts_with("https://")) {
    return InvalidArgument(url + ": endpoint \"" + endpoint + "\" is not an http:// or https:// URL");
  }
  while (endpoint.back() == '/') endpoint.pop_back();
  loc.bucket_url = endpoint + "/" + loc.bucket;
  loc.path_style = true;
  return loc;
}

}  // namespace deltaswarm
