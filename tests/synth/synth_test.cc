#include "deltaswarm/synth.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <set>

#include "deltaswarm/checkpoint.h"
#include "format/safetensors_writer.h"
#include "synth/block_trainer.h"
#include "synth/float_cast.h"
#include "synth/model_shape.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::synth;
using deltaswarm::testing::ReadBytes;
using deltaswarm::testing::SameTree;
using deltaswarm::testing::TempDir;

namespace {

float F(uint32_t bits) { return BitsToFloat(bits); }

SynthOptions Small(const std::string& dir) {
  SynthOptions o;
  o.out_dir = dir;
  o.params = 2'000'000;
  o.versions = 2;
  o.threads = 2;
  return o;
}

// Elements of `width` bytes that differ between the data areas of two files.
double ChangedFraction(const std::string& a, const std::string& b, unsigned width) {
  auto ha = ReadSafetensorsHeader(a);
  REQUIRE(ha.ok());
  auto x = ReadBytes(a), y = ReadBytes(b);
  REQUIRE(x.size() == y.size());
  uint64_t changed = 0, n = 0;
  for (size_t i = ha->header_bytes; i + width <= x.size(); i += width, ++n)
    changed += std::memcmp(&x[i], &y[i], width) != 0;
  return static_cast<double>(changed) / static_cast<double>(n);
}

}  // namespace

TEST_CASE("bf16 cast rounds to nearest even") {
  CHECK(FloatToBf16(1.0f) == 0x3f80);
  CHECK(FloatToBf16(-1.0f) == 0xbf80);
  CHECK(FloatToBf16(0.0f) == 0x0000);
  CHECK(FloatToBf16(-0.0f) == 0x8000);
  CHECK(FloatToBf16(F(0x3f808000)) == 0x3f80);  // halfway, even below
  CHECK(FloatToBf16(F(0x3f818000)) == 0x3f82);  // halfway, even above
  CHECK(FloatToBf16(F(0x3f808001)) == 0x3f81);  // just above halfway
  CHECK(FloatToBf16(F(0x3f807fff)) == 0x3f80);  // just below
  CHECK(FloatToBf16(F(0xbf818000)) == 0xbf82);  // negative tie
  CHECK(FloatToBf16(std::numeric_limits<float>::infinity()) == 0x7f80);
  CHECK(FloatToBf16(-std::numeric_limits<float>::infinity()) == 0xff80);
  CHECK(FloatToBf16(F(0x7f7fffff)) == 0x7f80);  // FLT_MAX rounds up to inf
  CHECK(FloatToBf16(F(0x00000001)) == 0x0000);  // smallest subnormal rounds to 0
  for (uint32_t nan : {0x7fc00000u, 0x7f800001u, 0xffffffffu, 0x7f80ffffu}) {
    uint16_t h = FloatToBf16(F(nan));
    CHECK((h & 0x7f80) == 0x7f80);
    CHECK((h & 0x007f) != 0);  // still a NaN, not inf
    CHECK((h & 0x8000) == ((nan >> 16) & 0x8000));
  }
  CHECK(Bf16ToFloat(FloatToBf16(0.02f)) == doctest::Approx(0.02f).epsilon(0.01));
}

TEST_CASE("f16 cast rounds to nearest even") {
  CHECK(FloatToF16(1.0f) == 0x3c00);
  CHECK(FloatToF16(-2.0f) == 0xc000);
  CHECK(FloatToF16(65504.0f) == 0x7bff);
  CHECK(FloatToF16(65519.0f) == 0x7bff);
  CHECK(FloatToF16(65520.0f) == 0x7c00);  // tie between max and inf goes to inf (even)
  CHECK(FloatToF16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);      // tie, even below
  CHECK(FloatToF16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);  // tie, even above
  CHECK(FloatToF16(std::ldexp(1.0f, -14)) == 0x0400);  // smallest normal
  CHECK(FloatToF16(std::ldexp(1.0f, -24)) == 0x0001);  // smallest subnormal
  CHECK(FloatToF16(std::ldexp(1.0f, -25)) == 0x0000);  // tie to even zero
  CHECK(FloatToF16(3 * std::ldexp(1.0f, -25)) == 0x0002);
  CHECK(FloatToF16(-std::ldexp(1.0f, -24)) == 0x8001);
  CHECK(FloatToF16(std::numeric_limits<float>::infinity()) == 0x7c00);
  CHECK(FloatToF16(-std::numeric_limits<float>::infinity()) == 0xfc00);
  CHECK(FloatToF16(std::numeric_limits<float>::quiet_NaN()) == 0x7e00);
  CHECK(FloatToF16(F(0xff800001)) == 0xfe00);
  CHECK(FloatToF16(1e10f) == 0x7c00);
}

TEST_CASE("model plans hit the requested size") {
  for (uint64_t p : {10'000ull, 100'000ull, 1'000'000ull, 30'000'000ull, 250'000'000ull, 1'500'000'000ull,
                     7'000'000'000ull}) {
    auto m = PlanModel(p);
    REQUIRE(m.ok());
    INFO("params " << p << " d " << m->d_model << " layers " << m->layers << " vocab " << m->vocab);
    CHECK(std::abs(static_cast<double>(m->params()) / p - 1) < 0.05);
    CHECK(m->d_model >= 16);
    CHECK(m->vocab >= 64);
    CHECK(m->ffn % 64 == 0);
    std::set<std::string> names;
    for (const auto& t : m->tensors) names.insert(t.name);
    CHECK(names.size() == m->tensors.size());
    CHECK(names.count("model.layers.0.self_attn.q_proj.weight") == 1);
    CHECK(names.count("lm_head.weight") == 1);
  }
  auto m = PlanModel(250'000'000);
  CHECK(m->d_model == 1024);
  CHECK(m->layers >= 12);
  CHECK(m->layers <= 20);
  CHECK(PlanModel(100).status().code() == Code::kInvalidArgument);
}

TEST_CASE("safetensors writer output parses and is padded like the reference") {
  TempDir tmp;
  std::string path = tmp / "t.safetensors";
  {
    auto w = SafetensorsWriter::Create(path, {{"b", DType::kBF16, {3}}, {"a", DType::kF32, {2, 2}}});
    REQUIRE(w.ok());
    uint16_t b[3] = {1, 2, 3};
    float a[4] = {1, 2, 3, 4};
    CHECK((*w)->WriteTensor(1, 0, std::as_bytes(std::span(a))).ok());
    CHECK((*w)->WriteTensor(0, 0, std::as_bytes(std::span(b))).ok());
    CHECK((*w)->WriteTensor(0, 2, std::as_bytes(std::span(b))).code() == Code::kInvalidArgument);
    CHECK((*w)->Commit().ok());
  }
  auto h = ReadSafetensorsHeader(path);
  REQUIRE(h.ok());
  CHECK((h->header_bytes - 8) % 8 == 0);
  REQUIRE(h->tensors.size() == 2);
  CHECK(h->tensors[0].name == "b");
  CHECK(h->tensors[1].name == "a");
  CHECK(h->tensors[1].shape == std::vector<uint64_t>{2, 2});
  CHECK(h->metadata_json.find("\"format\"") != std::string::npos);
  auto bytes = ReadBytes(path);
  CHECK(bytes.size() == h->header_bytes + 6 + 16);
  std::string json(bytes.begin() + 8, bytes.begin() + h->header_bytes);
  CHECK(json.rfind("{\"__metadata__\":{\"format\":\"pt\"},\"b\":", 0) == 0);

  // An uncommitted writer leaves nothing behind.
  { auto w = SafetensorsWriter::Create(tmp / "u.safetensors", {{"x", DType::kF32, {1}}}); }
  CHECK(!PathExists(tmp / "u.safetensors"));
}

TEST_CASE("synth writes valid checkpoints of the requested size") {
  TempDir tmp;
  SynthOptions o = Small(tmp / "out");
  uint64_t last_done = 0, last_total = 0;
  bool monotonic = true;
  auto r = SynthesizeWithReport(o, [&](const char* phase, uint64_t done, uint64_t total) {
    CHECK(std::string(phase) == "synth");
    monotonic = monotonic && done >= last_done && done <= total;
    last_done = done;
    last_total = total;
  });
  REQUIRE(r.ok());
  CHECK(monotonic);
  CHECK(last_done == last_total);
  CHECK(std::abs(static_cast<double>(r->params) / o.params - 1) < 0.05);
  REQUIRE(r->files.size() == 3);
  for (unsigned k = 0; k <= 2; ++k) {
    std::string path = tmp / ("out/v" + std::to_string(k) + "/model.safetensors");
    CHECK(r->files[k].path == path);
    auto h = ReadSafetensorsHeader(path);
    REQUIRE(h.ok());
    CHECK(h->tensors.size() == r->tensors);
    uint64_t elements = 0;
    for (const auto& t : h->tensors) {
      CHECK(t.dtype == DType::kBF16);
      elements += t.bytes() / 2;
    }
    CHECK(elements == r->params);
    CHECK(ReadBytes(path).size() == r->files[k].bytes);
  }
  // The report's change counts match the files.
  double c01 = ChangedFraction(r->files[0].path, r->files[1].path, 2);
  CHECK(c01 == doctest::Approx(static_cast<double>(r->files[1].changed_vs_prev) / r->params));
  double c02 = ChangedFraction(r->files[0].path, r->files[2].path, 2);
  CHECK(c02 == doctest::Approx(static_cast<double>(r->files[2].changed_vs_base) / r->params));

  // Values look like an initialised model: matrices ~ N(0, 0.02), norms ~ 1.
  auto h = ReadSafetensorsHeader(r->files[0].path);
  auto bytes = ReadBytes(r->files[0].path);
  for (const auto& t : h->tensors) {
    double sum = 0, sq = 0;
    uint64_t n = t.bytes() / 2;
    for (uint64_t i = 0; i < n; ++i) {
      uint16_t v;
      std::memcpy(&v, &bytes[t.begin + 2 * i], 2);
      double x = Bf16ToFloat(v);
      sum += x;
      sq += x * x;
    }
    double mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
    INFO(t.name);
    if (t.name.find("norm") != std::string::npos) {
      CHECK(mean == doctest::Approx(1.0).epsilon(0.01));
    } else if (t.name.find("bias") == std::string::npos) {
      CHECK(std::abs(mean) < 0.002);
      CHECK(sd == doctest::Approx(0.02).epsilon(0.05));
    }
  }
}

TEST_CASE("synth is deterministic per seed and independent of threads") {
  TempDir tmp;
  SynthOptions a = Small(tmp / "a");
  a.threads = 1;
  SynthOptions b = Small(tmp / "b");
  b.threads = 3;
  SynthOptions c = Small(tmp / "c");
  c.threads = 2;
  SynthOptions d = Small(tmp / "d");
  d.seed = 2;
  REQUIRE(Synthesize(a, nullptr).ok());
  REQUIRE(Synthesize(b, nullptr).ok());
  REQUIRE(Synthesize(c, nullptr).ok());
  REQUIRE(Synthesize(d, nullptr).ok());
  CHECK(SameTree(tmp / "a", tmp / "b"));
  CHECK(SameTree(tmp / "a", tmp / "c"));
  CHECK(!SameTree(tmp / "a", tmp / "d"));
  // Blocks of any size give the same values.
  BlockTrainer whole({}), part({});
  SynthTensor t{"x", {1000}, InitKind::kMatrix};
  whole.Init(t, 0, 1000);
  part.Init(t, 600, 400);
  whole.Step(1);
  part.Step(1);
  CHECK(std::memcmp(whole.masters().data() + 600, part.masters().data(), 400 * sizeof(float)) == 0);
}

TEST_CASE("the changed fraction follows the learning rate") {
  TempDir tmp;
  double previous = 0;
  int run = 0;
  for (double lr : {1e-7, 1e-6, 4e-6, 1e-4}) {
    SynthOptions o = Small(tmp / ("lr" + std::to_string(run++)));
    o.lr = lr;
    o.versions = 1;
    auto r = SynthesizeWithReport(o, nullptr);
    REQUIRE(r.ok());
    double f = static_cast<double>(r->files[1].changed_vs_prev) / r->params;
    MESSAGE("lr " << lr << ": " << 100 * f << " % of bf16 elements changed");
    CHECK(f > previous);
    if (lr == 1e-6) {
      CHECK(f > 0.003);
      CHECK(f < 0.03);
    }
    previous = f;
  }
}

TEST_CASE("F32 and F16 outputs") {
  TempDir tmp;
  SynthOptions o = Small(tmp / "f32");
  o.dtype = DType::kF32;
  auto r = SynthesizeWithReport(o, nullptr);
  REQUIRE(r.ok());
  CHECK(static_cast<double>(r->files[1].changed_vs_prev) / r->params > 0.95);
  CHECK(ChangedFraction(r->files[0].path, r->files[1].path, 4) > 0.95);
  auto h = ReadSafetensorsHeader(r->files[0].path);
  REQUIRE(h.ok());
  CHECK(h->tensors[0].dtype == DType::kF32);

  SynthOptions o16 = Small(tmp / "f16");
  o16.dtype = DType::kF16;
  auto r16 = SynthesizeWithReport(o16, nullptr);
  REQUIRE(r16.ok());
  auto h16 = ReadSafetensorsHeader(r16->files[2].path);
  REQUIRE(h16.ok());
  CHECK(h16->tensors[0].dtype == DType::kF16);
  // The fp16 file holds the rounded masters of the fp32 run with the same seed.
  auto b32 = ReadBytes(r->files[2].path), b16 = ReadBytes(r16->files[2].path);
  const auto& t32 = ReadSafetensorsHeader(r->files[2].path)->tensors[0];
  const auto& t16 = h16->tensors[0];
  for (uint64_t i = 0; i < 1000; ++i) {
    float x;
    uint16_t y;
    std::memcpy(&x, &b32[t32.begin + 4 * i], 4);
    std::memcpy(&y, &b16[t16.begin + 2 * i], 2);
    REQUIRE(FloatToF16(x) == y);
  }
}

TEST_CASE("synth rejects bad options and existing outputs") {
  TempDir tmp;
  SynthOptions o = Small(tmp / "out");
  o.params = 100;
  CHECK(Synthesize(o, nullptr).code() == Code::kInvalidArgument);
  o = Small(tmp / "out");
  o.lr = -1;
  CHECK(Synthesize(o, nullptr).code() == Code::kInvalidArgument);
  o.lr = std::nan("");
  CHECK(Synthesize(o, nullptr).code() == Code::kInvalidArgument);
  o = Small(tmp / "out");
  o.dtype = DType::kI32;
  CHECK(Synthesize(o, nullptr).code() == Code::kInvalidArgument);
  o = Small("");
  CHECK(Synthesize(o, nullptr).code() == Code::kInvalidArgument);
  CHECK(!PathExists(tmp / "out"));

  o = Small(tmp / "out");
  o.params = 100'000;
  REQUIRE(Synthesize(o, nullptr).ok());
  CHECK(Synthesize(o, nullptr).code() == Code::kAlreadyExists);
  o.force = true;
  o.seed = 5;
  CHECK(Synthesize(o, nullptr).ok());
  testing::WriteBytes(tmp / "file", {1});
  o.out_dir = tmp / "file";
  CHECK(Synthesize(o, nullptr).code() == Code::kInvalidArgument);
}
