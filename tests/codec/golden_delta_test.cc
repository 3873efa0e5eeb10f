// The committed golden deltas still decode, and encoding still produces the
// newest byte for byte: the delta format (docs/FORMAT.md) only changes with
// its version. v1/ holds frame version 1 (written until version 2 came), v2/
// frame version 2 with class-sparse frames.
#include <doctest/doctest.h>

#include <filesystem>

#include "deltaswarm/delta.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;

namespace {
const std::string kGolden = std::string(DS_GOLDEN_DIR) + "/delta";

void CheckApplies(const std::string& base, const std::string& delta, const std::string& target) {
  TempDir tmp;
  auto r = Apply(kGolden + "/" + base, kGolden + "/" + delta, tmp / "out.safetensors", {}, nullptr);
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(SameTree(tmp / "out.safetensors", kGolden + "/" + target));
}
}  // namespace

TEST_CASE("the golden deltas apply to their bases and give the golden targets") {
  CheckApplies("base.safetensors", "v1", "target.safetensors");
  CheckApplies("base2.safetensors", "v2", "target2.safetensors");
}

TEST_CASE("encoding the golden pair reproduces the version 2 golden delta byte for byte") {
  TempDir tmp;
  DiffOptions o;
  o.frame_bytes = 64 << 10;
  for (unsigned threads : {1u, 2u}) {
    o.threads = threads;
    std::string out = tmp / ("d" + std::to_string(threads));
    auto r = Diff(kGolden + "/base2.safetensors", kGolden + "/target2.safetensors", out, o, nullptr);
    REQUIRE(r.ok());
    CHECK(r->frames_by_mode.at("class-sparse") == 2);
    CHECK(r->frames_by_mode.at("class-dense") == 1);
    CHECK(SameTree(out, kGolden + "/v2"));
  }
}

TEST_CASE("a golden chunk with one flipped byte is refused") {
  for (const char* version : {"v1", "v2"}) {
    CAPTURE(version);
    TempDir tmp;
    std::filesystem::copy(kGolden + "/" + version, tmp / "d");
    auto bytes = ReadBytes(tmp / "d/chunk-000000.dsc");
    bytes[100] ^= 0x01;
    WriteBytes(tmp / "d/chunk-000000.dsc", bytes);
    const std::string base = std::string(version) == "v1" ? "/base.safetensors" : "/base2.safetensors";
    auto r = Apply(kGolden + base, tmp / "d", tmp / "out", {}, nullptr);
    CHECK(r.status().code() == Code::kCorruption);
    CHECK(!std::filesystem::exists(tmp / "out"));
  }
}
