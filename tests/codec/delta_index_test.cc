#include "deltaswarm/delta_index.h"

#include <doctest/doctest.h>

using namespace deltaswarm;

namespace {

// Two files: a safetensors-like file of two segments, one raw file.
DeltaIndex Sample() {
  DeltaIndex x;
  x.target_is_directory = true;
  x.frame_bytes = 4096;
  x.zstd_level = 3;
  x.base_files = {{"model.safetensors", 100}};
  x.files = {{"model.safetensors", 100, {}}, {"config.json", 10, {}}};
  x.chunks = {{"chunk-000000.dsc", 1000, {}}};
  x.segments = {
      {0, 0, 40, SegmentKind::kHeader, "(header)", DType::kRaw, 0, 0, 40, 0, 1},
      {0, 40, 60, SegmentKind::kTensor, "w", DType::kBF16, 0, 40, 60, 1, 2},
      {1, 0, 10, SegmentKind::kFile, "config.json", DType::kRaw, kNoBase, 0, 0, 3, 1},
  };
  auto frame = [](uint32_t seg, uint64_t off, uint64_t len, uint64_t boff, uint64_t blen, uint64_t coff) {
    DeltaFrame f;
    f.segment = seg;
    f.target_offset = off;
    f.raw_len = len;
    f.base_offset = boff;
    f.base_len = blen;
    f.mode = 1;
    f.chunk_offset = coff;
    f.stored_len = 100;
    f.target_hash.bytes[0] = static_cast<uint8_t>(off);
    return f;
  };
  x.frames = {frame(0, 0, 40, 0, 40, 0), frame(1, 40, 30, 40, 30, 100), frame(1, 70, 30, 70, 30, 200),
              frame(2, 0, 10, 0, 0, 300)};
  x.frames[3].mode = 3;  // no base: a full frame
  auto digests = ContentDigests(x);
  for (size_t i = 0; i < x.files.size(); ++i) x.files[i].content_digest = digests[i];
  return x;
}

Status ParseOf(const DeltaIndex& x) { return ParseIndex(SerializeIndex(x), "index.dsi").status(); }

}  // namespace

TEST_CASE("index round-trips") {
  DeltaIndex x = Sample();
  auto bytes = SerializeIndex(x);
  auto parsed = ParseIndex(bytes, "index.dsi");
  REQUIRE(parsed.ok());
  CHECK(parsed->files.size() == 2);
  CHECK(parsed->segments[1].name == "w");
  CHECK(parsed->segments[1].dtype == DType::kBF16);
  CHECK(parsed->segments[2].base_file == kNoBase);
  CHECK(parsed->frames[2].target_offset == 70);
  CHECK(parsed->frames[1].target_hash == x.frames[1].target_hash);
  CHECK(parsed->target_bytes() == 110);
  CHECK(SerializeIndex(*parsed) == bytes);
}

TEST_CASE("every flipped byte is caught by the checksum or the checks") {
  auto bytes = SerializeIndex(Sample());
  for (size_t i = 0; i < bytes.size(); ++i) {
    auto copy = bytes;
    copy[i] ^= std::byte{0x10};
    auto r = ParseIndex(copy, "index.dsi");
    CHECK_FALSE(r.ok());
  }
  for (size_t n = 0; n < bytes.size(); n += 7) CHECK_FALSE(ParseIndex(std::span(bytes).first(n), "i").ok());
}

TEST_CASE("structural checks") {
  SUBCASE("path escaping the output") {
    auto x = Sample();
    x.files[1].path = "../evil";
    CHECK(ParseOf(x).code() == Code::kCorruption);
    x.files[1].path = "/etc/passwd";
    CHECK(ParseOf(x).code() == Code::kCorruption);
  }
  SUBCASE("chunk name with a slash") {
    auto x = Sample();
    x.chunks[0].name = "a/b";
    CHECK(ParseOf(x).code() == Code::kCorruption);
  }
  SUBCASE("segments leave a hole") {
    auto x = Sample();
    x.files[0].size = 101;
    CHECK(ParseOf(x).code() == Code::kCorruption);
  }
  SUBCASE("frame outside its chunk") {
    auto x = Sample();
    x.frames[3].chunk_offset = 950;
    CHECK(ParseOf(x).code() == Code::kCorruption);
  }
  SUBCASE("base range outside the base file") {
    auto x = Sample();
    x.base_files[0].size = 90;
    CHECK(ParseOf(x).code() == Code::kCorruption);
  }
  SUBCASE("frames do not tile a segment") {
    auto x = Sample();
    x.frames[2].target_offset = 71;
    CHECK(ParseOf(x).code() == Code::kCorruption);
  }
  SUBCASE("a frame larger than any decoder buffer") {
    auto x = Sample();
    x.files[1].size = x.segments[2].length = x.frames[3].raw_len = (1ull << 30) + 1;
    CHECK(ParseOf(x).code() == Code::kCorruption);
  }
  SUBCASE("a delta frame whose base range differs in length") {
    auto x = Sample();
    x.frames[2].base_len = 20;
    CHECK(ParseOf(x).code() == Code::kCorruption);
  }
  SUBCASE("unknown version") {
    auto bytes = SerializeIndex(Sample());
    bytes[8] = std::byte{2};
    auto r = ParseIndex(bytes, "index.dsi");
    CHECK(r.status().code() == Code::kUnsupported);
    CHECK(r.status().message().find("version 2") != std::string::npos);
  }
}

namespace {

// Corruption naming `needle`, on one line with no raw control character.
void ExpectEscaped(const DeltaIndex& x, const std::string& needle) {
  Status s = ParseOf(x);
  CHECK(s.code() == Code::kCorruption);
  CHECK_MESSAGE(s.message().find(needle) != std::string::npos, s.message());
  for (char c : s.message()) CHECK_MESSAGE((static_cast<unsigned char>(c) >= 0x20 && c != 0x7f), s.message());
}

}  // namespace

TEST_CASE("control characters in names are refused, escaped in the message") {
  const std::pair<const char*, const char*> cases[] = {
      {"a\nb.json", "a\\x0ab.json"}, {"\x1b[31mred.json", "\\x1b[31mred.json"}, {"tab\t.json", "tab\\x09.json"},
      {"del\x7f.json", "del\\x7f.json"}};
  for (const auto& [bad, escaped] : cases) {
    CAPTURE(escaped);
    auto x = Sample();
    x.files[1].path = x.segments[2].name = bad;
    ExpectEscaped(x, std::string("unsafe target path '") + escaped + "'");
    x = Sample();
    x.base_files[0].path = bad;
    ExpectEscaped(x, std::string("unsafe base path '") + escaped + "'");
    x = Sample();
    x.segments[1].name = bad;  // a tensor name
    ExpectEscaped(x, std::string("segment 1 ('") + escaped + "'): name holds a control character");
    x = Sample();
    x.chunks[0].name = bad;
    ExpectEscaped(x, std::string("bad or duplicate chunk name '") + escaped + "'");
  }
  // Names beyond ASCII are not control characters.
  auto x = Sample();
  x.segments[1].name = "gr\xc3\xbc\xc3\x9f";
  CHECK(ParseOf(x).ok());
}
