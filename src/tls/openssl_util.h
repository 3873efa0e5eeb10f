// The tls layer's private OpenSSL helpers: owning handles for the OpenSSL
// objects it uses, PEM in and out, and the text of OpenSSL's last error.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

#include "deltaswarm/status.h"

namespace deltaswarm::tls {

template <typename T, void (*Free)(T*)>
struct OpenSslFree {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using OpenSslPtr = std::unique_ptr<T, OpenSslFree<T, Free>>;

using BioPtr = OpenSslPtr<BIO, BIO_free_all>;
using BignumPtr = OpenSslPtr<BIGNUM, BN_free>;
using Asn1IntegerPtr = OpenSslPtr<ASN1_INTEGER, ASN1_INTEGER_free>;
using Asn1TimePtr = OpenSslPtr<ASN1_TIME, ASN1_TIME_free>;
using PkeyPtr = OpenSslPtr<EVP_PKEY, EVP_PKEY_free>;
using PkeyCtxPtr = OpenSslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using X509Ptr = OpenSslPtr<X509, X509_free>;
using X509CrlPtr = OpenSslPtr<X509_CRL, X509_CRL_free>;
using X509RevokedPtr = OpenSslPtr<X509_REVOKED, X509_REVOKED_free>;
using X509ExtensionPtr = OpenSslPtr<X509_EXTENSION, X509_EXTENSION_free>;
using X509StorePtr = OpenSslPtr<X509_STORE, X509_STORE_free>;
using X509StoreCtxPtr = OpenSslPtr<X509_STORE_CTX, X509_STORE_CTX_free>;
using GeneralNamesPtr = OpenSslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;
using GeneralNamePtr = OpenSslPtr<GENERAL_NAME, GENERAL_NAME_free>;

// The reason of the earliest queued OpenSSL error ("unknown error" if none);
// empties the queue so that it cannot surface in a later, unrelated call.
std::string TakeOpenSslError();

// Parse PEM read with ReadPemFile; errors name path: kInvalidArgument
// "<path>: not a PEM certificate" (private key, CRL).
Result<X509Ptr> LoadCertificate(const std::string& path);
Result<PkeyPtr> LoadPrivateKey(const std::string& path);
Result<X509CrlPtr> LoadCrl(const std::string& path);

// PEM text of a certificate, a PKCS#8 private key (unencrypted), a CRL.
Result<std::string> CertificatePem(X509* cert);
Result<std::string> PrivateKeyPem(EVP_PKEY* key);
Result<std::string> CrlPem(X509_CRL* crl);

// Holds secret text (a private key's PEM) and wipes it on destruction.
struct WipedString {
  std::string text;
  WipedString() = default;
  WipedString(const WipedString&) = delete;
  WipedString& operator=(const WipedString&) = delete;
  ~WipedString();
};

}  // namespace deltaswarm::tls
