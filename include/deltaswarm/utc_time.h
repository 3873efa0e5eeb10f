// UTC timestamps as written into signed statements: ISO 8601 to the second
// ("2026-12-04T01:40:00Z"), read back exactly.
#pragma once

#include <cstdint>
#include <string>

#include "deltaswarm/status.h"

namespace deltaswarm {

// Seconds since the Unix epoch, now.
int64_t UnixNow();
std::string FormatUtc(int64_t unix_seconds);
// kCorruption naming `what` unless text is exactly the form FormatUtc writes.
Result<int64_t> ParseUtc(const std::string& text, const std::string& what);

}  // namespace deltaswarm
