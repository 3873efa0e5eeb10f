#include "deltaswarm/utc_time.h"

#include <ctime>

namespace deltaswarm {

int64_t UnixNow() { return static_cast<int64_t>(std::time(nullptr)); }

std::string FormatUtc(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Result<int64_t> ParseUtc(const std::string& text, const std::string& what) {
  std::tm tm{};
  const char* end = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (end == nullptr || *end != '\0') return Corruption(what + ": \"" + text + "\" is not a UTC time (YYYY-MM-DDThh:mm:ssZ)");
  int64_t seconds = static_cast<int64_t>(::timegm(&tm));
  // strptime accepts some out-of-range fields (Feb 30); only a round trip is exact.
  if (FormatUtc(seconds) != text) return Corruption(what + ": \"" + text + "\" is not a valid UTC time");
  return seconds;
}

}  // namespace deltaswarm
