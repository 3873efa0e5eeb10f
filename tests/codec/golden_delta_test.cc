// The committed golden delta still decodes, and encoding still produces it
// byte for byte: the delta format (docs/FORMAT.md) only changes with its version.
#include <doctest/doctest.h>

#include <filesystem>

#include "deltaswarm/delta.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;

namespace {
const std::string kGolden = std::string(DS_GOLDEN_DIR) + "/delta";
}

TEST_CASE("the golden delta applies to its base and gives the golden target") {
  TempDir tmp;
  auto r = Apply(kGolden + "/base.safetensors", kGolden + "/v1", tmp / "out.safetensors", {}, nullptr);
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(SameTree(tmp / "out.safetensors", kGolden + "/target.safetensors"));
}

TEST_CASE("encoding the golden pair reproduces the golden delta byte for byte") {
  TempDir tmp;
  DiffOptions o;
  o.frame_bytes = 4096;
  for (unsigned threads : {1u, 2u}) {
    o.threads = threads;
    std::string out = tmp / ("d" + std::to_string(threads));
    auto r = Diff(kGolden + "/base.safetensors", kGolden + "/target.safetensors", out, o, nullptr);
    REQUIRE(r.ok());
    CHECK(SameTree(out, kGolden + "/v1"));
  }
}

TEST_CASE("a golden chunk with one flipped byte is refused") {
  TempDir tmp;
  std::filesystem::copy(kGolden + "/v1", tmp / "v1");
  auto bytes = ReadBytes(tmp / "v1/chunk-000000.dsc");
  bytes[100] ^= 0x01;
  WriteBytes(tmp / "v1/chunk-000000.dsc", bytes);
  auto r = Apply(kGolden + "/base.safetensors", tmp / "v1", tmp / "out", {}, nullptr);
  CHECK(r.status().code() == Code::kCorruption);
  CHECK(!std::filesystem::exists(tmp / "out"));
}
