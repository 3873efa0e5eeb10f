#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "deltaswarm/manifest.h"
#include "manifest/sample_manifest.h"
#include "test_util.h"

using namespace deltaswarm;
using deltaswarm::testing::ReadBytes;
using deltaswarm::testing::SampleManifest;
using deltaswarm::testing::TempDir;
using deltaswarm::testing::WriteBytes;

namespace {

std::span<const std::byte> Bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }
std::string Text(const std::string& path) {
  auto b = ReadBytes(path);
  return std::string(b.begin(), b.end());
}

// A fresh key pair in dir: the signing key and the matching trusted key.
std::pair<SigningKey, TrustedKey> NewKeys(const TempDir& dir, const std::string& name) {
  REQUIRE(GenerateKeyPair(dir / name, false).ok());
  auto sk = SigningKey::Load(dir / name);
  REQUIRE_MESSAGE(sk.ok(), sk.status().message());
  auto tk = TrustedKey::Load(dir / name + ".pub");
  REQUIRE_MESSAGE(tk.ok(), tk.status().message());
  return {std::move(sk).value(), std::move(tk).value()};
}

bool IsLowerHex16(const std::string& s) {
  if (s.size() != 16) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

TEST_CASE("keygen writes a 0600 PKCS#8 key and its public key; ids are stable and 16 hex") {
  TempDir tmp;
  auto [sk, tk] = NewKeys(tmp, "k");
  struct stat st;
  REQUIRE(::stat((tmp / "k").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(Text(tmp / "k").rfind("-----BEGIN PRIVATE KEY-----\n", 0) == 0);
  CHECK(Text(tmp / "k.pub").rfind("-----BEGIN PUBLIC KEY-----\n", 0) == 0);
  CHECK(sk.public_pem() == Text(tmp / "k.pub"));

  CHECK(IsLowerHex16(sk.key_id()));
  CHECK(sk.key_id() == tk.key_id());
  CHECK(SigningKey::Load(tmp / "k")->key_id() == sk.key_id());
  CHECK(TrustedKey::Load(tmp / "k.pub")->key_id() == sk.key_id());
  auto [other, other_trusted] = NewKeys(tmp, "k2");
  CHECK(other.key_id() != sk.key_id());
}

TEST_CASE("key id is the first 8 bytes of SHA-256 over the raw public key") {
  TempDir tmp;
  auto [sk, tk] = NewKeys(tmp, "k");
  std::string pem = Text(tmp / "k.pub");
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  REQUIRE(key != nullptr);
  std::array<std::byte, 32> raw{};
  size_t len = raw.size();
  REQUIRE(EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &len) == 1);
  EVP_PKEY_free(key);
  BIO_free(bio);
  CHECK(sk.key_id() == Sha256Of(raw).Hex().substr(0, 16));
}

TEST_CASE("keygen refuses to overwrite unless forced") {
  TempDir tmp;
  REQUIRE(GenerateKeyPair(tmp / "k", false).ok());
  std::string before = Text(tmp / "k");
  Status s = GenerateKeyPair(tmp / "k", false);
  CHECK(s.code() == Code::kAlreadyExists);
  CHECK(Text(tmp / "k") == before);
  // An existing .pub alone also blocks, and nothing is written.
  WriteBytes(tmp / "p.pub", {'x'});
  CHECK(GenerateKeyPair(tmp / "p", false).code() == Code::kAlreadyExists);
  CHECK_FALSE(std::filesystem::exists(tmp / "p"));

  std::string old_id = SigningKey::Load(tmp / "k")->key_id();
  REQUIRE(GenerateKeyPair(tmp / "k", true).ok());
  CHECK(Text(tmp / "k") != before);
  CHECK(SigningKey::Load(tmp / "k")->key_id() != old_id);
  CHECK(TrustedKey::Load(tmp / "k.pub")->key_id() == SigningKey::Load(tmp / "k")->key_id());
  struct stat st;
  REQUIRE(::stat((tmp / "k").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(GenerateKeyPair(tmp / "no/such/dir/k", false).code() == Code::kNotFound);
}

TEST_CASE("loading keys: missing file, not PEM, wrong algorithm, wrong half") {
  TempDir tmp;
  REQUIRE(GenerateKeyPair(tmp / "k", false).ok());
  CHECK(SigningKey::Load(tmp / "missing").status().code() == Code::kNotFound);
  CHECK(TrustedKey::Load(tmp / "missing.pub").status().code() == Code::kNotFound);

  WriteBytes(tmp / "junk", {'h', 'i', '\n'});
  auto junk = SigningKey::Load(tmp / "junk");
  CHECK(junk.status().code() == Code::kInvalidArgument);
  CHECK(junk.status().message() == tmp / "junk" + ": not an Ed25519 private key");
  CHECK(TrustedKey::Load(tmp / "junk").status().code() == Code::kInvalidArgument);
  // The public key is not a private key, and the other way round.
  CHECK(SigningKey::Load(tmp / "k.pub").status().code() == Code::kInvalidArgument);
  CHECK(TrustedKey::Load(tmp / "k").status().code() == Code::kInvalidArgument);

  // A P-256 key is PEM but not Ed25519.
  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  REQUIRE(ec != nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PrivateKey(bio, ec, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data;
  long n = BIO_get_mem_data(bio, &data);
  WriteBytes(tmp / "ec", std::vector<uint8_t>(data, data + n));
  BIO_free(bio);
  EVP_PKEY_free(ec);
  auto r = SigningKey::Load(tmp / "ec");
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK(r.status().message().find("not an Ed25519 private key") != std::string::npos);
}

TEST_CASE("sign, store, parse, verify") {
  TempDir tmp;
  auto [sk, tk] = NewKeys(tmp, "k");
  Manifest m = SampleManifest();
  REQUIRE(SignManifest(m, sk).ok());
  CHECK(m.key_id == sk.key_id());
  CHECK(m.signature.size() == 128);
  std::vector<TrustedKey> trusted;
  trusted.push_back(std::move(tk));
  CHECK(VerifyManifest(m, trusted, "m").ok());

  std::string stored = SerializeManifest(m);
  auto p = ParseManifest(Bytes(stored), "m.json");
  REQUIRE_MESSAGE(p.ok(), p.status().message());
  CHECK(VerifyManifest(*p, trusted, "m.json").ok());
  // Pretty-printed storage verifies too: canonical bytes come from the struct.
  std::string pretty = nlohmann::json::parse(stored).dump(1);
  auto pp = ParseManifest(Bytes(pretty), "m.json");
  REQUIRE(pp.ok());
  CHECK(VerifyManifest(*pp, trusted, "m.json").ok());

  // Direct signatures.
  auto sig = sk.SignHex(Bytes("hello"));
  REQUIRE(sig.ok());
  CHECK(trusted[0].Verify(Bytes("hello"), *sig));
  CHECK_FALSE(trusted[0].Verify(Bytes("hellp"), *sig));
  CHECK_FALSE(trusted[0].Verify(Bytes("hello"), "zz" + sig->substr(2)));
  CHECK_FALSE(trusted[0].Verify(Bytes("hello"), ""));
}

TEST_CASE("a changed struct field fails with bad signature") {
  TempDir tmp;
  auto [sk, tk] = NewKeys(tmp, "k");
  Manifest m = SampleManifest();
  REQUIRE(SignManifest(m, sk).ok());
  std::vector<TrustedKey> trusted;
  trusted.push_back(std::move(tk));
  Manifest t = m;
  t.artifacts[1].chunks[0].size += 1;
  Status s = VerifyManifest(t, trusted, "v5");
  CHECK(s.code() == Code::kCorruption);
  CHECK(s.message() == "v5: bad signature (tampered manifest?)");
  t = m;
  t.created = "2026-11-28T20:30:01Z";
  CHECK(VerifyManifest(t, trusted, "v5").code() == Code::kCorruption);
}

TEST_CASE("every single-bit flip of a stored manifest fails to parse or to verify") {
  TempDir tmp;
  auto [sk, tk] = NewKeys(tmp, "k");
  Manifest m = SampleManifest(1);
  REQUIRE(SignManifest(m, sk).ok());
  std::vector<TrustedKey> trusted;
  trusted.push_back(std::move(tk));
  const std::string canonical = CanonicalBytes(m);
  // Compact and pretty storage: the pretty one has whitespace to flip too.
  for (const std::string& stored : {SerializeManifest(m), nlohmann::json::parse(SerializeManifest(m)).dump(1)}) {
    size_t parse_failed = 0, verify_failed = 0, equivalent = 0;
    for (size_t i = 0; i < stored.size(); ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string t = stored;
        t[i] = static_cast<char>(t[i] ^ (1 << bit));
        auto p = ParseManifest(Bytes(t), "m.json");
        if (!p.ok()) {
          ++parse_failed;
          continue;
        }
        Status s = VerifyManifest(*p, trusted, "m.json");
        if (!s.ok()) {
          CHECK((s.code() == Code::kCorruption || s.code() == Code::kMismatch));
          ++verify_failed;
          continue;
        }
        // Verified: only possible if the flip left the signed content alone.
        CAPTURE(i);
        CAPTURE(bit);
        CHECK(CanonicalBytes(*p) == canonical);
        ++equivalent;
      }
    }
    MESSAGE(stored.size(), " bytes x 8 bits: ", parse_failed, " unparsable, ", verify_failed, " failed verification, ",
            equivalent, " equivalent");
    CHECK(parse_failed + verify_failed + equivalent == stored.size() * 8);
  }
}

TEST_CASE("untrusted or unsigned manifests are mismatches") {
  TempDir tmp;
  auto [sk, tk] = NewKeys(tmp, "k");
  auto [foreign, foreign_trusted] = NewKeys(tmp, "f");
  Manifest m = SampleManifest();
  REQUIRE(SignManifest(m, foreign).ok());
  std::vector<TrustedKey> trusted;
  trusted.push_back(std::move(tk));
  Status s = VerifyManifest(m, trusted, "v5");
  CHECK(s.code() == Code::kMismatch);
  CHECK(s.message() == "v5: signed by untrusted key " + foreign.key_id());
  CHECK(VerifyManifest(m, {}, "v5").code() == Code::kMismatch);

  // Claiming the trusted key's id does not help a foreign signature.
  m.key_id = sk.key_id();
  CHECK(VerifyManifest(m, trusted, "v5").code() == Code::kCorruption);

  Manifest unsigned_m = SampleManifest();
  s = VerifyManifest(unsigned_m, trusted, "v5");
  CHECK(s.code() == Code::kMismatch);
  CHECK(s.message() == "v5: not signed");
  unsigned_m.key_id = sk.key_id();
  CHECK(VerifyManifest(unsigned_m, trusted, "v5").message() == "v5: not signed");
  auto p = ParseManifest(Bytes(SerializeManifest(SampleManifest())), "m.json");
  REQUIRE(p.ok());
  CHECK(VerifyManifest(*p, trusted, "m.json").code() == Code::kMismatch);
}

TEST_CASE("SignManifest refuses a manifest that would not parse") {
  TempDir tmp;
  auto [sk, tk] = NewKeys(tmp, "k");
  Manifest m = SampleManifest();
  m.files[0].path = "../escape";
  Status s = SignManifest(m, sk);
  CHECK(s.code() == Code::kInvalidArgument);
  CHECK(s.message().find("files[0].path") != std::string::npos);
  m = SampleManifest();
  m.files[0].path = "bad\xff";
  CHECK(SignManifest(m, sk).code() == Code::kInvalidArgument);
}

TEST_CASE("parse + canonical + verify of 100,000 chunks takes well under a second") {
  TempDir tmp;
  auto [sk, tk] = NewKeys(tmp, "k");
  Manifest m = SampleManifest(50'000);  // a delta and a keyframe: 100,000 chunks
  REQUIRE(SignManifest(m, sk).ok());
  std::string stored = SerializeManifest(m);
  std::vector<TrustedKey> trusted;
  trusted.push_back(std::move(tk));

  auto start = std::chrono::steady_clock::now();
  auto p = ParseManifest(Bytes(stored), "big.json");
  REQUIRE_MESSAGE(p.ok(), p.status().message());
  std::string canonical = CanonicalBytes(*p);
  Status s = VerifyManifest(*p, trusted, "big.json");
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  REQUIRE(s.ok());
  CHECK(p->artifacts[0].chunks.size() + p->artifacts[1].chunks.size() == 100'000);
  MESSAGE("100,000 chunks (", stored.size() / 1e6, " MB): parse + canonical + verify ", seconds, " s");
  CHECK(seconds < 1.0);
}
