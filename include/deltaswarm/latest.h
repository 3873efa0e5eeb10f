// The signed latest: a statement, by the publisher's key, of a model's newest
// version, stored at <model>/refs/latest (docs/FORMAT.md, "Latest statement").
// A bucket writer without the key can replay an older statement or leave one
// unchanged, but not name a version of its own; the expiry bounds how long a
// replayed or frozen statement passes for fresh.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "deltaswarm/digest.h"
#include "deltaswarm/manifest.h"
#include "deltaswarm/status.h"

namespace deltaswarm {

constexpr uint32_t kLatestFormatVersion = 1;
// The largest statement a reader accepts (a real one is about 400 bytes).
constexpr uint64_t kMaxLatestBytes = 4096;

struct LatestStatement {
  uint32_t format_version = kLatestFormatVersion;
  std::string model;
  uint64_t version = 0;
  Sha256 manifest_sha256;  // of versions/<version>/manifest.json as stored
  int64_t issued = 0;      // Unix seconds; written as UTC ISO 8601
  int64_t expires = 0;
  std::string key_id;
  std::string signature;  // hex Ed25519 over CanonicalBytes

  bool ExpiredAt(int64_t unix_seconds) const { return unix_seconds >= expires; }
};

// Compact JSON, keys sorted, without "signature", with "type":"deltaswarm-latest"
// so that no other signed object of the project can pass for one.
std::string CanonicalBytes(const LatestStatement& s);
// The stored form: canonical JSON with the signature, and a newline.
std::string SerializeLatest(const LatestStatement& s);
// Structure only; kUnsupported for another format_version; kCorruption otherwise.
Result<LatestStatement> ParseLatest(std::span<const std::byte> bytes, const std::string& name);
// Sets key_id and signature. kInvalidArgument if expires is not after issued.
Status SignLatest(LatestStatement& s, const SigningKey& key);
// Ok only if s is signed by one of the trusted keys (as VerifyManifest).
Status VerifyLatest(const LatestStatement& s, std::span<const TrustedKey> trusted, const std::string& name);

}  // namespace deltaswarm
