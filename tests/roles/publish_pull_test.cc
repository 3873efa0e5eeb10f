// Publish and pull through real buckets: a directory, and a real nginx.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>

#include "deltaswarm/bucket.h"
#include "deltaswarm/manifest.h"
#include "deltaswarm/roles.h"
#include "deltaswarm/swarm.h"
#include "deltaswarm/synth.h"
#include "publish_world.h"
#include "roles/artifact_transfer.h"
#include "roles/bucket_layout.h"
#include "roles/local_store.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;
namespace fs = std::filesystem;

namespace {

void PublishAll(PublishWorld& w) {
  for (int v = 1; v <= kVersions; ++v) {
    auto r = w.PublishVersion(v);
    INFO(r.status().message());
    REQUIRE(r.ok());
    CHECK(r->version == static_cast<uint64_t>(v));
    CHECK((r->keyframe_bytes > 0) == (v == 1 || v == 4));
    CHECK((r->delta_bytes > 0) == (v > 1));
  }
}

void ChainAndEveryStart(bool http) {
  PublishWorld w(http);
  PublishAll(w);
  for (int start = 0; start <= kVersions; ++start) {
    std::string dest = "node" + std::to_string(start);
    if (start > 0) {
      auto first = w.PullTo(dest, start);
      INFO(first.status().message());
      REQUIRE(first.ok());
      CHECK(SameTree(w.Current(dest), w.Checkpoint(start)));
    }
    auto r = w.PullTo(dest);
    INFO(r.status().message());
    REQUIRE(r.ok());
    CHECK(r->to_version == kVersions);
    CHECK(SameTree(w.Current(dest), w.Checkpoint(kVersions)));
    if (start == 0) CHECK(r->steps == std::vector<std::string>{"keyframe 4", "delta 5"});
    if (start == 3) CHECK(r->steps == std::vector<std::string>{"delta 4", "delta 5"});
    if (start == kVersions) CHECK(!r->changed);
    auto status = ReadStoreStatus(w.tmp / dest);
    REQUIRE(status.ok());
    CHECK(status->current == kVersions);
    CHECK(status->model == "m");
    CHECK(status->versions.back() == kVersions);
  }
}

}  // namespace

TEST_CASE("a chain of five versions, keyframe every three, pulled from every start: directory bucket") {
  ChainAndEveryStart(false);
}

TEST_CASE("a chain of five versions, keyframe every three, pulled from every start: nginx bucket") {
  ChainAndEveryStart(true);
}

void FaultsAreRefused(bool http) {
  PublishWorld w(http);
  PublishAll(w);
  REQUIRE(w.PullTo("node", 2).ok());
  auto held = ReadBytes(w.Current("node"));
  std::string v3 = w.BucketDir() + "/m/versions/3";

  SUBCASE("a flipped byte in a chunk") {
    auto bytes = ReadBytes(v3 + "/delta/chunk-000000.dsc");
    bytes[bytes.size() / 2] ^= 1;
    WriteBytes(v3 + "/delta/chunk-000000.dsc", bytes);
    auto r = w.PullTo("node");
    CHECK(r.status().code() == Code::kCorruption);
    CHECK(r.status().message().find("chunk-000000.dsc") != std::string::npos);
  }
  SUBCASE("a tampered manifest") {
    auto bytes = ReadBytes(v3 + "/manifest.json");
    std::string text(bytes.begin(), bytes.end());
    auto pos = text.find("\"parent\":2");
    REQUIRE(pos != std::string::npos);
    text[pos + 9] = '1';
    WriteBytes(v3 + "/manifest.json", std::vector<uint8_t>(text.begin(), text.end()));
    auto r = w.PullTo("node");
    CHECK_FALSE(r.ok());
  }
  SUBCASE("a manifest signed by a key the node does not trust") {
    auto r = w.PullTo("node", 0, "other.pub");
    CHECK(r.status().code() == Code::kMismatch);
    CHECK(r.status().message().find("untrusted") != std::string::npos);
  }
  SUBCASE("a missing chunk") {
    fs::remove(v3 + "/delta/chunk-000000.dsc");
    auto r = w.PullTo("node");
    CHECK(r.status().code() == Code::kNotFound);
  }
  SUBCASE("a version that does not exist") {
    auto r = w.PullTo("node", 42);
    CHECK(r.status().code() == Code::kNotFound);
    CHECK(r.status().message().find("42") != std::string::npos);
  }
  CHECK(ReadBytes(w.Current("node")) == held);
}

TEST_CASE("faults are refused and leave the node's version intact: directory bucket") { FaultsAreRefused(false); }

TEST_CASE("faults are refused and leave the node's version intact: nginx bucket") { FaultsAreRefused(true); }

TEST_CASE("a replayed older latest statement is ignored by a node that holds more; an explicit older version is honoured") {
  PublishWorld w(false);
  std::vector<uint8_t> second;
  for (int v = 1; v <= kVersions; ++v) {
    REQUIRE(w.PublishVersion(v).ok());
    if (v == 2) second = ReadBytes(w.LatestPath());
  }
  REQUIRE(w.PullTo("node").ok());
  WriteBytes(w.LatestPath(), second);
  auto r = w.PullTo("node");
  REQUIRE(r.ok());
  CHECK(!r->changed);
  CHECK(r->to_version == kVersions);
  CHECK(r->note.find("ignored") != std::string::npos);
  CHECK(SameTree(w.Current("node"), w.Checkpoint(kVersions)));
  auto back = w.PullTo("node", 2);
  REQUIRE(back.ok());
  CHECK(SameTree(w.Current("node"), w.Checkpoint(2)));
}

TEST_CASE("a node whose files no longer match their manifest is repaired from a keyframe") {
  PublishWorld w(false);
  PublishAll(w);
  REQUIRE(w.PullTo("node", 4).ok());
  // Damage the held copy (a new file, not the inode shared with other versions).
  std::string held = w.Current("node");
  auto bytes = ReadBytes(held);
  bytes[bytes.size() - 5] ^= 0xff;
  fs::remove(held);
  WriteBytes(held, bytes);
  auto r = w.PullTo("node");
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->note.find("repairing") != std::string::npos);
  CHECK(r->steps == std::vector<std::string>{"keyframe 4", "delta 5"});
  CHECK(SameTree(w.Current("node"), w.Checkpoint(kVersions)));
}

TEST_CASE("an unreachable bucket is a clear error naming the URL") {
  PublishWorld w(false);
  PullOptions o;
  o.bucket = "http://127.0.0.1:9/hub";
  o.model = "m";
  o.dest = w.tmp / "node";
  o.trust = {w.tmp / "key.pub"};
  auto r = Pull(o, nullptr);
  CHECK(r.status().code() == Code::kIoError);
  CHECK(r.status().message().find("127.0.0.1:9") != std::string::npos);
}

TEST_CASE("gc keeps what the newest versions need and nothing older") {
  PublishWorld w(false);
  PublishAll(w);
  REQUIRE(w.PullTo("behind", 2).ok());
  auto r = CollectGarbage(w.bucket, "m", 2, {w.tmp / "key.pub"});
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->oldest_kept == 4);
  CHECK(r->removed == std::vector<uint64_t>{1, 2, 3});
  CHECK(!fs::exists(w.BucketDir() + "/m/versions/3"));
  REQUIRE(w.PullTo("fresh").ok());
  CHECK(SameTree(w.Current("fresh"), w.Checkpoint(kVersions)));
  // A node left behind at a collected version still catches up, from the keyframe.
  auto behind = w.PullTo("behind");
  INFO(behind.status().message());
  REQUIRE(behind.ok());
  CHECK(behind->steps == std::vector<std::string>{"keyframe 4", "delta 5"});
  CHECK(SameTree(w.Current("behind"), w.Checkpoint(kVersions)));
}

TEST_CASE("a store is used by one process at a time") {
  TempDir tmp;
  auto first = LocalStore::Open(tmp / "store");
  REQUIRE(first.ok());
  auto second = LocalStore::Open(tmp / "store");
  CHECK(second.status().code() == Code::kIoError);
  CHECK(second.status().message().find("in use") != std::string::npos);
}

TEST_CASE("directory checkpoints: files a delta leaves unchanged are hard-linked, not rewritten") {
  TempDir tmp;
  REQUIRE(GenerateKeyPair(tmp / "key", false).ok());
  for (int v = 1; v <= 2; ++v) {
    std::string dir = tmp / "ckpt" + std::to_string(v);
    fs::create_directories(dir + "/tokenizer");
    WriteBytes(dir + "/config.json", std::vector<uint8_t>(300, 'c'));
    WriteBytes(dir + "/tokenizer/vocab.txt", RandomBytes(70000, 3));
    auto weights = RandomBytes(200000, 4);
    if (v == 2) weights[1234] ^= 1;
    WriteBytes(dir + "/weights.bin", weights);
    PublishOptions o;
    o.bucket = tmp / "bucket";
    o.model = "dirmodel";
    o.key = tmp / "key";
    o.checkpoint = dir;
    o.state = tmp / "state";
    auto r = Publish(o, nullptr);
    INFO(r.status().message());
    REQUIRE(r.ok());
  }
  PullOptions p;
  p.bucket = tmp / "bucket";
  p.model = "dirmodel";
  p.dest = tmp / "node";
  p.trust = {tmp / "key.pub"};
  p.version = 1;
  REQUIRE(Pull(p, nullptr).ok());
  p.version = 0;
  auto r = Pull(p, nullptr);
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->steps == std::vector<std::string>{"delta 2"});
  CHECK(SameTree(tmp / "node/current", tmp / "ckpt2"));
  auto inode = [](const std::string& path) {
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_ino;
  };
  CHECK(inode(tmp / "node/versions/1/config.json") == inode(tmp / "node/versions/2/config.json"));
  CHECK(inode(tmp / "node/versions/1/tokenizer/vocab.txt") == inode(tmp / "node/versions/2/tokenizer/vocab.txt"));
  CHECK(inode(tmp / "node/versions/1/weights.bin") != inode(tmp / "node/versions/2/weights.bin"));
}

TEST_CASE("publish writes each artifact's torrent; the manifest authenticates it; its web seed is the bucket") {
  PublishWorld w(true);
  PublishAll(w);
  auto trusted = TrustedKey::Load(w.tmp / "key.pub");
  REQUIRE(trusted.ok());
  auto manifest_bytes = ReadBytes(w.BucketDir() + "/m/versions/5/manifest.json");
  auto m = ParseManifest(std::as_bytes(std::span(manifest_bytes)), "manifest.json");
  REQUIRE(m.ok());
  REQUIRE(VerifyManifest(*m, std::span(&trusted.value(), 1), "manifest.json").ok());
  const ManifestArtifact* delta = m->Find("delta");
  REQUIRE(delta != nullptr);
  auto torrent = ReadBytes(w.BucketDir() + "/m/versions/5/delta.torrent");
  CHECK(torrent.size() == delta->torrent_size);
  CHECK(Sha256Of(std::as_bytes(std::span(torrent))) == delta->torrent_sha256);

  // A node with no peer at all fetches the chunks from the bucket's objects,
  // through the web seed written into the torrent.
  auto swarm = Swarm::Start({});
  REQUIRE(swarm.ok());
  auto id = (*swarm)->AddDownload(std::as_bytes(std::span(torrent)), w.tmp / "swarm", {});
  REQUIRE(id.ok());
  Status done = (*swarm)->WaitFinished(*id, 30, nullptr);
  INFO(done.message());
  REQUIRE(done.ok());
  CHECK(SameTree(w.tmp / "swarm/delta", w.BucketDir() + "/m/versions/5/delta"));
}

TEST_CASE("a stop ends an artifact download before the next object and keeps the verified ones") {
  PublishWorld w(false);
  REQUIRE(w.PublishVersion(1).ok());
  auto bucket = OpenBucket(w.bucket);
  REQUIRE(bucket.ok());
  const Manifest m = w.PublishedManifest(1);
  const ManifestArtifact& keyframe = *m.Find("keyframe");
  REQUIRE(keyframe.chunks.size() >= 1);

  StopSignal stopped;
  stopped.Request();
  auto cancelled = DownloadArtifact(**bucket, "m", 1, keyframe, w.tmp / "dl/keyframe", nullptr, &stopped);
  CHECK(cancelled.status().code() == Code::kCancelled);
  CHECK(!fs::exists(w.tmp / "dl/keyframe/" + kIndexFileName));

  // Stopped after the first object: the index stays, verified, and a resumed
  // download fetches only the rest.
  StopSignal stop;
  uint64_t objects = 0;
  ProgressFn stop_after_first = [&](const char*, uint64_t done, uint64_t) {
    if (done >= keyframe.index_size && objects++ == 0) stop.Request();
  };
  auto partial = DownloadArtifact(**bucket, "m", 1, keyframe, w.tmp / "dl/keyframe", stop_after_first, &stop);
  CHECK(partial.status().code() == Code::kCancelled);
  CHECK(fs::file_size(w.tmp / "dl/keyframe/" + kIndexFileName) == keyframe.index_size);
  const StopSignal not_stopped;
  auto resumed = DownloadArtifact(**bucket, "m", 1, keyframe, w.tmp / "dl/keyframe", nullptr, &not_stopped);
  REQUIRE(resumed.ok());
  CHECK(*resumed == keyframe.bytes() - keyframe.index_size);
  CHECK(SameTree(w.tmp / "dl/keyframe", w.BucketDir() + "/m/versions/1/keyframe"));
}
