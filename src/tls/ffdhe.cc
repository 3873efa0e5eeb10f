// Ffdhe2048Pem: the RFC 7919 ffdhe2048 group (p = 2^2048 - 2^1984 +
// (floor(2^1918 * e) + 560316) * 2^64 - 1, g = 2) as PKCS#3 DH parameters,
// exactly as `openssl genpkey -genparam -algorithm DH -pkeyopt
// group:ffdhe2048` writes it. A published constant rather than generated:
// nothing can fail, and tls/ca_test checks it against OpenSSL's own group.
#include "deltaswarm/tls.h"

namespace deltaswarm {

const std::string& Ffdhe2048Pem() {
  static const std::string kPem =
      "-----BEGIN DH PARAMETERS-----\n"
      "MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz\n"
      "+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a\n"
      "87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7\n"
      "YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi\n"
      "7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD\n"
      "ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==\n"
      "-----END DH PARAMETERS-----\n";
  return kPem;
}

}  // namespace deltaswarm
