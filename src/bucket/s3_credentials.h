// The AWS credentials an s3:// bucket signs with, found where the AWS tools
// look: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN),
// else the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
// ~/.aws/credentials) under the profile asked for (the URL's, else
// AWS_PROFILE, else "default"). Read once, when the bucket is opened.
#pragma once

#include <string>

#include "bucket/s3_location.h"
#include "deltaswarm/status.h"

namespace deltaswarm {

struct S3Credentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // empty unless temporary credentials
  std::string source;         // "environment" or "/root/.aws/credentials [default]"
};

// kInvalidArgument with one line naming every place looked in when none
// holds a key pair, or when one holds half of it.
Result<S3Credentials> FindS3Credentials(const std::string& profile, const Environment& env = ProcessEnvironment);

}  // namespace deltaswarm
