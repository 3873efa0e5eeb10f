#include "deltaswarm/manifest.h"

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "format/peak_rss.h"
#include "manifest/sample_manifest.h"
#include "test_util.h"

using namespace deltaswarm;
using deltaswarm::testing::PeakRssGrowth;
using deltaswarm::testing::SampleManifest;
using Json = nlohmann::json;

namespace {

std::span<const std::byte> Bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

Result<Manifest> Parse(const std::string& text) { return ParseManifest(Bytes(text), "m.json"); }

// The sample's stored form as a JSON value, to be edited by a test.
Json SampleJson() {
  Manifest m = SampleManifest();
  m.key_id = "0123456789abcdef";
  m.signature = std::string(128, 'a');
  return Json::parse(SerializeManifest(m));
}

// Parses j and expects `code` with a message naming the file and `needle`.
void ExpectError(const Json& j, Code code, const std::string& needle) {
  auto r = Parse(j.dump());
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == code);
  CHECK(r.status().message().rfind("m.json: ", 0) == 0);
  CHECK_MESSAGE(r.status().message().find(needle) != std::string::npos, r.status().message());
  CHECK(r.status().message().find('\n') == std::string::npos);
}

}  // namespace

TEST_CASE("canonical bytes: compact, keys sorted, no signature, key_id included") {
  Manifest m = SampleManifest();
  m.key_id = "0123456789abcdef";
  m.signature = std::string(128, 'b');
  std::string c = CanonicalBytes(m);
  CHECK(c.rfind("{\"artifacts\":[{\"base_version\":4,\"chunks\":[{\"name\":\"chunk-000000.dsc\"", 0) == 0);
  CHECK(c.find(' ') == std::string::npos);
  CHECK(c.find('\n') == std::string::npos);
  CHECK(c.find("signature") == std::string::npos);
  CHECK(c.find("\"key_id\":\"0123456789abcdef\"") != std::string::npos);
  CHECK(c.find("\"zstd_level\":-3") != std::string::npos);
  // The signature is not part of what is signed.
  Manifest other = m;
  other.signature.clear();
  CHECK(CanonicalBytes(other) == c);
}

TEST_CASE("serialize then parse gives the same manifest and canonical bytes") {
  Manifest m = SampleManifest();
  m.key_id = "0123456789abcdef";
  m.signature = std::string(128, 'c');
  std::string stored = SerializeManifest(m);
  auto p = Parse(stored);
  REQUIRE_MESSAGE(p.ok(), p.status().message());
  CHECK(CanonicalBytes(*p) == CanonicalBytes(m));
  CHECK(SerializeManifest(*p) == stored);
  CHECK(p->signature == m.signature);
  CHECK(p->files.size() == 2);
  CHECK(p->files[1].path == "sub/config.json");
  CHECK(p->files[1].sha256 == m.files[1].sha256);
  CHECK(p->zstd_level == -3);
  CHECK(p->artifacts[0].chunks[1].size == 1001);

  // Whitespace in the stored form does not matter.
  auto pretty = Parse(Json::parse(stored).dump(2));
  REQUIRE(pretty.ok());
  CHECK(CanonicalBytes(*pretty) == CanonicalBytes(m));
}

TEST_CASE("unicode strings and large integers round trip exactly") {
  Json j = SampleJson();
  j["files"][1]["path"] = "sub/gr\xc3\xbc\xc3\x9f" "e/\xe2\x9c\x93.json";
  j["files"][0]["size"] = UINT64_MAX;
  auto p = Parse(j.dump());
  REQUIRE_MESSAGE(p.ok(), p.status().message());
  CHECK(p->files[0].size == UINT64_MAX);
  auto again = Parse(SerializeManifest(*p));
  REQUIRE(again.ok());
  CHECK(CanonicalBytes(*again) == CanonicalBytes(*p));
  CHECK(again->files[1].path == j["files"][1]["path"].get<std::string>());
}

TEST_CASE("Find and bytes") {
  Manifest m = SampleManifest(3);
  REQUIRE(m.Find("delta") != nullptr);
  CHECK(m.Find("delta")->kind == "delta");
  CHECK(m.Find("keyframe") == &m.artifacts[1]);
  CHECK(m.Find("other") == nullptr);
  CHECK(m.artifacts[0].bytes() == 3600 + 1000 + 1001 + 1002);
}

TEST_CASE("every missing member is corruption naming it") {
  for (const char* key : {"model", "version", "parent", "target_is_directory", "files", "artifacts", "codec",
                          "created", "key_id", "signature"}) {
    CAPTURE(key);
    Json j = SampleJson();
    j.erase(key);
    ExpectError(j, Code::kCorruption, std::string(key) + ": missing");
  }
  Json j = SampleJson();
  j["artifacts"][0]["chunks"][1].erase("sha256");
  ExpectError(j, Code::kCorruption, "artifacts[0].chunks[1].sha256: missing");
  j = SampleJson();
  j["codec"].erase("zstd_level");
  ExpectError(j, Code::kCorruption, "codec.zstd_level: missing");
  j = SampleJson();
  j["files"][0].erase("size");
  ExpectError(j, Code::kCorruption, "files[0].size: missing");
  j = SampleJson();
  j.erase("format_version");
  ExpectError(j, Code::kCorruption, "format_version");
}

TEST_CASE("unknown and duplicate members are refused: nothing unsigned rides along") {
  Json j = SampleJson();
  j["extra"] = 1;
  ExpectError(j, Code::kCorruption, "unknown member \"extra\"");
  j = SampleJson();
  j["artifacts"][1]["chunks"][0]["mode"] = "x";
  ExpectError(j, Code::kCorruption, "artifacts[1].chunks[0]: unknown member \"mode\"");
  j = SampleJson();
  j["codec"]["threads"] = 4;
  ExpectError(j, Code::kCorruption, "codec: unknown member");

  std::string text = SampleJson().dump();
  std::string dup = "{\"version\":9," + text.substr(1);  // "version" twice
  auto r = Parse(dup);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kCorruption);
  CHECK(r.status().message().find("\"version\" appears twice") != std::string::npos);
}

TEST_CASE("wrong types are corruption") {
  auto expect = [](const char* key, Json value) {
    CAPTURE(key);
    Json j = SampleJson();
    j[key] = std::move(value);
    ExpectError(j, Code::kCorruption, key);
  };
  expect("version", "5");
  expect("version", 5.0);
  expect("version", -5);
  expect("parent", nullptr);
  expect("target_is_directory", 1);
  expect("model", 7);
  expect("files", Json::object());
  expect("artifacts", "none");
  expect("codec", Json::array());
  expect("created", false);
  Json j = SampleJson();
  j["codec"]["zstd_level"] = int64_t{1} << 40;
  ExpectError(j, Code::kCorruption, "codec.zstd_level: out of range");
  j = SampleJson();
  j["files"][0] = "model.safetensors";
  ExpectError(j, Code::kCorruption, "files[0]: not a JSON object");
}

TEST_CASE("digests must be 64 lowercase hex digits; ids and signatures lowercase hex") {
  std::string good = SampleJson()["files"][0]["sha256"];
  std::string upper = good;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& bad : {good.substr(2), good + "00", upper, "zz" + good.substr(2), std::string()}) {
    Json j = SampleJson();
    j["files"][0]["sha256"] = bad;
    ExpectError(j, Code::kCorruption, "files[0].sha256: not 64 lowercase hex digits");
  }
  Json j = SampleJson();
  j["artifacts"][0]["index_sha256"] = 5;
  ExpectError(j, Code::kCorruption, "artifacts[0].index_sha256");
  j = SampleJson();
  j["key_id"] = "0123456789ABCDEF";
  ExpectError(j, Code::kCorruption, "key_id");
  j = SampleJson();
  j["signature"] = std::string(127, 'a');
  ExpectError(j, Code::kCorruption, "signature");
  // Unsigned (both empty) is well-formed; VerifyManifest refuses it.
  j = SampleJson();
  j["key_id"] = "";
  j["signature"] = "";
  CHECK(Parse(j.dump()).ok());
}

TEST_CASE("unsafe paths and names are corruption") {
  for (const std::string& bad : std::vector<std::string>{"/etc/passwd", "../x", "a/../b", "./a", "a/./b", "a//b", "a/",
                                                         "", ".", "..", std::string("a\0b", 3), "a\x7f"}) {
    CAPTURE(bad);
    Json j = SampleJson();
    j["files"][1]["path"] = bad;
    ExpectError(j, Code::kCorruption, "files[1].path: not a safe relative path");
  }
  for (const char* bad : {"a/b", "..", ".", "", "chunk 1", "chunk\xc3\xbc", "../../x"}) {
    CAPTURE(bad);
    Json j = SampleJson();
    j["artifacts"][0]["chunks"][0]["name"] = bad;
    ExpectError(j, Code::kCorruption, "chunks[0].name: not a safe file name");
    j = SampleJson();
    j["artifacts"][1]["dir"] = bad;
    ExpectError(j, Code::kCorruption, "artifacts[1].dir: not a safe directory name");
  }
  Json j = SampleJson();
  j["model"] = "org/model";
  ExpectError(j, Code::kCorruption, "model");
  j = SampleJson();
  j["files"][1]["path"] = "model-00001.safetensors";
  ExpectError(j, Code::kCorruption, "listed twice");
  j = SampleJson();
  j["artifacts"][0]["chunks"][1]["name"] = "chunk-000000.dsc";
  ExpectError(j, Code::kCorruption, "listed twice");
}

TEST_CASE("version links and artifact rules") {
  Json j = SampleJson();
  j["version"] = 0;
  j["parent"] = 0;
  ExpectError(j, Code::kCorruption, "version: must be at least 1");
  j = SampleJson();
  j["parent"] = 5;
  ExpectError(j, Code::kCorruption, "parent: 5 is not below version 5");
  j = SampleJson();
  j["artifacts"][0]["base_version"] = 3;
  ExpectError(j, Code::kCorruption, "artifacts[0].base_version: 3 is not the parent 4");
  j = SampleJson();
  j["artifacts"][1]["base_version"] = 4;
  ExpectError(j, Code::kCorruption, "artifacts[1].base_version");
  j = SampleJson();
  j["artifacts"][0]["kind"] = "patch";
  ExpectError(j, Code::kCorruption, "artifacts[0].kind");
  j = SampleJson();
  j["artifacts"] = Json::array();
  ExpectError(j, Code::kCorruption, "artifacts: none");
  j = SampleJson();
  j["artifacts"][1] = j["artifacts"][0];
  ExpectError(j, Code::kCorruption, "artifacts: two share kind");
  j = SampleJson();
  j["parent"] = 0;
  j["artifacts"][0]["base_version"] = 0;
  ExpectError(j, Code::kCorruption, "a delta needs a parent");
  j = SampleJson();
  j["target_is_directory"] = false;
  ExpectError(j, Code::kCorruption, "a single-file target lists 2 files");
  // Version 1: a keyframe alone.
  j = SampleJson();
  j["version"] = 1;
  j["parent"] = 0;
  j["artifacts"].erase(0);
  CHECK(Parse(j.dump()).ok());
}

TEST_CASE("an unknown format_version is unsupported, whatever else is there") {
  Json j = SampleJson();
  j["format_version"] = 2;
  j["new_member"] = true;
  ExpectError(j, Code::kUnsupported, "format_version 2 not supported");
  j = SampleJson();
  j["format_version"] = "1";
  ExpectError(j, Code::kCorruption, "format_version");
}

TEST_CASE("not JSON, or not an object, is corruption") {
  for (const std::string& text : {std::string(""), std::string("{"), std::string("[1,2]"), std::string("null"),
                                  std::string("{} trailing"), std::string("\xff\xfe")}) {
    CAPTURE(text);
    auto r = Parse(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kCorruption);
    CHECK(r.status().message().rfind("m.json: ", 0) == 0);
  }
}

TEST_CASE("canonical bytes are exactly nlohmann's sorted compact dump") {
  Manifest m = SampleManifest(3);
  m.key_id = "0123456789abcdef";
  m.signature = std::string(128, 'd');
  m.created = "quote\" backslash\\ tab\t nl\n ctl\x01 del\x7f \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";
  m.files[1].path = "dir/\xc3\xa9t\xc3\xa9.bin";
  for (const std::string& text : {CanonicalBytes(m), SerializeManifest(m)}) {
    Json j = Json::parse(text);
    std::string trimmed = text.back() == '\n' ? text.substr(0, text.size() - 1) : text;
    CHECK(j.dump() == trimmed);
  }
  Json j = Json::parse(SerializeManifest(m));
  j.erase("signature");
  CHECK(j.dump() == CanonicalBytes(m));
  auto p = Parse(SerializeManifest(m));
  REQUIRE_MESSAGE(p.ok(), p.status().message());
  CHECK(p->created == m.created);
  CHECK(CanonicalBytes(*p) == CanonicalBytes(m));
}

// The refused name is named, escaped: the message holds no raw control character.
void ExpectEscaped(const Json& j, const std::string& needle) {
  ExpectError(j, Code::kCorruption, needle);
  std::string message = Parse(j.dump()).status().message();
  for (char c : message) CHECK_MESSAGE((static_cast<unsigned char>(c) >= 0x20 && c != 0x7f), message);
}

TEST_CASE("control characters in names are refused, and escaped when named") {
  const std::pair<const char*, const char*> cases[] = {
      {"sub/a\nb.json", "sub/a\\x0ab.json"}, {"\x1b[31mred.json", "\\x1b[31mred.json"},
      {"tab\there.json", "tab\\x09here.json"}, {"del\x7f.json", "del\\x7f.json"}, {"\r", "\\x0d"}};
  for (const auto& [bad, escaped] : cases) {
    CAPTURE(escaped);
    Json j = SampleJson();
    j["files"][1]["path"] = bad;
    ExpectEscaped(j, std::string("files[1].path: not a safe relative path: \"") + escaped + "\"");
    j = SampleJson();
    j["artifacts"][0]["chunks"][0]["name"] = bad;
    ExpectEscaped(j, std::string("chunks[0].name: not a safe file name: \"") + escaped + "\"");
    j = SampleJson();
    j["artifacts"][0]["kind"] = bad;
    ExpectEscaped(j, escaped);
    j = SampleJson();
    j[bad] = 1;
    ExpectEscaped(j, std::string("unknown member \"") + escaped + "\"");
  }
  // UTF-8 beyond ASCII is not a control character.
  Json j = SampleJson();
  j["files"][1]["path"] = "sub/\xc3\xa9t\xc3\xa9.json";
  CHECK(Parse(j.dump()).ok());
}

TEST_CASE("hostile nesting is refused in memory bounded by the input") {
  // A DOM took ~80 bytes per input byte of '[[[...' (16 MB: 1.28 GB, before
  // any signature check); the SAX passes keep a bounded stack.
  const size_t n = 16u << 20;
  std::string brackets(n, '[');
  std::string objects;
  while (objects.size() < n) objects += "{\"a\":[";
  // Refused by the reader at "model", then the format_version lookup runs.
  std::string versioned = "{\"model\":";
  versioned.resize(n, '[');
  for (const std::string* text : {&brackets, &objects, &versioned}) {
    CAPTURE(text->substr(0, 30));
    Result<Manifest> r = Parse("");
    const int64_t growth = PeakRssGrowth([&] { r = Parse(*text); });
    r = Parse(*text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Code::kCorruption);
    CHECK(r.status().message().rfind("m.json: ", 0) == 0);
    CHECK(r.status().message().size() < 400);
    REQUIRE(growth >= 0);
    MESSAGE("peak RSS growth ", growth, " bytes for ", text->size(), " input bytes");
    CHECK(growth < 4 * static_cast<int64_t>(text->size()));
  }
}

TEST_CASE("a long member name is cut in the message") {
  Json j = SampleJson();
  j[std::string(1 << 20, 'x')] = 1;
  auto r = Parse(j.dump());
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().size() < 400);
}

TEST_CASE("format_version is found after members this format refuses, up to 64 levels deep") {
  auto r = Parse(R"({"artifacts":{"new":[[1]]},"format_version":3})");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kUnsupported);
  CHECK(r.status().message() == "m.json: format_version 3 not supported");
  const std::string deep = std::string(R"({"artifacts":)") + std::string(70, '[') + std::string(70, ']') +
                           R"(,"format_version":3})";
  r = Parse(deep);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kCorruption);
  // Not a well-formed object: the symptom is reported, not a version.
  r = Parse(R"({"artifacts":{},"format_version":3)");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kCorruption);
}
