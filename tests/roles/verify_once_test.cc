// Verify once: a held version is trusted by its stamp while its files keep
// their identity, read in full when they changed or on request (scrub,
// verify --dest); artifacts are hashed once per pull; frame hashes still
// guard every byte an apply reads from the base and writes.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <initializer_list>
#include <thread>

#include "core/file.h"
#include "deltaswarm/delta.h"
#include "deltaswarm/roles.h"
#include "publish_world.h"
#include "roles/local_store.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;
namespace fs = std::filesystem;

namespace {

void PublishThree(PublishWorld& w) {
  for (int v = 1; v <= 3; ++v) REQUIRE(w.PublishVersion(v).ok());
}

std::string StampOf(PublishWorld& w, const std::string& dest, int version) {
  return w.tmp / dest + "/manifests/" + std::to_string(version) + ".stamp";
}

uint64_t FileSize(const std::string& path) { return fs::file_size(path); }

// Flips one byte in the middle of the file in place (same inode). With
// keep_mtime its modification time is put back, as bit rot would leave it.
void FlipInPlace(const std::string& path, bool keep_mtime) {
  struct stat before;
  REQUIRE(::stat(path.c_str(), &before) == 0);
  // A write in the same clock tick as the pull's could keep the mtime.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  int fd = ::open(path.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  const off_t at = before.st_size / 2;
  uint8_t b = 0;
  REQUIRE(::pread(fd, &b, 1, at) == 1);
  b ^= 0x5a;
  REQUIRE(::pwrite(fd, &b, 1, at) == 1);
  if (keep_mtime) {
    struct timespec times[2] = {before.st_atim, before.st_mtim};
    REQUIRE(::futimens(fd, times) == 0);
  }
  ::close(fd);
}

// Versions 1-3 published; the node pulls each of `pulls` in turn, then the
// current version's file is flipped in place (FlipInPlace).
void HoldDamaged(PublishWorld& w, std::initializer_list<int> pulls, bool keep_mtime) {
  PublishThree(w);
  for (int v : pulls) REQUIRE(w.PullTo("node", v).ok());
  FlipInPlace(w.Current("node"), keep_mtime);
}

uint64_t DeltaBytes(PublishWorld& w, int version) {
  Manifest m = w.PublishedManifest(version);
  const ManifestArtifact* a = m.Find("delta");
  REQUIRE(a != nullptr);
  return a->bytes();
}

}  // namespace

TEST_CASE("a pull trusts the held version by its stamp: none of it is read again, each artifact byte hashed once") {
  PublishWorld w(false);
  PublishThree(w);
  auto first = w.PullTo("node", 2);
  REQUIRE(first.ok());
  CHECK(first->held_check.empty());  // nothing held
  CHECK(fs::exists(StampOf(w, "node", 2)));

  auto next = w.PullTo("node", 3);
  INFO(next.status().message());
  REQUIRE(next.ok());
  CHECK(next->steps == std::vector<std::string>{"delta 3"});
  CHECK(next->held_check == "stamp");
  CHECK(next->held_check_bytes == 0);
  // Hashed by the download, not again by the apply.
  CHECK(next->artifact_hashed_bytes == DeltaBytes(w, 3));
  CHECK(SameTree(w.Current("node"), w.Checkpoint(3)));
  CHECK(fs::exists(StampOf(w, "node", 3)));

  // Up to date: the stamp is all it takes.
  auto again = w.PullTo("node", 3);
  REQUIRE(again.ok());
  CHECK_FALSE(again->changed);
  CHECK(again->held_check == "stamp");
  CHECK(again->held_check_bytes == 0);
}

TEST_CASE("a held version modified behind the store's back is read in full, the damage found and rebuilt") {
  PublishWorld w(false);
  PublishThree(w);
  REQUIRE(w.PullTo("node", 2).ok());
  const std::string held = w.Current("node");
  SUBCASE("written in place: same inode, new mtime") { FlipInPlace(held, /*keep_mtime=*/false); }
  SUBCASE("its size changed") { fs::resize_file(held, FileSize(held) - 1); }

  auto r = w.PullTo("node", 3);
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->note.find("repairing") != std::string::npos);
  CHECK(r->held_check.empty());
  CHECK(r->steps == std::vector<std::string>{"keyframe 1", "delta 2", "delta 3"});
  CHECK(SameTree(w.Current("node"), w.Checkpoint(3)));
}

TEST_CASE("the current version modified behind its back is rebuilt by the next pull, though nothing newer exists") {
  PublishWorld w(false);
  HoldDamaged(w, {3}, /*keep_mtime=*/false);
  auto r = w.PullTo("node", 3);
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->changed);
  CHECK(r->note.find("repairing") != std::string::npos);
  CHECK(SameTree(w.Current("node"), w.Checkpoint(3)));
}

TEST_CASE("a store without stamps (written by an older deltaswarm) is read in full once, then trusted") {
  PublishWorld w(false);
  PublishThree(w);
  REQUIRE(w.PullTo("node", 2).ok());
  fs::remove(StampOf(w, "node", 2));
  auto r = w.PullTo("node", 3);
  REQUIRE(r.ok());
  CHECK(r->held_check == "full");
  CHECK(r->held_check_bytes == FileSize(w.Checkpoint(2)));

  fs::remove(StampOf(w, "node", 3));
  auto full = w.PullTo("node", 3);
  REQUIRE(full.ok());
  CHECK(full->held_check == "full");
  CHECK(full->held_check_bytes == FileSize(w.Checkpoint(3)));
  CHECK(fs::exists(StampOf(w, "node", 3)));  // written by that full check
  auto stamped = w.PullTo("node", 3);
  REQUIRE(stamped.ok());
  CHECK(stamped->held_check == "stamp");
}

TEST_CASE("scrub reads the held version in full although its stamp matches") {
  PublishWorld w(false);
  PublishThree(w);
  REQUIRE(w.PullTo("node", 2).ok());
  PullOptions o = w.PullOptionsFor("node", 3);
  o.scrub = true;
  auto r = Pull(o, nullptr);
  REQUIRE(r.ok());
  CHECK(r->held_check == "full");
  CHECK(r->held_check_bytes == FileSize(w.Checkpoint(2)));
  // Every artifact object is hashed in full too (download and apply alike).
  CHECK(r->artifact_hashed_bytes > DeltaBytes(w, 3));
}

TEST_CASE("bit rot under a matching stamp: verify --dest finds it, and drops the stamp") {
  PublishWorld w(false);
  HoldDamaged(w, {1, 2}, /*keep_mtime=*/true);
  auto trusted = w.PullTo("node", 2);  // identity unchanged: the stamp still vouches
  REQUIRE(trusted.ok());
  CHECK(trusted->held_check == "stamp");

  auto checked = VerifyStore(w.tmp / "node", 0, 0, nullptr);
  REQUIRE(checked.ok());
  REQUIRE(checked->size() == 2);
  CHECK((*checked)[0].version == 1);
  CHECK((*checked)[0].intact);
  CHECK((*checked)[0].bytes == FileSize(w.Checkpoint(1)));
  CHECK((*checked)[1].version == 2);
  CHECK_FALSE((*checked)[1].intact);
  CHECK((*checked)[1].error.find("differ") != std::string::npos);
  CHECK_FALSE(fs::exists(StampOf(w, "node", 2)));
  CHECK(fs::exists(StampOf(w, "node", 1)));

  // Without its stamp the next pull reads it, finds the damage and rebuilds it.
  auto repaired = w.PullTo("node", 2);
  INFO(repaired.status().message());
  REQUIRE(repaired.ok());
  CHECK(repaired->note.find("repairing") != std::string::npos);
  CHECK(SameTree(w.Current("node"), w.Checkpoint(2)));
  auto one = VerifyStore(w.tmp / "node", 2, 0, nullptr);
  REQUIRE(one.ok());
  REQUIRE(one->size() == 1);
  CHECK((*one)[0].intact);
  CHECK(VerifyStore(w.tmp / "node", 7, 0, nullptr).status().code() == Code::kNotFound);
}

TEST_CASE("bit rot under a matching stamp is caught by the frames' base hashes; the pull then checks in full") {
  PublishWorld w(false);
  HoldDamaged(w, {2}, /*keep_mtime=*/true);
  auto r = w.PullTo("node", 3);
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->note.find("checked in full after") != std::string::npos);
  CHECK(r->steps == std::vector<std::string>{"keyframe 1", "delta 2", "delta 3"});
  CHECK(SameTree(w.Current("node"), w.Checkpoint(3)));
}

TEST_CASE("a corrupt chunk vouched for as verified is still caught by the frame hashes") {
  PublishWorld w(false);
  const std::string delta = w.tmp / "delta";
  DiffOptions d;
  d.frame_bytes = 64 << 10;
  REQUIRE(Diff(w.Checkpoint(1), w.Checkpoint(2), delta, d, nullptr).ok());
  auto index = ReadDeltaIndex(delta);
  REQUIRE(index.ok());
  ApplyOptions vouched;
  vouched.verified_chunks = index->chunks;

  auto plain = Apply(w.Checkpoint(1), delta, w.tmp / "plain", ApplyOptions{}, nullptr);
  REQUIRE(plain.ok());
  CHECK(plain->hashed_chunk_bytes == index->delta_bytes());
  auto trusted = Apply(w.Checkpoint(1), delta, w.tmp / "trusted", vouched, nullptr);
  REQUIRE(trusted.ok());
  CHECK(trusted->hashed_chunk_bytes == 0);
  CHECK(SameTree(w.tmp / "trusted", w.Checkpoint(2)));

  // A flipped byte inside the payload of the largest frame.
  size_t big = 0;
  for (size_t i = 0; i < index->frames.size(); ++i)
    if (index->frames[i].stored_len > index->frames[big].stored_len) big = i;
  const DeltaFrame& f = index->frames[big];
  const std::string chunk = delta + "/" + index->chunks[f.chunk].name;
  auto bytes = ReadBytes(chunk);
  bytes[f.chunk_offset + f.stored_len - 1] ^= 0x01;
  WriteBytes(chunk, bytes);
  auto caught = Apply(w.Checkpoint(1), delta, w.tmp / "out", vouched, nullptr);
  CHECK(caught.status().code() == Code::kCorruption);
  CHECK_FALSE(fs::exists(w.tmp / "out"));
  auto hashed = Apply(w.Checkpoint(1), delta, w.tmp / "out", ApplyOptions{}, nullptr);
  CHECK(hashed.status().code() == Code::kCorruption);
  CHECK(hashed.status().message().find("sha256") != std::string::npos);
}

TEST_CASE("a publish stamps the version its state store keeps; the next publish trusts it") {
  PublishWorld w(false);
  REQUIRE(w.PublishVersion(1).ok());
  REQUIRE(w.PublishVersion(2).ok());
  // The state store hard-links the published files, hashed by that publish.
  CHECK(fs::exists(w.tmp / "state/manifests/2.stamp"));
  auto store = LocalStore::Open(w.tmp / "state");
  REQUIRE(store.ok());
  auto m = store->LoadManifest(2);
  REQUIRE(m.ok());
  auto check = store->CheckVersion(*m, 0);
  REQUIRE(check.ok());
  CHECK(check->by_stamp);
  CHECK(check->bytes_read == 0);
}

TEST_CASE("node --scrub reads every held version in full at start and reports the damaged one") {
  PublishWorld w(false);
  HoldDamaged(w, {1, 2}, /*keep_mtime=*/true);

  NodeOptions o;
  o.bucket = w.bucket;
  o.model = "m";
  o.dest = w.tmp / "node";
  o.trust = {w.tmp / "key.pub"};
  o.listen = "127.0.0.1:0";
  o.scrub = true;
  StopSignal stop;
  std::vector<NodeEvent> events;
  auto on_event = [&](const NodeEvent& e) {
    events.push_back(e);
    if (e.type == "ready") stop.Request();  // no poll: only what the start does
  };
  auto r = RunNode(o, stop, on_event, nullptr);
  INFO(r.status().message());
  REQUIRE(r.ok());
  std::string scrubbed, warning;
  for (const NodeEvent& e : events) {
    if (e.type == "scrubbed") scrubbed = e.message;
    if (e.type == "warning" && e.version == 2) warning = e.message;
  }
  // The damaged version's bytes count as unread: its check failed.
  CHECK(scrubbed.find("read " + std::to_string(FileSize(w.Checkpoint(1))) + " bytes") != std::string::npos);
  CHECK(scrubbed.find("intact: version 1") != std::string::npos);
  CHECK(warning.find("damaged") != std::string::npos);
  CHECK_FALSE(fs::exists(StampOf(w, "node", 2)));
}
