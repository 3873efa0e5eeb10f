// The certificate revocation list a CA signs (DIR/crl.pem).
#pragma once

#include "tls/ca_directory.h"

namespace deltaswarm::tls {

// A v2 CRL signed by ca (SHA-256): the entries of previous (nullptr: none)
// plus add_serial (nullptr: none; already listed: not added twice), a
// crlNumber one above previous's, lastUpdate now and nextUpdate the CA's
// notAfter. Why so far ahead: a version's torrent carries the CRL in force
// when it was published for the version's whole life, and OpenSSL refuses
// every peer once the CRL it checks against is past nextUpdate.
Result<X509CrlPtr> SignCrl(const CertificateAuthority& ca, const X509_CRL* previous,
                           const ASN1_INTEGER* add_serial);

// True when crl lists serial.
bool CrlListsSerial(const X509_CRL* crl, const ASN1_INTEGER* serial);

}  // namespace deltaswarm::tls
