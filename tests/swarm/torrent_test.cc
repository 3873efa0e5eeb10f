// MakeTorrent and the piece-size rule.
#include <doctest/doctest.h>

#include <filesystem>

#include "deltaswarm/swarm.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;

namespace {
constexpr uint64_t kKiB = 1024, kMiB = kKiB * 1024, kGiB = kMiB * 1024;

bool IsLowerHex(const std::string& s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}
}  // namespace

TEST_CASE("PieceSizeFor: total/1024 below 1 GiB, 1 MiB up to 64 GiB, then at most 65536 pieces, 16 KiB minimum") {
  CHECK(PieceSizeFor(0) == 16 * kKiB);
  CHECK(PieceSizeFor(1) == 16 * kKiB);
  CHECK(PieceSizeFor(20000) == 16 * kKiB);
  CHECK(PieceSizeFor(16000000) == 16 * kKiB);    // 16 MB: 977 pieces
  CHECK(PieceSizeFor(64000000) == 32 * kKiB);    // 64 MB: 1954 pieces
  CHECK(PieceSizeFor(256000000) == 128 * kKiB);  // 256 MB: 1954 pieces
  CHECK(PieceSizeFor(kGiB - 1) == 512 * kKiB);
  CHECK(PieceSizeFor(kGiB) == kMiB);
  CHECK(PieceSizeFor(10000000000ull) == kMiB);   // 10 GB
  CHECK(PieceSizeFor(64 * kGiB) == kMiB);
  CHECK(PieceSizeFor(64 * kGiB + 1) == 2 * kMiB);
  CHECK(PieceSizeFor(4000000000000ull) == 64 * kMiB);  // 4 TB: 59605 pieces
  for (uint64_t total : std::initializer_list<uint64_t>{1, 5000, 3000000, 77 * kGiB, 4000000000000, 100ull << 40}) {
    const uint64_t p = PieceSizeFor(total);
    CHECK((p & (p - 1)) == 0);
    CHECK(p >= 16 * kKiB);
    CHECK((total + p - 1) / p <= 65536);
    if (total >= 16 * kKiB * 1024) CHECK(total / p >= 1024);  // enough pieces for a swarm to pipeline
  }
}

TEST_CASE("MakeTorrent: a v2 torrent of a directory's files") {
  TempDir tmp;
  const std::string dir = tmp / "delta";
  std::filesystem::create_directories(dir + "/sub");
  uint64_t sum = 0;
  const size_t sizes[] = {1000, 3 * 1024 * 1024 + 17, 0, 65536};
  for (size_t i = 0; i < std::size(sizes); ++i) {
    WriteBytes(dir + "/chunk-00000" + std::to_string(i) + ".dsc", RandomBytes(sizes[i], i + 1));
    sum += sizes[i];
  }
  WriteBytes(dir + "/sub/ignored", RandomBytes(100, 9));  // only files directly in dir

  auto t = MakeTorrent(dir, "delta", {"http://127.0.0.1:1/m/versions/1/"});
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  CHECK(t->info_hash_v2_hex.size() == 64);
  CHECK(IsLowerHex(t->info_hash_v2_hex));
  CHECK(t->payload_bytes == sum);
  CHECK(t->piece_bytes == PieceSizeFor(sum));
  CHECK(!t->bytes.empty());
  const std::string text(reinterpret_cast<const char*>(t->bytes.data()), t->bytes.size());
  CHECK(text.find("10:created by10:deltaswarm") != std::string::npos);
  CHECK(text.find("4:name5:delta") != std::string::npos);
  CHECK(text.find("http://127.0.0.1:1/m/versions/1/") != std::string::npos);
  CHECK(text.find("ignored") == std::string::npos);

  // Same files, same torrent; a different name, a different info-hash.
  auto again = MakeTorrent(dir, "delta", {"http://127.0.0.1:1/m/versions/1/"});
  REQUIRE(again.ok());
  CHECK(again->info_hash_v2_hex == t->info_hash_v2_hex);
  auto renamed = MakeTorrent(dir, "keyframe", {});
  REQUIRE(renamed.ok());
  CHECK(renamed->info_hash_v2_hex != t->info_hash_v2_hex);
  const std::string rtext(reinterpret_cast<const char*>(renamed->bytes.data()), renamed->bytes.size());
  CHECK(rtext.find("4:name8:keyframe") != std::string::npos);
}

TEST_CASE("MakeTorrent: errors") {
  TempDir tmp;
  CHECK(MakeTorrent(tmp / "missing", "x", {}).status().code() == Code::kNotFound);
  std::filesystem::create_directories(tmp / "empty");
  CHECK(MakeTorrent(tmp / "empty", "empty", {}).status().code() == Code::kInvalidArgument);
  WriteBytes(tmp / "empty/a", RandomBytes(10, 1));
  CHECK(MakeTorrent(tmp / "empty", "a/b", {}).status().code() == Code::kInvalidArgument);
  CHECK(MakeTorrent(tmp / "empty", "", {}).status().code() == Code::kInvalidArgument);
}

TEST_CASE("Swarm: a malformed torrent is a one-line corruption error") {
  auto swarm = Swarm::Start({});
  REQUIRE_MESSAGE(swarm.ok(), swarm.status().ToString());
  CHECK((*swarm)->listen_port() > 0);
  const std::string junk = "d4:infoi3e";
  auto r = (*swarm)->AddDownload(std::as_bytes(std::span(junk.data(), junk.size())), "/tmp", {});
  REQUIRE(!r.ok());
  CHECK(r.status().code() == Code::kCorruption);
  CHECK(r.status().message().find("torrent") == 0);
  CHECK(r.status().message().find('\n') == std::string::npos);
  MESSAGE(r.status().message());

  SwarmOptions bad;
  bad.listen = "nonsense";
  CHECK(Swarm::Start(bad).status().code() == Code::kInvalidArgument);
  bad.listen = "127.0.0.1:0";
  bad.peers = {"127.0.0.1"};
  CHECK(Swarm::Start(bad).status().code() == Code::kInvalidArgument);
}
