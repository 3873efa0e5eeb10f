// End-to-end: the built program diffs and applies real checkpoints, byte-exact,
// and refuses bad input with the documented exit codes, leaving nothing behind.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_util.h"

using namespace deltaswarm::testing;
namespace fs = std::filesystem;

namespace {

// Flips about `fraction` of the elements of width w by +-1 in their low byte.
std::vector<uint8_t> Perturb(std::vector<uint8_t> data, size_t width, double fraction, uint64_t seed) {
  auto noise = RandomBytes(data.size() / width + 1, seed);
  for (size_t i = 0; i < data.size() / width; ++i)
    if (noise[i] < fraction * 256) data[i * width] ^= 1;
  return data;
}

TestTensor Make(const std::string& name, const std::string& dtype, std::vector<uint64_t> shape, size_t width,
                uint64_t seed) {
  uint64_t n = 1;
  for (auto d : shape) n *= d;
  return {name, dtype, shape, RandomBytes(n * width, seed)};
}

// A checkpoint with a tensor of every dtype, including one the codec does not know.
std::vector<TestTensor> EveryDType() {
  return {Make("bf16", "BF16", {64, 33}, 2, 1),   Make("f16", "F16", {100}, 2, 2),
          Make("f32", "F32", {17, 5}, 4, 3),      Make("f64", "F64", {9}, 8, 4),
          Make("e4m3", "F8_E4M3", {300}, 1, 5),   Make("e5m2", "F8_E5M2", {30}, 1, 6),
          Make("i8", "I8", {10}, 1, 7),           Make("i16", "I16", {10}, 2, 8),
          Make("i32", "I32", {10}, 4, 9),         Make("i64", "I64", {10}, 8, 10),
          Make("u8", "U8", {10}, 1, 11),          Make("u16", "U16", {10}, 2, 12),
          Make("u32", "U32", {10}, 4, 13),        Make("u64", "U64", {10}, 8, 14),
          Make("flag", "BOOL", {7}, 1, 15),       Make("scale", "F8_E8M0", {40}, 1, 16),
          Make("empty", "BF16", {0, 8}, 2, 17),   Make("replaced", "F32", {4096}, 4, 18)};
}

// Perturbs every tensor and adds one that changes completely, so that the
// delta spans several small chunks.
std::vector<TestTensor> PerturbAll(std::vector<TestTensor> ts, double fraction) {
  uint64_t seed = 100;
  for (auto& t : ts)
    t.data = t.name == "replaced" ? RandomBytes(t.data.size(), seed++) : Perturb(t.data, 1, fraction, seed++);
  return ts;
}

void ExpectOk(const RunResult& r) {
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
}

// diff OLD NEW, apply, compare byte for byte; returns the delta dir.
std::string RoundTrip(const TempDir& tmp, const std::string& old_path, const std::string& new_path,
                      std::vector<std::string> extra = {}) {
  std::vector<std::string> diff_args = {"diff", old_path, new_path, "-o", tmp / "delta", "-q"};
  diff_args.insert(diff_args.end(), extra.begin(), extra.end());
  ExpectOk(RunDeltaswarm(diff_args));
  ExpectOk(RunDeltaswarm({"apply", old_path, tmp / "delta", "-o", tmp / "out", "-q"}));
  CHECK(SameTree(new_path, tmp / "out"));
  return tmp / "delta";
}

nlohmann::json LastJsonLine(const std::string& out) {
  size_t end = out.find_last_not_of('\n');
  size_t start = out.rfind('\n', end);
  return nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1, end + 1));
}

bool NoTempLeftIn(const std::string& dir) {
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) return false;
  return true;
}

}  // namespace

TEST_CASE("every dtype round-trips byte-exact through small frames and chunks") {
  TempDir tmp;
  auto old_t = EveryDType();
  WriteSafetensors(tmp / "a.safetensors", old_t, R"({"format":"pt"})");
  WriteSafetensors(tmp / "b.safetensors", PerturbAll(old_t, 0.05), R"({"format":"pt","step":"2"})");
  RoundTrip(tmp, tmp / "a.safetensors", tmp / "b.safetensors", {"--frame-size", "4Ki", "--chunk-size", "4Ki"});
  CHECK(fs::exists(tmp / "delta/chunk-000001.dsc"));  // several chunks were written
}

TEST_CASE("zero-change and all-change versions") {
  TempDir tmp;
  auto t = EveryDType();
  WriteSafetensors(tmp / "a.safetensors", t);
  SUBCASE("identical") {
    RoundTrip(tmp, tmp / "a.safetensors", tmp / "a.safetensors");
    auto info = RunDeltaswarm({"inspect", tmp / "delta", "--json"});
    ExpectOk(info);
    auto summary = LastJsonLine(info.out);
    CHECK(summary["result"]["delta_bytes"].get<uint64_t>() < 3000);
  }
  SUBCASE("everything changed") {
    for (auto& x : t) x.data = RandomBytes(x.data.size(), x.data.size() + 7);
    WriteSafetensors(tmp / "b.safetensors", t);
    RoundTrip(tmp, tmp / "a.safetensors", tmp / "b.safetensors");
  }
}

TEST_CASE("sharded directories: tensors added, removed, reshaped, retyped, moved; other files") {
  TempDir tmp;
  fs::create_directories(tmp / "old/tok");
  fs::create_directories(tmp / "new/tok");
  auto a = Make("layer.0.w", "BF16", {128, 64}, 2, 1);
  auto b = Make("layer.1.w", "BF16", {128, 64}, 2, 2);
  auto gone = Make("removed", "F32", {10}, 4, 3);
  auto reshaped = Make("reshaped", "F32", {4, 6}, 4, 4);
  auto retyped = Make("retyped", "F32", {16}, 4, 5);
  WriteSafetensors(tmp / "old/model-00001-of-00002.safetensors", {a, gone});
  WriteSafetensors(tmp / "old/model-00002-of-00002.safetensors", {b, reshaped, retyped});
  std::string old_index = R"({"weight_map":{"layer.0.w":"model-00001-of-00002.safetensors"}})";
  WriteBytes(tmp / "old/model.safetensors.index.json", std::vector<uint8_t>(old_index.begin(), old_index.end()));
  WriteBytes(tmp / "old/config.json", std::vector<uint8_t>(200, 'a'));
  WriteBytes(tmp / "old/tok/vocab.txt", RandomBytes(5000, 9));

  auto a2 = a;
  a2.data = Perturb(a.data, 2, 0.02, 11);
  auto b2 = b;
  b2.data = Perturb(b.data, 2, 0.02, 12);
  auto reshaped2 = reshaped;
  reshaped2.shape = {6, 4};
  auto retyped2 = Make("retyped", "BF16", {16}, 2, 6);
  auto added = Make("added", "I64", {3}, 8, 7);
  // layer.1.w moves to the first shard: matched by name across shards.
  WriteSafetensors(tmp / "new/model-00001-of-00002.safetensors", {a2, b2, added});
  WriteSafetensors(tmp / "new/model-00002-of-00002.safetensors", {reshaped2, retyped2});
  auto index_json = std::string(
      R"({"weight_map":{"layer.0.w":"model-00001-of-00002.safetensors","layer.1.w":"model-00001-of-00002.safetensors"}})");
  WriteBytes(tmp / "new/model.safetensors.index.json", std::vector<uint8_t>(index_json.begin(), index_json.end()));
  WriteBytes(tmp / "new/config.json", std::vector<uint8_t>(230, 'b'));
  WriteBytes(tmp / "new/tok/vocab.txt", RandomBytes(5000, 9));
  WriteBytes(tmp / "new/added.bin", RandomBytes(100, 10));
  WriteBytes(tmp / "new/empty.txt", {});

  std::string delta = RoundTrip(tmp, tmp / "old", tmp / "new", {"--frame-size", "4Ki"});
  auto info = RunDeltaswarm({"inspect", delta, "--json"});
  ExpectOk(info);
  auto result = LastJsonLine(info.out)["result"];
  bool saw_layer1_delta = false;
  for (auto& s : result["segments"])
    if (s["name"] == "layer.1.w") saw_layer1_delta = s["base"] == "delta" && s["changed_fraction"] < 0.05;
  CHECK(saw_layer1_delta);
}

TEST_CASE("keyframe: no base needed, and 1 vs N threads give identical deltas") {
  TempDir tmp;
  WriteSafetensors(tmp / "a.safetensors", EveryDType());
  ExpectOk(RunDeltaswarm({"diff", "--keyframe", tmp / "a.safetensors", "-o", tmp / "k1", "-j", "1", "-q",
                          "--frame-size", "4Ki"}));
  ExpectOk(RunDeltaswarm({"diff", "--keyframe", tmp / "a.safetensors", "-o", tmp / "k3", "-j", "3", "-q",
                          "--frame-size", "4Ki"}));
  CHECK(SameTree(tmp / "k1", tmp / "k3"));
  ExpectOk(RunDeltaswarm({"apply", tmp / "k1", "-o", tmp / "out.safetensors", "-q"}));
  CHECK(SameTree(tmp / "a.safetensors", tmp / "out.safetensors"));
  ExpectOk(RunDeltaswarm({"verify", tmp / "out.safetensors", "--against", tmp / "k1", "-q"}));
}

TEST_CASE("bad input: documented exit codes, untouched base, no partial output") {
  TempDir tmp;
  auto t = EveryDType();
  WriteSafetensors(tmp / "a.safetensors", t);
  WriteSafetensors(tmp / "b.safetensors", PerturbAll(t, 0.1));
  WriteSafetensors(tmp / "c.safetensors", PerturbAll(t, 0.3));
  ExpectOk(RunDeltaswarm({"diff", tmp / "a.safetensors", tmp / "b.safetensors", "-o", tmp / "d", "-q",
                          "--frame-size", "4Ki", "--chunk-size", "4Ki"}));
  auto base_before = ReadBytes(tmp / "a.safetensors");

  SUBCASE("wrong base") {
    auto r = RunDeltaswarm({"apply", tmp / "c.safetensors", tmp / "d", "-o", tmp / "out"});
    CHECK(r.exit_code == 6);
    CHECK(r.err.find("wrong base") != std::string::npos);
  }
  SUBCASE("corrupt chunk") {
    auto bytes = ReadBytes(tmp / "d/chunk-000000.dsc");
    bytes[bytes.size() / 2] ^= 0x40;
    WriteBytes(tmp / "d/chunk-000000.dsc", bytes);
    auto r = RunDeltaswarm({"apply", tmp / "a.safetensors", tmp / "d", "-o", tmp / "out"});
    CHECK(r.exit_code == 5);
    CHECK(r.err.find("chunk-000000.dsc") != std::string::npos);
  }
  SUBCASE("truncated chunk") {
    fs::resize_file(tmp / "d/chunk-000001.dsc", 10);
    auto r = RunDeltaswarm({"apply", tmp / "a.safetensors", tmp / "d", "-o", tmp / "out"});
    CHECK(r.exit_code == 5);
  }
  SUBCASE("missing chunk") {
    fs::remove(tmp / "d/chunk-000000.dsc");
    auto r = RunDeltaswarm({"apply", tmp / "a.safetensors", tmp / "d", "-o", tmp / "out"});
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("missing") != std::string::npos);
  }
  SUBCASE("unknown index version") {
    auto bytes = ReadBytes(tmp / "d/index.dsi");
    bytes[8] = 99;
    WriteBytes(tmp / "d/index.dsi", bytes);
    auto r = RunDeltaswarm({"apply", tmp / "a.safetensors", tmp / "d", "-o", tmp / "out"});
    CHECK(r.exit_code == 7);
    CHECK(r.err.find("version 99") != std::string::npos);
  }
  SUBCASE("missing base argument for a delta") {
    auto r = RunDeltaswarm({"apply", tmp / "d", "-o", tmp / "out"});
    CHECK(r.exit_code == 2);
  }
  SUBCASE("output exists, then --force replaces it only when verified") {
    WriteBytes(tmp / "out", {1, 2, 3});
    auto r = RunDeltaswarm({"apply", tmp / "a.safetensors", tmp / "d", "-o", tmp / "out"});
    CHECK(r.exit_code == 4);
    CHECK(ReadBytes(tmp / "out") == std::vector<uint8_t>{1, 2, 3});
    r = RunDeltaswarm({"apply", tmp / "c.safetensors", tmp / "d", "-o", tmp / "out", "--force"});
    CHECK(r.exit_code == 6);
    CHECK(ReadBytes(tmp / "out") == std::vector<uint8_t>{1, 2, 3});
    ExpectOk(RunDeltaswarm({"apply", tmp / "a.safetensors", tmp / "d", "-o", tmp / "out", "--force", "-q"}));
    CHECK(SameTree(tmp / "b.safetensors", tmp / "out"));
  }
  SUBCASE("diff output exists") {
    auto r = RunDeltaswarm({"diff", tmp / "a.safetensors", tmp / "b.safetensors", "-o", tmp / "d"});
    CHECK(r.exit_code == 4);
  }
  SUBCASE("malformed safetensors input to diff") {
    auto bytes = ReadBytes(tmp / "b.safetensors");
    bytes.resize(bytes.size() - 3);
    WriteBytes(tmp / "short.safetensors", bytes);
    auto r = RunDeltaswarm({"diff", tmp / "a.safetensors", tmp / "short.safetensors", "-o", tmp / "d2"});
    CHECK(r.exit_code == 5);
    CHECK(r.err.find("short.safetensors") != std::string::npos);
    CHECK(!fs::exists(tmp / "d2"));
  }
  SUBCASE("verify detects a modified checkpoint") {
    auto r = RunDeltaswarm({"verify", tmp / "c.safetensors", "--against", tmp / "d"});
    CHECK(r.exit_code == 6);
    ExpectOk(RunDeltaswarm({"verify", tmp / "b.safetensors", "--against", tmp / "d", "-q"}));
  }
  // One line of error, the base untouched, no temporary leftovers.
  CHECK(ReadBytes(tmp / "a.safetensors") == base_before);
  CHECK(NoTempLeftIn(tmp.path()));
}

TEST_CASE("--json writes progress events and one summary with the same shape for every command") {
  TempDir tmp;
  WriteSafetensors(tmp / "a.safetensors", EveryDType());
  auto r = RunDeltaswarm({"diff", "--keyframe", tmp / "a.safetensors", "-o", tmp / "k", "--json"});
  ExpectOk(r);
  auto summary = LastJsonLine(r.out);
  CHECK(summary["event"] == "summary");
  CHECK(summary["command"] == "diff");
  CHECK(summary["ok"] == true);
  CHECK(summary["result"]["target_bytes"].get<uint64_t>() == fs::file_size(tmp / "a.safetensors"));
  CHECK(r.out.find("\"event\":\"progress\"") != std::string::npos);

  auto bad = RunDeltaswarm({"apply", tmp / "nope", "-o", tmp / "x", "--json"});
  CHECK(bad.exit_code == 3);
  auto s2 = LastJsonLine(bad.out);
  CHECK(s2["ok"] == false);
  CHECK(s2["exit_code"] == 3);
}

TEST_CASE("an output on a full disk fails with exit 9 and leaves nothing behind") {
  TempDir tmp;
  fs::create_directories(tmp / "small");
  std::string mount = "mount -t tmpfs -o size=64k tmpfs " + tmp / "small" + " 2>/dev/null";
  if (std::system(mount.c_str()) != 0) {
    MESSAGE("skipped: cannot mount a tmpfs here (needs root)");
    return;
  }
  struct Unmount {
    std::string dir;
    ~Unmount() { (void)std::system(("umount " + dir).c_str()); }
  } unmount{tmp / "small"};

  WriteSafetensors(tmp / "a.safetensors", {Make("w", "BF16", {512, 256}, 2, 1)});
  ExpectOk(RunDeltaswarm({"diff", "--keyframe", tmp / "a.safetensors", "-o", tmp / "k", "-q"}));
  auto r = RunDeltaswarm({"apply", tmp / "k", "-o", tmp / "small/out.safetensors"});
  CHECK(r.exit_code == 9);
  CHECK(r.err.find("out.safetensors") != std::string::npos);
  CHECK(fs::is_empty(tmp / "small"));
  r = RunDeltaswarm({"diff", "--keyframe", tmp / "a.safetensors", "-o", tmp / "small/k", "--level", "1"});
  CHECK(r.exit_code == 9);
  CHECK(fs::is_empty(tmp / "small"));
}

TEST_CASE("an empty tensor inside another tensor's range round-trips (a bug found in review)") {
  TempDir tmp;
  std::string json = R"({"a":{"dtype":"U8","shape":[100],"data_offsets":[0,100]},)"
                     R"("e":{"dtype":"U8","shape":[0],"data_offsets":[50,50]}})";
  for (int v = 0; v < 2; ++v) {
    std::vector<uint8_t> file(8);
    for (int i = 0; i < 8; ++i) file[i] = static_cast<uint8_t>(json.size() >> (8 * i));
    file.insert(file.end(), json.begin(), json.end());
    auto data = RandomBytes(100, 5);
    data[10] ^= v;
    file.insert(file.end(), data.begin(), data.end());
    WriteBytes(tmp / ("v" + std::to_string(v) + ".safetensors"), file);
  }
  RoundTrip(tmp, tmp / "v0.safetensors", tmp / "v1.safetensors");
}
