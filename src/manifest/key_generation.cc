// GenerateKeyPair: a fresh Ed25519 key as KEY (PKCS#8 PEM, 0600) and KEY.pub.
#include <fcntl.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <cerrno>

#include "core/file.h"
#include "deltaswarm/manifest.h"
#include "manifest/openssl_key.h"

namespace deltaswarm {

namespace {

// Writes under a fresh temporary name, then renames over path (--force), so an
// existing key is replaced only by a complete new one.
Status ReplaceFile(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = TempSibling(path);
  DS_RETURN_IF_ERROR(CreateFileDurably(tmp, data, mode));
  Status renamed = Rename(tmp, path);
  if (!renamed.ok()) (void)Unlink(tmp);
  return renamed;
}

// Holds the private PEM and wipes it when done.
struct Wiped {
  std::string text;
  ~Wiped() { OPENSSL_cleanse(text.data(), text.size()); }
};

}  // namespace

Status GenerateKeyPair(const std::string& path, bool force) {
  std::string pub_path = path + ".pub";
  if (!force) {
    for (const auto& p : {path, pub_path})
      if (PathExists(p)) return AlreadyExists(p + ": already exists (use --force to replace it)");
  }
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) {
    ClearOpenSslErrors();
    return IoError(path + ": Ed25519 key generation failed");
  }
  Wiped private_pem;
  DS_ASSIGN_OR_RETURN(private_pem.text, Ed25519Pem(key.get(), KeyPart::kPrivate));
  DS_ASSIGN_OR_RETURN(std::string public_pem, Ed25519Pem(key.get(), KeyPart::kPublic));

  if (force) {
    DS_RETURN_IF_ERROR(ReplaceFile(path, private_pem.text, 0600));
    DS_RETURN_IF_ERROR(ReplaceFile(pub_path, public_pem, 0644));
  } else {
    DS_RETURN_IF_ERROR(CreateFileDurably(path, private_pem.text, 0600));
    Status s = CreateFileDurably(pub_path, public_pem, 0644);
    if (!s.ok()) {
      (void)Unlink(path);  // no half pair left behind
      return s;
    }
  }
  return SyncDirectory(ParentDirectory(path));
}

}  // namespace deltaswarm
