// HttpOptions: the knobs of the HTTP bucket's client. The defaults retry a
// transient fault for well under two seconds in total, so a dead bucket is
// reported quickly; a stalled transfer is abandoned (and retried) after
// low_speed_time_s; a download that is not over by its budget's deadline
// (transfer_budget.h: 30 s + size / 1 MB/s, retries included) fails for good.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "bucket/transfer_budget.h"
#include "deltaswarm/stop_signal.h"
#include "deltaswarm/tls.h"

namespace deltaswarm {

struct HttpOptions {
  int attempts = 4;                                   // tries per request, >= 1
  std::chrono::milliseconds first_backoff{100};       // then doubled: 100, 200, 400 ms
  std::chrono::milliseconds connect_timeout{3000};
  // A transfer slower than low_speed_bytes_per_s for low_speed_time_s is aborted (and retried).
  long low_speed_bytes_per_s = 1024;
  long low_speed_time_s = 30;
  // Every GET (Get, GetToFile, List) ends by budget.DeadlineFor(its bound);
  // HEAD by the allowance alone. Uploads are not bounded by it.
  TransferBudget budget;
  // For https:// only: cert/key (PEM) are presented to the server when given;
  // ca replaces the system's trust store for verifying it. Peer and host
  // verification stay on either way.
  TlsIdentity tls;
  // The process's stop (may be null): ends every request of this bucket
  // within milliseconds, metadata GETs and HEADs too (kCancelled).
  const StopSignal* stop = nullptr;
  // Sent with every request ("Name: value"): an S3 bucket's
  // x-amz-content-sha256 and session token.
  std::vector<std::string> headers;
  // When set, every request is signed with AWS Signature V4 by libcurl
  // (CURLOPT_AWS_SIGV4, e.g. "aws:amz:us-east-1:s3") with this access key
  // and secret.
  std::string aws_sigv4;
  std::string access_key;
  std::string secret_key;
};

}  // namespace deltaswarm
