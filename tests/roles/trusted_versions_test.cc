// Versions you can trust (issue 11): a signed latest that nodes follow only
// forwards, one publisher at a time, and history that is never rewritten.
#include <doctest/doctest.h>

#include <filesystem>
#include <unistd.h>

#include <cstring>
#include <future>
#include <map>
#include <thread>

#include "deltaswarm/bucket.h"
#include "deltaswarm/latest.h"
#include "publish_world.h"
#include "roles/publisher_lock.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;
namespace fs = std::filesystem;

namespace {

void PublishUpTo(PublishWorld& w, int last) {
  for (int v = 1; v <= last; ++v) {
    auto r = w.PublishVersion(v);
    INFO(r.status().message());
    REQUIRE(r.ok());
    REQUIRE(r->version == static_cast<uint64_t>(v));
  }
}

// Every manifest in the bucket, by version: what must never change.
std::map<int, std::vector<uint8_t>> Manifests(const PublishWorld& w, int last) {
  std::map<int, std::vector<uint8_t>> m;
  for (int v = 1; v <= last; ++v)
    if (fs::exists(w.ManifestPath(v))) m[v] = ReadBytes(w.ManifestPath(v));
  return m;
}

uint64_t LatestVersion(const PublishWorld& w) {
  auto bytes = ReadBytes(w.LatestPath());
  auto s = ParseLatest(std::as_bytes(std::span(bytes)), "latest");
  REQUIRE_MESSAGE(s.ok(), s.status().message());
  return s->version;
}

}  // namespace

TEST_CASE("a rewound refs/latest: the publisher refuses and overwrites nothing; --refresh-latest puts it back") {
  PublishWorld w(false);
  PublishUpTo(w, 3);
  REQUIRE(w.PullTo("node").ok());
  const auto before = Manifests(w, 3);
  // The issue's own attack: a bare "1" (a bucket writer without the key) ...
  WriteBytes(w.LatestPath(), {'1', '\n'});
  auto r = w.PublishVersion(4);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kMismatch);
  CHECK(r.status().message().find("names version 1, older than version 3 in the state store") != std::string::npos);
  CHECK(r.status().message().find('\n') == std::string::npos);
  CHECK(Manifests(w, 4) == before);
  // ... which no node follows.
  auto fresh = w.PullTo("fresh");
  REQUIRE_FALSE(fresh.ok());
  CHECK(fresh.status().code() == Code::kUnsupported);
  // The publisher's state store knows better: the ref goes back to 3, then on.
  REQUIRE(RefreshLatest(w.PublishOptionsFor(4)).ok());
  CHECK(LatestVersion(w) == 3);
  auto next = w.PublishVersion(4);
  INFO(next.status().message());
  REQUIRE(next.ok());
  CHECK(next->version == 4);
  CHECK(Manifests(w, 3) == before);
  auto node = w.PullTo("node");
  REQUIRE(node.ok());
  CHECK(node->to_version == 4);
  CHECK(SameTree(w.Current("node"), w.Checkpoint(4)));
}

TEST_CASE("a replayed older statement: a fresh node follows the signed versions after it, not the statement") {
  PublishWorld w(false);
  PublishUpTo(w, 1);
  const auto first = ReadBytes(w.LatestPath());
  for (int v = 2; v <= 3; ++v) REQUIRE(w.PublishVersion(v).ok());
  WriteBytes(w.LatestPath(), first);  // validly signed, unexpired, old
  auto r = w.PullTo("fresh");
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->to_version == 3);
  CHECK(r->note.find("names version 1, but versions up to 3 are published and signed") != std::string::npos);
  CHECK(SameTree(w.Current("fresh"), w.Checkpoint(3)));
}

TEST_CASE("an expired statement: pull warns (stale_latest), --require-fresh refuses, a re-signed one is fresh") {
  PublishWorld w(false);
  PublishOptions o = w.PublishOptionsFor(1);
  o.latest_valid_s = 1;
  REQUIRE(Publish(o, nullptr).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));  // the statement has whole-second times
  PullOptions strict = w.PullOptionsFor("strict");
  strict.require_fresh = true;
  auto refused = Pull(strict, nullptr);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Code::kMismatch);
  CHECK(refused.status().message().find("expired at") != std::string::npos);
  CHECK_FALSE(fs::exists(w.tmp / "strict/current"));
  auto warned = w.PullTo("lenient");
  REQUIRE(warned.ok());
  CHECK(warned->to_version == 1);
  CHECK(warned->stale_latest.find("expired at") != std::string::npos);
  o.latest_valid_s = 3600;
  auto resigned = RefreshLatest(o);
  REQUIRE(resigned.ok());
  CHECK(resigned->version == 1);
  CHECK(resigned->expires >= resigned->issued + 3600);
  auto fresh = Pull(strict, nullptr);
  INFO(fresh.status().message());
  REQUIRE(fresh.ok());
  CHECK(fresh->stale_latest.empty());
  CHECK(SameTree(w.Current("strict"), w.Checkpoint(1)));
}

TEST_CASE("two publishers at once: one publishes, the other fails with one line, nothing signed is overwritten") {
  PublishWorld w(false);
  PublishUpTo(w, 1);
  const auto before = Manifests(w, 1);
  // The first holds the lock until the second has given up (its before_live
  // waits), so the two overlap on every run; separate state stores, as on
  // two hosts.
  std::promise<Result<PublishReport>> second_done;
  auto second_result = second_done.get_future().share();
  PublishOptions first = w.PublishOptionsFor(2, "state");
  first.before_live = [&](uint64_t) {
    PublishOptions other = w.PublishOptionsFor(3, "other-state");
    second_done.set_value(Publish(other, nullptr));
    return Status::Ok();
  };
  auto published = Publish(first, nullptr);
  INFO(published.status().message());
  REQUIRE(published.ok());
  CHECK(published->version == 2);
  const Result<PublishReport>& second = second_result.get();
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == Code::kAlreadyExists);
  CHECK(second.status().message().find("another publisher holds the lock") != std::string::npos);
  CHECK(second.status().message().find("state " + std::string(w.tmp / "state")) != std::string::npos);
  CHECK(second.status().message().find('\n') == std::string::npos);
  CHECK(LatestVersion(w) == 2);
  CHECK(Manifests(w, 1) == before);
  CHECK_FALSE(fs::exists(w.BucketDir() + "/m/versions/3"));
  CHECK_FALSE(fs::exists(w.BucketDir() + "/m/refs/publisher.lock"));  // released
  // Once the first is done, the other publishes on top (fetching version 2).
  auto later = Publish(w.PublishOptionsFor(3, "other-state"), nullptr);
  INFO(later.status().message());
  REQUIRE(later.ok());
  CHECK(later->version == 3);
}

TEST_CASE("a lock left by a dead publisher: its own store takes it over at once, another only once it expired") {
  PublishWorld w(false);
  auto bucket = OpenBucket(w.bucket, /*create=*/true);
  REQUIRE(bucket.ok());
  const std::string lock = w.BucketDir() + "/m/refs/publisher.lock";
  std::string host(256, '\0');
  ::gethostname(host.data(), host.size() - 1);
  host.resize(std::strlen(host.c_str()));
  auto write_lock = [&](const std::string& state, const std::string& expires) {
    fs::create_directories(fs::path(lock).parent_path());
    WriteText(lock, "{\"expires\":\"" + expires + "\",\"host\":\"" + host + "\",\"pid\":1,\"state\":\"" + state +
                        "\",\"token\":\"0123456789abcdef\"}\n");
  };
  // Another state store's unexpired lock: refused, naming it.
  write_lock("/elsewhere", "2999-01-01T00:00:00Z");
  auto refused = w.PublishVersion(1);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message().find("another publisher holds the lock (host " + host + ", pid 1, state /elsewhere") !=
        std::string::npos);
  // This very store's (a killed run of it): taken over.
  write_lock(fs::absolute(w.tmp / "state").lexically_normal().string(), "2999-01-01T00:00:00Z");
  auto resumed = w.PublishVersion(1);
  INFO(resumed.status().message());
  REQUIRE(resumed.ok());
  // Another store's expired lock: taken over too.
  write_lock("/elsewhere", "2020-01-01T00:00:00Z");
  auto after_expiry = w.PublishVersion(2);
  INFO(after_expiry.status().message());
  REQUIRE(after_expiry.ok());
  CHECK_FALSE(fs::exists(lock));
}

TEST_CASE("a publish stopped before refs/latest: the re-run makes that version live, never replaces it") {
  PublishWorld w(false);
  PublishUpTo(w, 1);
  auto stop_before_live = [](uint64_t) { return Status(Code::kCancelled, "stopped"); };
  PublishOptions stopped = w.PublishOptionsFor(2);
  stopped.before_live = stop_before_live;
  REQUIRE(Publish(stopped, nullptr).status().code() == Code::kCancelled);
  REQUIRE(fs::exists(w.ManifestPath(2)));
  CHECK(LatestVersion(w) == 1);
  const auto signed_two = Manifests(w, 2);
  // The same checkpoint again: version 2 goes live as it was signed.
  auto again = w.PublishVersion(2);
  INFO(again.status().message());
  REQUIRE(again.ok());
  CHECK(again->version == 2);
  CHECK(again->note.find("made it live") != std::string::npos);
  CHECK(LatestVersion(w) == 2);
  CHECK(Manifests(w, 2) == signed_two);
  // Stopped again, then a different checkpoint: 3 goes live, 4 on top.
  PublishOptions stopped3 = w.PublishOptionsFor(3);
  stopped3.before_live = stop_before_live;
  REQUIRE(Publish(stopped3, nullptr).status().code() == Code::kCancelled);
  const auto signed_three = Manifests(w, 3);
  auto other = w.PublishVersion(4);
  INFO(other.status().message());
  REQUIRE(other.ok());
  CHECK(other->version == 4);
  CHECK(Manifests(w, 3) == signed_three);
  REQUIRE(w.PullTo("node", 3).ok());
  CHECK(SameTree(w.Current("node"), w.Checkpoint(3)));
  auto node = w.PullTo("node");
  REQUIRE(node.ok());
  CHECK(node->to_version == 4);
  CHECK(SameTree(w.Current("node"), w.Checkpoint(4)));
}

TEST_CASE("unsigned leftovers of a stopped upload are removed; a version of another key is refused") {
  PublishWorld w(false);
  PublishUpTo(w, 1);
  const std::string leftover = w.BucketDir() + "/m/versions/2/delta/chunk-000000.dsc";
  fs::create_directories(fs::path(leftover).parent_path());
  WriteText(leftover, "half a chunk");
  auto r = w.PublishVersion(2);
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->version == 2);
  CHECK(r->note.find("removed the unsigned leftovers") != std::string::npos);
  REQUIRE(w.PullTo("node").ok());
  CHECK(SameTree(w.Current("node"), w.Checkpoint(2)));
  // A signed manifest at the next id that this publisher's key did not sign.
  PublishWorld other(false);
  PublishOptions foreign = other.PublishOptionsFor(1);
  foreign.key = other.tmp / "other";
  REQUIRE(Publish(foreign, nullptr).ok());
  fs::create_directories(fs::path(w.ManifestPath(3)).parent_path());
  fs::copy_file(other.ManifestPath(1), w.ManifestPath(3));
  auto refused = w.PublishVersion(3);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().message().find("refusing to publish over it") != std::string::npos);
  CHECK(LatestVersion(w) == 2);
}

TEST_CASE("a bucket's create never replaces: directory and nginx") {
  for (bool http : {false, true}) {
    PublishWorld w(http);
    auto bucket = OpenBucket(w.bucket, /*create=*/true);
    REQUIRE(bucket.ok());
    const std::string one = "one", two = "two";
    REQUIRE((*bucket)->Create("m/versions/1/manifest.json", std::as_bytes(std::span(one))).ok());
    Status again = (*bucket)->Create("m/versions/1/manifest.json", std::as_bytes(std::span(two)));
    CHECK(again.code() == Code::kAlreadyExists);
    WriteText(w.tmp / "file", "three");
    CHECK((*bucket)->CreateFile("m/versions/1/manifest.json", w.tmp / "file", nullptr).code() == Code::kAlreadyExists);
    auto got = (*bucket)->Get("m/versions/1/manifest.json", 100);
    REQUIRE(got.ok());
    CHECK(std::string(reinterpret_cast<const char*>(got->data()), got->size()) == "one");
    auto listed = (*bucket)->List("m/versions/1/");
    REQUIRE(listed.ok());
    CHECK(*listed == std::vector<std::string>{"manifest.json"});  // no temporary left behind
    REQUIRE((*bucket)->Put("m/versions/1/manifest.json", std::as_bytes(std::span(two))).ok());  // Put still replaces
  }
}
