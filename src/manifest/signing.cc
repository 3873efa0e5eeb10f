// Signing and checking the signed objects (manifests, latest statements):
// Ed25519 over their canonical bytes.
#include <algorithm>

#include "deltaswarm/latest.h"
#include "deltaswarm/manifest.h"
#include "manifest/manifest_check.h"

namespace deltaswarm {

namespace {
std::span<const std::byte> AsBytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }
}  // namespace

Status SignManifest(Manifest& m, const SigningKey& key) {
  m.key_id = key.key_id();  // signed too: the id cannot be swapped afterwards
  m.signature.clear();
  // Refuse what ParseManifest would refuse, so every signed manifest can be read.
  Status s = CheckManifest(m, "manifest " + m.model + " v" + std::to_string(m.version));
  if (!s.ok()) return InvalidArgument("cannot sign " + s.message());
  const std::string canonical = CanonicalBytes(m);
  // Nobody could read it back; the signature and its member add 150 bytes.
  if (canonical.size() + 256 > kMaxManifestBytes)
    return InvalidArgument("cannot sign manifest " + m.model + " v" + std::to_string(m.version) + ": " +
                           std::to_string(canonical.size()) + " bytes, more than readers accept (" +
                           std::to_string(kMaxManifestBytes) + "); use a larger chunk size");
  DS_ASSIGN_OR_RETURN(m.signature, key.SignHex(AsBytes(canonical)));
  return Status::Ok();
}

namespace {

// The one check behind every signed object: key_id names a trusted key and
// signature is its signature of canonical.
Status VerifySigned(const std::string& key_id, const std::string& signature, const std::string& canonical,
                    std::span<const TrustedKey> trusted, const std::string& name, const char* what) {
  if (key_id.empty() || signature.empty()) return Mismatch(name + ": not signed");
  auto key = std::find_if(trusted.begin(), trusted.end(), [&](const TrustedKey& k) { return k.key_id() == key_id; });
  if (key == trusted.end()) return Mismatch(name + ": signed by untrusted key " + key_id);
  if (!key->Verify(AsBytes(canonical), signature))
    return Corruption(name + ": bad signature (tampered " + what + "?)");
  return Status::Ok();
}

}  // namespace

Status VerifyManifest(const Manifest& m, std::span<const TrustedKey> trusted, const std::string& name) {
  return VerifySigned(m.key_id, m.signature, CanonicalBytes(m), trusted, name, "manifest");
}

Status SignLatest(LatestStatement& s, const SigningKey& key) {
  if (s.expires <= s.issued) return InvalidArgument("latest statement: expires must be after issued");
  if (!IsSafeName(s.model) || s.version == 0) return InvalidArgument("latest statement: bad model or version");
  s.key_id = key.key_id();  // signed too
  s.signature.clear();
  DS_ASSIGN_OR_RETURN(s.signature, key.SignHex(AsBytes(CanonicalBytes(s))));
  return Status::Ok();
}

Status VerifyLatest(const LatestStatement& s, std::span<const TrustedKey> trusted, const std::string& name) {
  return VerifySigned(s.key_id, s.signature, CanonicalBytes(s), trusted, name, "latest statement");
}

}  // namespace deltaswarm
