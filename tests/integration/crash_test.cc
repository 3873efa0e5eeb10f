// Crash points, not sleeps: each command that changes what is on disk runs
// once to count its file-system operations (DELTASWARM_CRASH_COUNT), then
// once for every k from 1 to that count, killed just before its k-th
// operation (DELTASWARM_CRASH_AT=k, src/core/file_system.h). After every
// crash: outputs are absent or whole and verified, inputs and published
// versions are unchanged, and a re-run without the crash mode completes with
// the right bytes. -j 1 everywhere, so that k names one exact point.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <span>

#include "deltaswarm/manifest.h"
#include "roles/checkpoint_sha.h"
#include "roles/local_store.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;
namespace fs = std::filesystem;

namespace {

constexpr double kRunTimeoutS = 60;
constexpr int kCrashed = 128 + SIGKILL;
// 4 KiB frames and chunks: a version of a few dozen KiB has several chunks.
const std::vector<std::string> kSmall = {"--frame-size", "4Ki", "--chunk-size", "4Ki"};

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A directory checkpoint: two shards, their index and a config. Version 2
// rewrites one tensor (several dense frames), nudges another, and leaves the
// second shard and the other files alone (hard links on a node).
void WriteCheckpoint(const std::string& dir, int version) {
  fs::create_directories(dir);
  TestTensor a{"layer.0.w", "BF16", {64, 128}, RandomBytes(64 * 128 * 2, version == 1 ? 1 : 100)};
  TestTensor b{"layer.0.b", "F32", {1024}, RandomBytes(1024 * 4, 2)};
  if (version == 2)
    for (size_t i = 0; i < b.data.size(); i += 97) b.data[i] ^= 1;
  TestTensor c{"layer.1.w", "BF16", {64, 64}, RandomBytes(64 * 64 * 2, 3)};
  WriteSafetensors(dir + "/model-00001-of-00002.safetensors", {a, b});
  WriteSafetensors(dir + "/model-00002-of-00002.safetensors", {c});
  std::string index = R"({"weight_map":{"layer.0.w":"model-00001-of-00002.safetensors",)"
                      R"("layer.0.b":"model-00001-of-00002.safetensors","layer.1.w":"model-00002-of-00002.safetensors"}})";
  WriteBytes(dir + "/model.safetensors.index.json", std::vector<uint8_t>(index.begin(), index.end()));
  WriteBytes(dir + "/config.json", std::vector<uint8_t>(300, 'c'));
}

void CopyTree(const std::string& from, const std::string& to) {
  fs::remove_all(to);
  fs::create_directories(fs::path(to).parent_path());
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
}

bool HasTemporaries(const std::string& dir) {
  for (auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp-") != std::string::npos) return true;
  return false;
}

// A pull that completed keeps none of the artifacts it applied.
bool NoStaging(const std::string& store) {
  return !fs::exists(store + "/staging") || fs::is_empty(store + "/staging");
}

// The inode of every file below dir, by relative path.
std::map<std::string, ino_t> Inodes(const std::string& dir) {
  std::map<std::string, ino_t> inodes;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    struct stat st;
    if (it->is_regular_file() && ::stat(it->path().c_str(), &st) == 0)
      inodes[fs::relative(it->path(), dir).string()] = st.st_ino;
  }
  return inodes;
}

struct Outcome {
  int code = -1;
  std::string err;
};

// A spawned process, SIGKILLed and reaped unless it was waited for.
struct Spawned {
  int pid;
  ~Spawned() {
    if (pid > 0) KillAndReap(pid);
  }
  // Its exit code or 128 + signal; -1 (killed) after timeout_s. Polls every
  // millisecond: a few hundred runs each lose less than a 10 ms poll would.
  int Wait(double timeout_s) {
    for (int i = 0; i < static_cast<int>(timeout_s * 1000); ++i) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      ::usleep(1000);
    }
    return -1;
  }
};

// Runs the built deltaswarm with `env` ("NAME=VALUE") added to its
// environment (through env(1): the test process itself never sees it).
Outcome RunCli(const std::string& scratch, const std::vector<std::string>& env, const std::vector<std::string>& args) {
  static int runs = 0;
  const std::string err = scratch + "/run-" + std::to_string(runs++) + ".err";
  Spawned child{SpawnProgram("/usr/bin/env", Concat(Concat(env, {DS_BINARY}), args), "", err)};
  REQUIRE(child.pid > 0);
  Outcome o;
  o.code = child.Wait(kRunTimeoutS);
  o.err = ReadFileText(err);
  fs::remove(err);
  return o;
}

// The crash mode's own line on stderr: which operation k was.
std::string CrashLine(const std::string& err) {
  size_t at = err.find("crash point ");
  if (at == std::string::npos) return "(no crash point line) " + err;
  return err.substr(at, err.find('\n', at) - at);
}

// refs/latest as a version: "N\n", or a JSON statement with a "version" field.
uint64_t ReadLatest(const std::string& path) {
  if (!fs::exists(path)) return 0;
  const std::string text = ReadFileText(path);
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("version")) j = j["version"];
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (j.is_string() && !j.get<std::string>().empty()) return std::stoull(j.get<std::string>());
  FAIL_CHECK(path << ": neither \"N\" nor JSON with a version: " << text);
  return 0;
}

void CheckObject(const std::string& path, uint64_t size, const Sha256& sha) {
  INFO(path);
  uint64_t got_size = 0;
  auto got = Sha256OfFile(path, &got_size);
  REQUIRE_MESSAGE(got.ok(), got.status().ToString());
  CHECK(got_size == size);
  CHECK(*got == sha);
}

// Version `id` is whole in the bucket: a manifest signed by the key, and
// every object it lists with its size and SHA-256.
void CheckPublished(const std::string& bucket, uint64_t id, const std::string& key_pub) {
  const std::string dir = bucket + "/m/versions/" + std::to_string(id);
  auto bytes = ReadBytes(dir + "/manifest.json");
  auto m = ParseManifest(std::as_bytes(std::span(bytes)), dir + "/manifest.json");
  REQUIRE_MESSAGE(m.ok(), m.status().ToString());
  CHECK(m->version == id);
  auto key = TrustedKey::Load(key_pub);
  REQUIRE(key.ok());
  std::vector<TrustedKey> trusted;
  trusted.push_back(std::move(key).value());
  CHECK(VerifyManifest(*m, trusted, dir).ok());
  for (const auto& a : m->artifacts) {
    CheckObject(dir + "/" + a.dir + "/index.dsi", a.index_size, a.index_sha256);
    for (const auto& c : a.chunks) CheckObject(dir + "/" + a.dir + "/" + c.name, c.size, c.sha256);
    CheckObject(dir + "/" + a.dir + ".torrent", a.torrent_size, a.torrent_sha256);
  }
}

// The version a store's `current` names, 0 if there is none; when there is
// one, it must be a held version (manifest saved) with the right bytes. Every
// held version's files are checked too: a manifest is saved only after them.
uint64_t CheckStore(const std::string& store, const std::string& checkpoints) {
  if (!fs::exists(store + "/manifests")) return 0;
  LocalStore view = LocalStore::View(store);
  for (uint64_t id : view.Versions()) {
    INFO("held version " << id);
    CHECK(SameTree(view.VersionDir(id), checkpoints + "/v" + std::to_string(id)));
  }
  std::error_code ec;
  const fs::path target = fs::read_symlink(store + "/current", ec);
  if (ec) {
    CHECK(!fs::exists(fs::symlink_status(store + "/current")));  // a symlink or nothing
    return 0;
  }
  const uint64_t id = view.current();
  INFO("current -> " << target.string());
  REQUIRE(id != 0);  // names a held version
  CHECK(target == fs::path("versions/" + std::to_string(id)));
  CHECK(SameTree(store + "/current", checkpoints + "/v" + std::to_string(id)));
  return id;
}

// A manifest's bytes and inode: replacing it, even by equal bytes, is an
// overwrite of something published.
struct Snapshot {
  std::vector<uint8_t> bytes;
  ino_t inode = 0;
};
std::map<std::string, Snapshot> Manifests(const std::string& bucket) {
  std::map<std::string, Snapshot> out;
  if (!fs::exists(bucket + "/m/versions")) return out;
  for (auto& e : fs::directory_iterator(bucket + "/m/versions")) {
    const std::string path = e.path().string() + "/manifest.json";
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) out[path] = {ReadBytes(path), st.st_ino};
  }
  return out;
}

// Counts a complete run's operations from the state prepare() makes, then
// crashes a run at each of them (prepare() before every one) and hands the
// result to check(k). Finally k = count + 1 must complete.
void EnumerateCrashPoints(const std::string& scratch, const std::vector<std::string>& args,
                          const std::function<void()>& prepare,
                          const std::function<void(uint64_t k, const Outcome& crashed)>& check) {
  const auto start = std::chrono::steady_clock::now();
  prepare();
  const std::string count_file = scratch + "/count";
  Outcome full = RunCli(scratch, {"DELTASWARM_CRASH_COUNT=" + count_file}, args);
  INFO(full.err);
  REQUIRE(full.code == 0);
  const uint64_t n = std::stoull(ReadFileText(count_file));
  REQUIRE(n > 0);
  for (uint64_t k = 1; k <= n; ++k) {
    prepare();
    Outcome crashed = RunCli(scratch, {"DELTASWARM_CRASH_AT=" + std::to_string(k)}, args);
    INFO("k = " << k << " of " << n << ": " << CrashLine(crashed.err));
    REQUIRE(crashed.code == kCrashed);  // the same run, so it reaches operation k
    check(k, crashed);
  }
  prepare();
  Outcome past = RunCli(scratch, {"DELTASWARM_CRASH_AT=" + std::to_string(n + 1)}, args);
  INFO(past.err);
  CHECK(past.code == 0);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE(args[0] << ": " << n << " crash points in " << took << " s");
}

// Two versions of the checkpoint (and a pristine copy of each, to prove they
// were never written), a key, and a directory bucket's helpers.
struct World {
  TempDir tmp;
  std::string work = tmp / "work";    // what one crashed run may change
  std::string start = tmp / "start";  // restored into work before each run
  World() {
    for (int v : {1, 2}) {
      WriteCheckpoint(tmp / "ckpt/v" + std::to_string(v), v);
      WriteCheckpoint(tmp / "pristine/v" + std::to_string(v), v);
    }
    REQUIRE(GenerateKeyPair(tmp / "key", false).ok());
    fs::create_directories(start);
  }
  std::string Ckpt(int v) const { return tmp / "ckpt/v" + std::to_string(v); }
  void Prepare() const { CopyTree(start, work); }
  void CheckInputs() const { CHECK(SameTree(tmp / "ckpt", tmp / "pristine")); }
  std::vector<std::string> Publish(const std::string& root, int v) const {
    return Concat({"publish", "--bucket", root + "/bucket", "--model", "m", "--key", tmp / "key", "--state",
                   root + "/state", "-j", "1", "-q", Ckpt(v)},
                  kSmall);
  }
  std::vector<std::string> Pull(const std::string& bucket_root, const std::string& dest,
                                const std::vector<std::string>& extra = {}) const {
    return Concat({"pull", "--bucket", bucket_root + "/bucket", "--model", "m", "--dest", dest, "--trust",
                   tmp / "key.pub", "-j", "1", "-q"},
                  extra);
  }
  void Run(const std::vector<std::string>& args) const {
    auto r = RunDeltaswarm(args);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
};

}  // namespace

TEST_CASE("apply crashed at every operation: OUT absent or whole, BASE untouched, a re-run completes") {
  World w;
  w.Run(Concat({"diff", w.Ckpt(1), w.Ckpt(2), "-o", w.tmp / "delta", "-j", "1", "-q"}, kSmall));
  CopyTree(w.Ckpt(1), w.start + "/base");
  const std::vector<std::string> apply = {"apply", w.work + "/base", w.tmp / "delta", "-o", w.work + "/out", "-j", "1",
                                          "-q"};
  EnumerateCrashPoints(w.tmp.path(), apply, [&] { w.Prepare(); }, [&](uint64_t, const Outcome&) {
    CHECK(SameTree(w.work + "/base", w.Ckpt(1)));
    if (fs::exists(w.work + "/out")) {
      CHECK(SameTree(w.work + "/out", w.Ckpt(2)));
    } else {
      Outcome again = RunCli(w.tmp.path(), {}, apply);
      INFO(again.err);
      CHECK(again.code == 0);
      CHECK(SameTree(w.work + "/out", w.Ckpt(2)));
    }
    CHECK(SameTree(w.work + "/base", w.Ckpt(1)));
  });
  w.CheckInputs();
}

TEST_CASE("apply --force crashed at every operation: OUT is the old or the new version, never absent") {
  World w;
  w.Run(Concat({"diff", w.Ckpt(1), w.Ckpt(2), "-o", w.tmp / "delta", "-j", "1", "-q"}, kSmall));
  CopyTree(w.Ckpt(1), w.start + "/base");
  CopyTree(w.Ckpt(1), w.start + "/out");  // the old version, to be replaced
  const std::vector<std::string> apply = {"apply", w.work + "/base", w.tmp / "delta", "-o", w.work + "/out",
                                          "--force", "-j", "1", "-q"};
  EnumerateCrashPoints(w.tmp.path(), apply, [&] { w.Prepare(); }, [&](uint64_t, const Outcome&) {
    CHECK(SameTree(w.work + "/base", w.Ckpt(1)));
    REQUIRE(fs::exists(w.work + "/out"));
    CHECK((SameTree(w.work + "/out", w.Ckpt(1)) || SameTree(w.work + "/out", w.Ckpt(2))));
    Outcome again = RunCli(w.tmp.path(), {}, apply);
    INFO(again.err);
    CHECK(again.code == 0);
    CHECK(SameTree(w.work + "/out", w.Ckpt(2)));
  });
  w.CheckInputs();
}

TEST_CASE("pull into an empty store crashed at every operation: no current or a verified one; a re-run completes") {
  World w;
  // Versions 1 (keyframe) and 2 (delta): the pull applies both, then switches.
  w.Run(w.Publish(w.tmp.path(), 1));
  w.Run(w.Publish(w.tmp.path(), 2));
  const std::string store = w.work + "/store";
  const auto pull = w.Pull(w.tmp.path(), store);
  EnumerateCrashPoints(w.tmp.path(), pull, [&] { w.Prepare(); }, [&](uint64_t, const Outcome&) {
    CheckStore(store, w.tmp / "ckpt");
    // A version the crashed run completed is built on, not applied again.
    const auto held = LocalStore::View(store).Versions();
    const bool first_complete = std::count(held.begin(), held.end(), 1) == 1;
    const auto inodes = first_complete ? Inodes(store + "/versions/1") : std::map<std::string, ino_t>{};
    Outcome again = RunCli(w.tmp.path(), {}, pull);
    INFO(again.err);
    CHECK(again.code == 0);
    CHECK(CheckStore(store, w.tmp / "ckpt") == 2);
    if (first_complete) CHECK(Inodes(store + "/versions/1") == inodes);
    CHECK(!HasTemporaries(store));
    CHECK(NoStaging(store));
  });
  w.CheckInputs();
}

TEST_CASE("a node's switch crashed at every operation: current stays on a verified version; a re-run completes") {
  World w;
  // The store holds version 1; the pull of version 2 (a delta, unchanged
  // files hard-linked) ends in SwitchCurrent, as a node's does, then prunes
  // version 1 (--keep 1). CheckStore checks the base while it is held.
  w.Run(w.Publish(w.tmp.path(), 1));
  const std::string store = w.start + "/store";
  w.Run(w.Pull(w.tmp.path(), store));
  w.Run(w.Publish(w.tmp.path(), 2));
  const std::string node = w.work + "/store";
  const auto pull = w.Pull(w.tmp.path(), node, {"--keep", "1"});
  EnumerateCrashPoints(w.tmp.path(), pull, [&] { w.Prepare(); }, [&](uint64_t, const Outcome&) {
    CHECK(CheckStore(node, w.tmp / "ckpt") >= 1);
    Outcome again = RunCli(w.tmp.path(), {}, pull);
    INFO(again.err);
    CHECK(again.code == 0);
    CHECK(CheckStore(node, w.tmp / "ckpt") == 2);
    CHECK(LocalStore::View(node).Versions() == std::vector<uint64_t>{2});
    CHECK(!fs::exists(node + "/versions/1"));
    CHECK(!HasTemporaries(node));
    CHECK(NoStaging(node));
  });
  w.CheckInputs();
}

namespace {

// Publishes checkpoint v`v` into work/ at every crash point; start/ holds
// the bucket and publisher state of the versions before it.
void EnumeratePublish(const World& w, int v) {
  const auto before = Manifests(w.start + "/bucket");
  REQUIRE(before.size() == static_cast<size_t>(v - 1));
  const auto publish = w.Publish(w.work, v);
  const std::string bucket = w.work + "/bucket";
  std::vector<std::string> overwrites, failures;
  EnumerateCrashPoints(w.tmp.path(), publish, [&] { w.Prepare(); }, [&](uint64_t k, const Outcome& crashed) {
    const uint64_t latest = ReadLatest(bucket + "/m/refs/latest");
    CHECK(latest + 1 >= static_cast<uint64_t>(v));
    CHECK(latest <= static_cast<uint64_t>(v));
    if (latest > 0) CheckPublished(bucket, latest, w.tmp / "key.pub");
    for (int old = 1; old < v; ++old) {
      const std::string dir = "/bucket/m/versions/" + std::to_string(old);
      CHECK(SameTree(w.work + dir, w.start + dir));
    }
    for (const auto& [path, snap] : before) CHECK(ReadBytes(w.work + path.substr(w.start.size())) == snap.bytes);
    w.CheckInputs();

    // The re-run must complete without replacing any manifest the crash left.
    const auto published = Manifests(bucket);
    Outcome again = RunCli(w.tmp.path(), {}, publish);
    INFO("re-run: " << again.err);
    CHECK(again.code == 0);
    if (again.code != 0) failures.push_back("k=" + std::to_string(k) + " (" + CrashLine(crashed.err) + ")");
    bool replaced = false;
    for (const auto& [path, snap] : published) {
      struct stat st;
      const bool same = ::stat(path.c_str(), &st) == 0 && st.st_ino == snap.inode && ReadBytes(path) == snap.bytes;
      CHECK_MESSAGE(same, path << " was replaced by the re-run");
      replaced |= !same;
    }
    if (replaced) overwrites.push_back("k=" + std::to_string(k) + " (" + CrashLine(crashed.err) + ")");
    if (again.code != 0) return;
    // Wherever it crashed, the re-run leaves the checkpoint published once, as version v.
    CHECK(ReadLatest(bucket + "/m/refs/latest") == static_cast<uint64_t>(v));
    CheckPublished(bucket, v, w.tmp / "key.pub");
    CHECK(!fs::exists(bucket + "/m/versions/" + std::to_string(v + 1)));
    Outcome pulled = RunCli(w.tmp.path(), {}, w.Pull(w.work, w.work + "/node"));
    INFO("pull: " << pulled.err);
    CHECK(pulled.code == 0);
    CHECK(SameTree(w.work + "/node/current", w.Ckpt(v)));
  });
  for (const auto& k : overwrites) MESSAGE("a re-run replaced a published manifest after the crash at " << k);
  for (const auto& k : failures) MESSAGE("a re-run failed after the crash at " << k);
}

}  // namespace

TEST_CASE("the first publish crashed at every operation: no latest or a whole version 1") {
  World w;
  EnumeratePublish(w, 1);
}

TEST_CASE("publish crashed at every operation: latest names a whole version, nothing published changes") {
  World w;
  w.Run(w.Publish(w.start, 1));
  EnumeratePublish(w, 2);
}
