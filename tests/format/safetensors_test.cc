#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "deltaswarm/checkpoint.h"
#include "format/peak_rss.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;

namespace {

// Length-prefixed header with the JSON as given, followed by data_len bytes.
std::vector<uint8_t> MakeFile(const std::string& json, size_t data_len) {
  std::vector<uint8_t> out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(static_cast<uint64_t>(json.size()) >> (8 * i));
  out.insert(out.end(), json.begin(), json.end());
  out.resize(out.size() + data_len, 0xab);
  return out;
}

Result<SafetensorsHeader> Parse(const std::vector<uint8_t>& file, const std::string& name = "t.safetensors") {
  return ParseSafetensorsHeader(name, file.data(), file.size(), file.size());
}

// Asserts a kCorruption error whose message contains `what` and is one line.
void CheckCorrupt(const Result<SafetensorsHeader>& r, const std::string& what) {
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kCorruption);
  INFO("message: " << r.status().message());
  CHECK(r.status().message().find(what) != std::string::npos);
  CHECK(r.status().message().find('\n') == std::string::npos);
}

uint64_t HeaderBytesOf(const std::string& path) {
  auto bytes = ReadBytes(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[i];
  return 8 + n;
}

struct Golden {
  const char* file;
  const char* error;  // substring of the expected message (see tests/golden/README.md)
};

const Golden kCorruptGolden[] = {
    {"truncated.safetensors", "truncated: 5 bytes"},
    {"header_past_end.safetensors", "header length 1000 runs past the end of the file (40 bytes)"},
    {"header_too_large.safetensors", "header length 200000000 exceeds the limit"},
    {"bad_json.safetensors", "header is not valid JSON"},
    {"not_object.safetensors", "header is not a JSON object"},
    {"missing_offsets.safetensors", "tensor 'w': missing data_offsets"},
    {"offsets_reversed.safetensors", "data_offsets [8, 0] begin after end"},
    {"size_mismatch.safetensors", "needs 24 bytes but data_offsets [0, 20] hold 20"},
    {"hole.safetensors", "data area bytes [8, 16) belong to no tensor (hole"},
    {"overlap.safetensors", "tensor 'w': data_offsets [10, 20] overlap 'v' [0, 16]"},
    {"past_end.safetensors", "data_offsets [0, 16] run past the end of the data area (8 bytes)"},
    {"trailing.safetensors", "data area bytes [8, 12) belong to no tensor (trailing bytes"},
    {"duplicate_name.safetensors", "duplicate tensor name 'w'"},
    {"negative_shape.safetensors", "shape must be an array of non-negative integers"},
    {"float_shape.safetensors", "shape must be an array of non-negative integers"},
    {"bad_metadata.safetensors", "__metadata__ value 'epoch' is not a string"},
};

const std::string kGolden = std::string(DS_GOLDEN_DIR) + "/safetensors/";

}  // namespace

TEST_CASE("every known dtype parses with absolute offsets") {
  TempDir dir;
  std::vector<TestTensor> tensors;
  for (uint8_t code = 1; code <= kMaxDTypeCode; ++code) {
    DType t = *DTypeFromCode(code);
    tensors.push_back({std::string("t.") + Info(t).name, Info(t).name, {3, 2},
                       RandomBytes(6 * Info(t).width, code)});
  }
  WriteSafetensors(dir / "all.safetensors", tensors);
  auto r = ReadSafetensorsHeader(dir / "all.safetensors");
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  const uint64_t hb = HeaderBytesOf(dir / "all.safetensors");
  CHECK(r->header_bytes == hb);
  CHECK(r->metadata_json.empty());
  REQUIRE(r->tensors.size() == tensors.size());
  uint64_t offset = hb;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& t = r->tensors[i];
    CAPTURE(t.name);
    CHECK(t.name == tensors[i].name);
    CHECK(t.dtype == *DTypeFromCode(static_cast<uint8_t>(i + 1)));
    CHECK(t.dtype_name == tensors[i].dtype);
    CHECK(t.shape == std::vector<uint64_t>{3, 2});
    CHECK(t.begin == offset);
    CHECK(t.bytes() == tensors[i].data.size());
    offset = t.end;
  }
  CHECK(offset == std::filesystem::file_size(dir / "all.safetensors"));
}

TEST_CASE("the valid golden file: key order differs from offset order") {
  auto r = ReadSafetensorsHeader(kGolden + "valid.safetensors");
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  const uint64_t hb = HeaderBytesOf(kGolden + "valid.safetensors");
  CHECK(r->header_bytes == hb);
  CHECK(r->metadata_json == R"({"format":"pt","note":"golden"})");
  REQUIRE(r->tensors.size() == 4);
  // Sorted by (begin, end, name), not by key order in the JSON.
  CHECK(r->tensors[0].name == "a.weight");
  CHECK(r->tensors[0].begin == hb + 0);
  CHECK(r->tensors[0].end == hb + 24);
  CHECK(r->tensors[1].name == "b.bias");
  CHECK(r->tensors[1].dtype == DType::kBF16);
  CHECK(r->tensors[1].begin == hb + 24);
  CHECK(r->tensors[2].name == "c.scale");
  CHECK(r->tensors[2].dtype == DType::kRaw);
  CHECK(r->tensors[2].dtype_name == "F8_E8M0");
  CHECK(r->tensors[2].shape == std::vector<uint64_t>{5});
  CHECK(r->tensors[2].bytes() == 5);
  CHECK(r->tensors[3].name == "d.empty");
  CHECK(r->tensors[3].shape == std::vector<uint64_t>{0, 3});
  CHECK(r->tensors[3].begin == r->tensors[3].end);
  CHECK(r->tensors[3].end == std::filesystem::file_size(kGolden + "valid.safetensors"));
}

TEST_CASE("every golden corrupt file fails with its documented error") {
  std::set<std::string> listed = {"valid.safetensors"};
  for (const Golden& g : kCorruptGolden) {
    CAPTURE(g.file);
    listed.insert(g.file);
    auto r = ReadSafetensorsHeader(kGolden + g.file);
    CheckCorrupt(r, g.error);
    CHECK(r.status().message().find(g.file) != std::string::npos);
    // The in-memory parser gives the same answer as the file reader.
    auto bytes = ReadBytes(kGolden + g.file);
    auto m = Parse(bytes, kGolden + g.file);
    REQUIRE_FALSE(m.ok());
    CHECK(m.status().message() == r.status().message());
  }
  // A golden file added without a test case here is a mistake.
  for (const auto& e : std::filesystem::directory_iterator(kGolden)) {
    CAPTURE(e.path().filename().string());
    CHECK(listed.count(e.path().filename().string()) == 1);
  }
}

TEST_CASE("unknown dtypes become kRaw without a size check") {
  for (const char* name : {"F8_E8M0", "F4", "F6_E2M3", "whatever"}) {
    CAPTURE(name);
    auto r = Parse(MakeFile(std::string(R"({"x":{"dtype":")") + name +
                                R"(","shape":[5,7],"data_offsets":[0,3]}})",
                            3));
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    CHECK(r->tensors[0].dtype == DType::kRaw);
    CHECK(r->tensors[0].dtype_name == name);
    CHECK(r->tensors[0].shape == std::vector<uint64_t>{5, 7});
    CHECK(r->tensors[0].bytes() == 3);
  }
}

TEST_CASE("empty tensors and empty files") {
  SUBCASE("an empty object with no data is valid") {
    auto r = Parse(MakeFile("{}", 0));
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    CHECK(r->tensors.empty());
    CHECK(r->header_bytes == 10);
  }
  SUBCASE("an empty object with data leaves trailing bytes") {
    CheckCorrupt(Parse(MakeFile("{}", 4)), "data area bytes [0, 4) belong to no tensor (trailing");
  }
  SUBCASE("only metadata") {
    auto r = Parse(MakeFile(R"({"__metadata__":{"b":"1","a":"2"}})", 0));
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    CHECK(r->metadata_json == R"({"b":"1","a":"2"})");  // key order preserved
  }
  SUBCASE("empty tensors at the start, inside another range, and at the end") {
    auto r = Parse(MakeFile(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                            R"("e0":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                            R"("e1":{"dtype":"I64","shape":[4,0],"data_offsets":[4,4]},)"
                            R"("e2":{"dtype":"U8","shape":[0],"data_offsets":[8,8]}})",
                            8));
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    REQUIRE(r->tensors.size() == 4);
    std::vector<std::string> names;
    for (auto& t : r->tensors) names.push_back(t.name);
    CHECK(names == std::vector<std::string>{"e0", "w", "e1", "e2"});
    CHECK(r->tensors[2].begin == r->header_bytes + 4);
  }
  SUBCASE("an empty tensor past the end is still an error") {
    CheckCorrupt(Parse(MakeFile(R"({"e":{"dtype":"U8","shape":[0],"data_offsets":[9,9]}})", 8)),
                 "run past the end of the data area (8 bytes)");
  }
  SUBCASE("scalar shape [] holds one element") {
    auto r = Parse(MakeFile(R"({"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]}})", 8));
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    CHECK(r->tensors[0].shape.empty());
  }
}

TEST_CASE("malformed tensor entries") {
  auto one = [](const std::string& body, size_t data = 8) {
    return Parse(MakeFile(R"({"w":)" + body + "}", data));
  };
  CheckCorrupt(one("3"), "tensor 'w': not a JSON object");
  CheckCorrupt(one(R"({"shape":[8],"data_offsets":[0,8]})"), "missing or non-string dtype");
  CheckCorrupt(one(R"({"dtype":7,"shape":[8],"data_offsets":[0,8]})"), "missing or non-string dtype");
  CheckCorrupt(one(R"({"dtype":"U8","data_offsets":[0,8]})"), "shape must be an array");
  CheckCorrupt(one(R"({"dtype":"U8","shape":"8","data_offsets":[0,8]})"), "shape must be an array");
  CheckCorrupt(one(R"({"dtype":"U8","shape":[8],"data_offsets":[0,8,9]})"), "data_offsets must be [begin, end]");
  CheckCorrupt(one(R"({"dtype":"U8","shape":[8],"data_offsets":[-1,8]})"), "data_offsets must be [begin, end]");
  CheckCorrupt(one(R"({"dtype":"U8","shape":[8],"data_offsets":[0,8.0]})"), "data_offsets must be [begin, end]");
  CheckCorrupt(one(R"({"dtype":"U8","shape":[8],"data_offsets":[0,18446744073709551615]})"),
               "run past the end of the data area");
  CheckCorrupt(one(R"({"dtype":"U8","shape":[8],"data_offsets":[0,99999999999999999999999]})"),
               "data_offsets must be [begin, end]");
  CheckCorrupt(one(R"({"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,8]})"),
               "overflows 64 bits");
  CheckCorrupt(one(R"({"dtype":"F64","shape":[2],"data_offsets":[0,8]})"), "needs 16 bytes");
  CheckCorrupt(Parse(MakeFile(R"({"__metadata__":[1]})", 0)), "__metadata__ is not a JSON object");
}

TEST_CASE("error messages stay on one line and name the file") {
  // A tensor name holding a quote is escaped, not printed raw.
  auto r = Parse(MakeFile(R"({"a'c":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})", 8), "n.safetensors");
  CheckCorrupt(r, "n.safetensors: data area bytes [0, 4) belong to no tensor (hole before tensor 'a\\'c')");
  CheckCorrupt(Parse(MakeFile("{\"\xff\":1}", 0)), "header is not valid JSON");  // not UTF-8
  // nlohmann quotes the token it stopped at: a long one is cut.
  CheckCorrupt(Parse(MakeFile("{\"" + std::string(1 << 20, 'x') + "\x01\":1}", 0)), "header is not valid JSON");
  CHECK(Parse(MakeFile("{\"" + std::string(1 << 20, 'x') + "\x01\":1}", 0)).status().message().size() < 400);
}

TEST_CASE("a tensor name with a control character is refused, escaped in the message") {
  for (const auto& [bad, escaped] : {std::pair<std::string, std::string>{"a\\nb", "a\\x0ab"},
                                     {"\\u001b[31mred", "\\x1b[31mred"}, {"tab\\t", "tab\\x09"},
                                     {"del\x7f", "del\\x7f"}}) {
    CAPTURE(escaped);
    auto r = Parse(MakeFile("{\"" + bad + R"(":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", 4), "n.safetensors");
    CheckCorrupt(r, "n.safetensors: tensor '" + escaped + "': name holds a control character");
    for (char c : r.status().message()) CHECK((static_cast<unsigned char>(c) >= 0x20 && c != 0x7f));
  }
}

TEST_CASE("repeated members: a tensor's last one counts; metadata keys are unique") {
  auto r = Parse(MakeFile(R"({"w":{"dtype":"F32","shape":[9],"shape":[1],"data_offsets":[0,4],"extra":{"x":[[1]]}}})", 4));
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  CHECK(r->tensors[0].shape == std::vector<uint64_t>{1});
  CheckCorrupt(Parse(MakeFile(R"({"__metadata__":{"a":"1","b":"2","a":"3"}})", 0)),
               "__metadata__ key 'a' appears twice");
  CheckCorrupt(Parse(MakeFile(R"({"__metadata__":{},"__metadata__":{}})", 0)), "duplicate tensor name '__metadata__'");
  auto m = Parse(MakeFile(R"({"__metadata__":{"q":"\"\u00e9\n","a":"2"}})", 0));
  REQUIRE_MESSAGE(m.ok(), m.status().message());
  CHECK(m->metadata_json == "{\"q\":\"\\\"\xc3\xa9\\n\",\"a\":\"2\"}");  // nlohmann's dump, in key order
}

TEST_CASE("hostile nesting is refused in memory bounded by the header") {
  // A DOM took ~75 bytes per header byte of '[[[...' (5 MB: 389 MB).
  const size_t n = 5u << 20;
  std::string objects;
  while (objects.size() < n) objects += "{\"a\":[";
  std::string in_tensor = R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4],"x":)";
  in_tensor.resize(n, '[');
  for (const std::string& json : {std::string(n, '['), objects, in_tensor}) {
    CAPTURE(json.substr(0, 30));
    const auto file = MakeFile(json, 4);
    Result<SafetensorsHeader> r = Parse(file);
    const int64_t growth = PeakRssGrowth([&] { r = Parse(file); });
    r = Parse(file);
    CheckCorrupt(r, "t.safetensors: ");
    CHECK(r.status().message().size() < 400);
    REQUIRE(growth >= 0);
    MESSAGE("peak RSS growth ", growth, " bytes for ", json.size(), " header bytes");
    CHECK(growth < 4 * static_cast<int64_t>(json.size()));
  }
  // 64 levels parse (unknown members are skipped); 65 do not.
  std::string deep = R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4],"x":)";
  CHECK(Parse(MakeFile(deep + std::string(62, '[') + std::string(62, ']') + "}}", 4)).ok());
  CheckCorrupt(Parse(MakeFile(deep + std::string(63, '[') + std::string(63, ']') + "}}", 4)),
               "header nests deeper than 64 levels");
}

TEST_CASE("header length checks and incomplete prefixes") {
  auto file = MakeFile(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", 4);
  auto full = Parse(file);
  REQUIRE_MESSAGE(full.ok(), full.status().message());
  // The JSON must be entirely in the prefix.
  auto part = ParseSafetensorsHeader("p", file.data(), 20, file.size());
  CheckCorrupt(part, "header incomplete");
  // The data area need not be in the prefix.
  auto exact = ParseSafetensorsHeader("p", file.data(), full->header_bytes, file.size());
  REQUIRE(exact.ok());
  CHECK(exact->tensors[0].begin == full->header_bytes);
  // N = 0 fits the file, but zero bytes are not JSON.
  CheckCorrupt(Parse(MakeFile("", 0)), "header is not valid JSON");
  CheckCorrupt(Parse({}, "x.safetensors"), "x.safetensors: truncated: 0 bytes");
  // The largest N allowed passes the limit check and then fails the size check.
  auto at_limit = MakeFile("", 0);
  at_limit[0] = 0x00, at_limit[1] = 0xe1, at_limit[2] = 0xf5, at_limit[3] = 0x05;  // 100000000
  CheckCorrupt(Parse(at_limit), "header length 100000000 runs past the end of the file (8 bytes)");
  at_limit[0] = 0x01;
  CheckCorrupt(Parse(at_limit), "header length 100000001 exceeds the limit");
  auto huge = MakeFile("", 0);
  for (int i = 0; i < 8; ++i) huge[i] = 0xff;  // 8 + N would overflow
  CheckCorrupt(Parse(huge), "exceeds the limit");
}

TEST_CASE("ReadSafetensorsHeader never reads the data area") {
  // A 4 GiB sparse data area: reading it would be slow and need 4 GiB of memory.
  TempDir dir;
  const uint64_t big = 1ull << 32;
  auto head = MakeFile(R"({"big":{"dtype":"U8","shape":[4294967296],"data_offsets":[0,4294967296]}})", 0);
  WriteBytes(dir / "big.safetensors", head);
  REQUIRE(::truncate((dir / "big.safetensors").c_str(), static_cast<off_t>(head.size() + big)) == 0);
  auto r = ReadSafetensorsHeader(dir / "big.safetensors");
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  CHECK(r->tensors[0].bytes() == big);
  CHECK(r->tensors[0].end == head.size() + big);
}

TEST_CASE("ReadSafetensorsHeader on a missing file is kNotFound") {
  TempDir dir;
  auto r = ReadSafetensorsHeader(dir / "nope.safetensors");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kNotFound);
}
