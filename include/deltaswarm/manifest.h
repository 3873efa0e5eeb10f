// Signed manifests: what a published version is and how to build it.
// Canonical bytes are compact JSON with sorted keys and without the
// "signature" member; the signature is Ed25519 over them (docs/FORMAT.md).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "deltaswarm/digest.h"
#include "deltaswarm/status.h"

namespace deltaswarm {

constexpr uint32_t kManifestVersion = 1;
// The largest manifest read or signed. A 4 TB keyframe in 32 MiB chunks
// (125,000 chunks) is about 15 MB; the cap bounds what a hostile bucket can
// make a reader hold before the signature is checked.
constexpr uint64_t kMaxManifestBytes = 32ull << 20;

struct ManifestFile {  // one file of the target checkpoint
  std::string path;    // relative path, as published
  uint64_t size = 0;
  Sha256 sha256;
};

struct ManifestChunk {
  std::string name;  // chunk file name inside the artifact's directory
  uint64_t size = 0;
  Sha256 sha256;
};

// A delta or keyframe stored under versions/<id>/<dir>/.
struct ManifestArtifact {
  std::string kind;           // "delta" or "keyframe"
  std::string dir;            // "delta" or "keyframe"
  uint64_t base_version = 0;  // the version a delta applies to; 0 for a keyframe
  uint64_t index_size = 0;    // index.dsi
  Sha256 index_sha256;
  std::vector<ManifestChunk> chunks;
  // versions/<id>/<dir>.torrent: a BitTorrent v2 torrent of the directory's
  // files, authenticated by its SHA-256 here (and so are its piece hashes).
  uint64_t torrent_size = 0;
  Sha256 torrent_sha256;
  Sha256 info_hash;  // the torrent's v2 info-hash
  uint64_t bytes() const;     // index + chunks
};

struct Manifest {
  uint32_t format_version = kManifestVersion;
  std::string model;
  uint64_t version = 0;  // 1, 2, 3, ...
  uint64_t parent = 0;   // previous version, 0 for the first
  bool target_is_directory = false;
  std::vector<ManifestFile> files;
  std::vector<ManifestArtifact> artifacts;  // a delta, a keyframe, or both
  uint64_t frame_bytes = 0;                 // codec parameters
  uint64_t chunk_bytes = 0;
  int32_t zstd_level = 0;
  std::string created;                      // UTC, ISO 8601
  std::string key_id;                       // of the signing key
  std::string signature;                    // hex Ed25519 signature of CanonicalBytes

  const ManifestArtifact* Find(const std::string& kind) const;
};

// Compact JSON, keys sorted, no "signature" member.
std::string CanonicalBytes(const Manifest& m);
// The stored form: canonical JSON with the signature added.
std::string SerializeManifest(const Manifest& m);
// Structure only (no signature check); kUnsupported for an unknown format_version.
Result<Manifest> ParseManifest(std::span<const std::byte> bytes, const std::string& name);

// An Ed25519 private key (PEM). Not copyable; thread-safe for Sign.
class SigningKey {
 public:
  ~SigningKey();
  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  static Result<SigningKey> Load(const std::string& pem_path);
  const std::string& key_id() const { return key_id_; }
  std::string public_pem() const;
  Result<std::string> SignHex(std::span<const std::byte> message) const;

 private:
  SigningKey() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string key_id_;
};

// A trusted Ed25519 public key (PEM).
class TrustedKey {
 public:
  ~TrustedKey();
  TrustedKey(TrustedKey&&) noexcept;
  TrustedKey& operator=(TrustedKey&&) noexcept;
  static Result<TrustedKey> Load(const std::string& pem_path);
  const std::string& key_id() const { return key_id_; }
  bool Verify(std::span<const std::byte> message, const std::string& signature_hex) const;

 private:
  TrustedKey() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string key_id_;
};

// Writes a new key pair: path (private, mode 0600) and path + ".pub". Refuses
// to overwrite unless force.
Status GenerateKeyPair(const std::string& path, bool force);

// Sets key_id and signature.
Status SignManifest(Manifest& m, const SigningKey& key);
// Ok only if m is signed by one of the trusted keys. kMismatch "signed by an
// untrusted key <id>" or kCorruption "bad signature".
Status VerifyManifest(const Manifest& m, std::span<const TrustedKey> trusted, const std::string& name);

}  // namespace deltaswarm
