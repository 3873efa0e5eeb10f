#include "tls/asn1_time.h"

#include <ctime>

#include "deltaswarm/tls.h"

namespace deltaswarm::tls {

int64_t NowUnixSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

Result<int64_t> UnixSeconds(const ASN1_TIME* time, const std::string& what) {
  struct tm tm = {};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return Corruption(what + ": unreadable time");
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace deltaswarm::tls

namespace deltaswarm {

std::string UtcText(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  struct tm tm = {};
  gmtime_r(&t, &tm);
  char text[40];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

}  // namespace deltaswarm

