// The fixed key of the fuzz corpora: tests/fuzz/fuzz_key.pem (a test key,
// nothing trusts it) signs the manifests and latest statements that
// scripts/make_fuzz_corpus.sh publishes, so that the targets' VerifyManifest
// and VerifyLatest reach their success path on the seeds.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "deltaswarm/manifest.h"

namespace deltaswarm::fuzz {

// tests/fuzz/fuzz_key.pem.pub
inline constexpr char kFuzzPublicKeyPem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAVEGUSEeWWR63/3DPEbHUG6OXOe2eXM6zrfTlljTcSS0=\n"
    "-----END PUBLIC KEY-----\n";

// Loaded once (TrustedKey reads a file: a temporary one, removed at once).
inline const TrustedKey& FuzzTrustedKey() {
  static const TrustedKey* key = [] {
    char path[] = "/tmp/deltaswarm-fuzz-key-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0) std::abort();
    const std::string pem = kFuzzPublicKeyPem;
    if (::write(fd, pem.data(), pem.size()) != static_cast<ssize_t>(pem.size())) std::abort();
    ::close(fd);
    auto loaded = TrustedKey::Load(path);
    ::unlink(path);
    if (!loaded.ok()) std::abort();
    return new TrustedKey(std::move(*loaded));
  }();
  return *key;
}

}  // namespace deltaswarm::fuzz
