// TransferBudget: how long one download from a bucket may take. A bucket that
// drips (a few KiB/s, each byte just fast enough for a stall detector) must
// not hold a node for hours or past a stop: every download ends by
//   deadline = start + allowance + expected bytes / min_bytes_per_s,
// retries included, where the expected bytes are the bound the caller gave
// (the signed manifest's size of a chunk, index or torrent; the documented cap
// of a metadata object). Past it the download fails with kIoError and removes
// what it wrote; the caller may try again later.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "deltaswarm/stop_signal.h"

namespace deltaswarm {

struct TransferBudget {
  // Covers connecting, the first byte and retries' backoff; at 1 MB/s a
  // 32 MiB chunk (the default chunk size) has 30 + 33.6 s.
  std::chrono::milliseconds allowance{30000};
  // The slowest average rate a download may keep. 1 MB/s is far below any
  // cluster or Hub link and far above a drip; 0 means no size-scaled part.
  uint64_t min_bytes_per_s = 1000 * 1000;

  // When a download of `bytes` that starts at `from` must be over.
  SteadyClock::time_point DeadlineFor(uint64_t bytes, SteadyClock::time_point from = SteadyClock::now()) const;
};

// "deadline passed (63.6 s for 33554432 bytes at >= 1000000 B/s)", for the
// error of a download that is not over by DeadlineFor(bytes, start).
std::string DescribeDeadline(const TransferBudget& budget, uint64_t bytes);

}  // namespace deltaswarm
