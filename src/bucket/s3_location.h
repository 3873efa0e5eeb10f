// Where an s3:// bucket URL points:
//   s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION&profile=NAME]
// The endpoint comes from the URL's query, else AWS_ENDPOINT_URL_S3, else
// AWS_ENDPOINT_URL; with one, requests are path-style (ENDPOINT/BUCKET/KEY),
// as local and S3-compatible servers want. Without one it is AWS itself,
// virtual-hosted style (https://BUCKET.s3.REGION.amazonaws.com/KEY). The
// region comes from the query, else AWS_REGION, else AWS_DEFAULT_REGION,
// else us-east-1; the credentials' profile from the query, else AWS_PROFILE.
#pragma once

#include <functional>
#include <string>

#include "deltaswarm/status.h"

namespace deltaswarm {

// An environment variable's value, "" when unset (tests pass their own).
using Environment = std::function<std::string(const char* name)>;
std::string ProcessEnvironment(const char* name);

struct S3Location {
  std::string bucket;    // "checkpoints"
  std::string prefix;    // "team/llama", without leading or trailing '/'; may be empty
  std::string region;    // "us-east-1"
  std::string profile;   // "" unless the URL names one
  // "http://127.0.0.1:4568/checkpoints" (path-style) or
  // "https://checkpoints.s3.us-east-1.amazonaws.com"; keys follow a '/'.
  std::string bucket_url;
  bool path_style = false;  // bucket_url ends in "/BUCKET"
  std::string url;       // the s3:// URL without its query, for messages
};

// kInvalidArgument naming the URL for a bad bucket name, an empty or
// unknown query parameter, or an endpoint that is not http(s)://.
Result<S3Location> ParseS3Url(const std::string& url, const Environment& env = ProcessEnvironment);

}  // namespace deltaswarm
