// What a certificate says about itself: CN, serial, validity.
#pragma once

#include <string>

#include "deltaswarm/tls.h"
#include "tls/openssl_util.h"

namespace deltaswarm::tls {

// Lower-case hex of a serial number, no leading zeros ("0" for zero).
std::string SerialHex(const ASN1_INTEGER* serial);
// path names the certificate in errors (a malformed validity time).
Result<CertificateInfo> DescribeCertificate(X509* cert, const std::string& path);

}  // namespace deltaswarm::tls
