// SignManifest / VerifyManifest: Ed25519 over the manifest's canonical bytes.
#include <algorithm>

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
  DS_ASSIGN_OR_RETURN(m.signature, key.SignHex(AsBytes(CanonicalBytes(m))));
  return Status::Ok();
}

Status VerifyManifest(const Manifest& m, std::span<const TrustedKey> trusted, const std::string& name) {
  if (m.key_id.empty() || m.signature.empty()) return Mismatch(name + ": not signed");
  auto key = std::find_if(trusted.begin(), trusted.end(), [&](const TrustedKey& k) { return k.key_id() == m.key_id; });
  if (key == trusted.end()) return Mismatch(name + ": signed by untrusted key " + m.key_id);
  if (!key->Verify(AsBytes(CanonicalBytes(m)), m.signature))
    return Corruption(name + ": bad signature (tampered manifest?)");
  return Status::Ok();
}

}  // namespace deltaswarm
