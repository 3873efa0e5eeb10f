// The signed latest statement: its stored form, its signature, and every
// way a stored one can be wrong.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "deltaswarm/latest.h"
#include "deltaswarm/manifest.h"
#include "test_util.h"

using namespace deltaswarm;
using deltaswarm::testing::TempDir;

namespace {

std::span<const std::byte> Bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

struct Keys {
  TempDir tmp;
  SigningKey signer = Load("k");
  std::vector<TrustedKey> trusted;
  Keys() {
    auto t = TrustedKey::Load(tmp / "k.pub");
    REQUIRE(t.ok());
    trusted.push_back(std::move(t).value());
  }
  SigningKey Load(const std::string& name) {
    REQUIRE(GenerateKeyPair(tmp / name, false).ok());
    auto k = SigningKey::Load(tmp / name);
    REQUIRE(k.ok());
    return std::move(k).value();
  }
};

LatestStatement Sample() {
  LatestStatement s;
  s.model = "llama";
  s.version = 7;
  s.manifest_sha256 = Sha256Of(Bytes("manifest"));
  s.issued = 1796000000;
  s.expires = s.issued + 86400;
  return s;
}

// The stored form with one member changed (or removed, for null).
std::string Edited(const std::string& stored, const std::string& key, const nlohmann::json& value) {
  nlohmann::json j = nlohmann::json::parse(stored);
  if (value.is_null()) j.erase(key);
  else j[key] = value;
  return j.dump();
}

}  // namespace

TEST_CASE("a latest statement round-trips, verifies, and its canonical form is fixed") {
  Keys k;
  LatestStatement s = Sample();
  REQUIRE(SignLatest(s, k.signer).ok());
  CHECK(s.key_id == k.signer.key_id());
  const std::string stored = SerializeLatest(s);
  CHECK(stored.back() == '\n');
  CHECK(CanonicalBytes(s) ==
        "{\"expires\":\"2026-12-01T00:53:20Z\",\"format_version\":1,\"issued\":\"2026-11-30T00:53:20Z\",\"key_id\":\"" +
            s.key_id + "\",\"manifest_sha256\":\"" + s.manifest_sha256.Hex() +
            "\",\"model\":\"llama\",\"type\":\"deltaswarm-latest\",\"version\":7}");
  auto parsed = ParseLatest(Bytes(stored), "latest");
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().message());
  CHECK(parsed->version == 7);
  CHECK(parsed->issued == s.issued);
  CHECK(parsed->expires == s.expires);
  CHECK(parsed->manifest_sha256 == s.manifest_sha256);
  CHECK(VerifyLatest(*parsed, k.trusted, "latest").ok());
  CHECK_FALSE(parsed->ExpiredAt(s.expires - 1));
  CHECK(parsed->ExpiredAt(s.expires));
}

TEST_CASE("an edited, unsigned or foreign statement is refused") {
  Keys k;
  LatestStatement s = Sample();
  REQUIRE(SignLatest(s, k.signer).ok());
  const std::string stored = SerializeLatest(s);
  // Edited members that still parse: the signature no longer holds.
  for (const auto& [key, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"version", 8}, {"model", "other"}, {"expires", "2099-01-01T00:00:00Z"}, {"issued", "2026-11-30T00:53:21Z"}}) {
    auto edited = ParseLatest(Bytes(Edited(stored, key, value)), "latest");
    REQUIRE_MESSAGE(edited.ok(), edited.status().message());
    Status v = VerifyLatest(*edited, k.trusted, "latest");
    CHECK(v.code() == Code::kCorruption);
    CHECK(v.message() == "latest: bad signature (tampered latest statement?)");
  }
  // Signed by a key that is not trusted.
  LatestStatement foreign = Sample();
  REQUIRE(SignLatest(foreign, k.Load("other")).ok());
  CHECK(VerifyLatest(foreign, k.trusted, "latest").code() == Code::kMismatch);
  // Shapes that are not a statement.
  struct Bad {
    std::string text;
    Code code;
    std::string message;
  };
  for (const Bad& b : std::vector<Bad>{
           {"3\n", Code::kUnsupported, "latest: an unsigned version number"},
           {"[", Code::kCorruption, "latest: not a latest statement"},
           {Edited(stored, "format_version", 2), Code::kUnsupported, "latest: format_version 2 not supported"},
           {Edited(stored, "type", "deltaswarm-manifest"), Code::kCorruption, "latest: type"},
           {Edited(stored, "extra", 1), Code::kCorruption, "latest: unknown fields"},
           {Edited(stored, "signature", nullptr), Code::kCorruption, "latest: signature: missing"},
           {Edited(stored, "version", 0), Code::kCorruption, "latest: version: must be at least 1"},
           {Edited(stored, "version", -1), Code::kCorruption, "latest: version: not a non-negative integer"},
           {Edited(stored, "model", "../x"), Code::kCorruption, "latest: model: not a valid model name"},
           {Edited(stored, "expires", "2026-02-30T00:00:00Z"), Code::kCorruption, "latest: expires:"},
           {Edited(stored, "manifest_sha256", std::string(64, 'A')), Code::kCorruption, "latest: manifest_sha256"},
           {std::string(5000, ' '), Code::kCorruption, "latest: 5000 bytes, more than"},
       }) {
    auto r = ParseLatest(Bytes(b.text), "latest");
    INFO(b.text.substr(0, 80));
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == b.code);
    CHECK(r.status().message().rfind(b.message, 0) == 0);
  }
  // Nothing that cannot be read back is signed.
  LatestStatement backwards = Sample();
  backwards.expires = backwards.issued;
  CHECK(SignLatest(backwards, k.signer).code() == Code::kInvalidArgument);
}
