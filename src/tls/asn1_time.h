// Certificate and CRL times as Unix seconds (their text: UtcText in tls.h).
#pragma once

#include <openssl/asn1.h>

#include <cstdint>
#include <string>

#include "deltaswarm/status.h"

namespace deltaswarm::tls {

// notBefore and a CRL's lastUpdate are set this far before "now", so that a
// peer whose clock is a little behind the issuer's accepts them at once.
constexpr int64_t kClockSkewAllowanceS = 5 * 60;

int64_t NowUnixSeconds();
// kCorruption "<what>: unreadable time" for a malformed value.
Result<int64_t> UnixSeconds(const ASN1_TIME* time, const std::string& what);

}  // namespace deltaswarm::tls
