// The seed-only gateway, in this process, in front of a directory bucket;
// `deltaswarm node` processes behind it on 127.0.0.1 use its metadata server
// as their bucket. Each version crosses from the bucket to the gateway once,
// the nodes get the payload only through the swarm, old versions are pruned,
// and a restarted gateway repairs what was damaged in its store.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>
#include <thread>

#include "deltaswarm/bucket.h"
#include "deltaswarm/gateway.h"
#include "deltaswarm/manifest.h"
#include "deltaswarm/roles.h"
#include "deltaswarm/synth.h"
#include "roles/bucket_layout.h"
#include "cluster_certificates.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;
namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;

bool WaitUntil(const std::function<bool()>& done, double timeout_s) {
  auto until = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return done();
}

// Synthetic versions v0..v2 of a checkpoint, a key, and a directory bucket
// they are published into one by one (a keyframe every 2 versions: 1 and 3).
struct Upstream {
  ClusterCertificates certs;  // a closed swarm: TLS torrents, HTTPS metadata with client certificates
  TempDir tmp;
  std::string bucket = tmp / "bucket";
  int keyframe_every = 2;
  Upstream() {
    SynthOptions s;
    s.out_dir = tmp / "ckpt";
    s.params = 2'000'000;
    s.versions = 2;
    REQUIRE(Synthesize(s, nullptr).ok());
    REQUIRE(GenerateKeyPair(tmp / "key", false).ok());
  }
  std::string checkpoint(int v) const { return tmp / ("ckpt/v" + std::to_string(v) + "/model.safetensors"); }
  std::string key_pub() const { return tmp / "key.pub"; }
  // Publishes synthetic version v as bucket version v + 1.
  void Publish(int v) {
    RunResult r = RunDeltaswarm(Concat({"publish", "--bucket", bucket, "--model", "m", "--key", tmp / "key",
                                        "--state", tmp / "state", "--keyframe-every", std::to_string(keyframe_every), "-q",
                                        checkpoint(v)},
                                       certs.PublishFlags()));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  Manifest ManifestOf(uint64_t id) const {
    auto bytes = ReadBytes(bucket + "/" + ManifestKey("m", id));
    auto m = ParseManifest(std::as_bytes(std::span(bytes)), "manifest.json");
    REQUIRE(m.ok());
    return std::move(m).value();
  }
  uint64_t ArtifactBytes(uint64_t id) const {
    uint64_t total = 0;
    for (const auto& a : ManifestOf(id).artifacts) total += a.bytes();
    return total;
  }
};

// RunGateway on a thread, its events recorded.
class GatewayThread {
 public:
  explicit GatewayThread(GatewayOptions options) : options_(std::move(options)) {
    thread_ = std::thread([this] {
      result_ = RunGateway(options_, stop_, [this](const GatewayEvent& e) {
        std::lock_guard lock(mu_);
        events_.push_back(e);
      }, nullptr);
      done_ = true;
    });
  }
  ~GatewayThread() { static_cast<void>(Stop()); }  // a failed test already reported what mattered

  Result<GatewayReport> Stop() {
    stop_.Request();
    if (thread_.joinable()) thread_.join();
    return result_;
  }
  bool done() const { return done_.load(); }
  // The first event of this type (and version, when non-zero), waited for.
  std::optional<GatewayEvent> WaitFor(const std::string& type, uint64_t version, double timeout_s) {
    std::optional<GatewayEvent> found;
    WaitUntil([&] {
      std::lock_guard lock(mu_);
      for (const auto& e : events_)
        if (e.type == type && (version == 0 || e.version == version)) found = e;
      return found.has_value() || done_.load();
    }, timeout_s);
    return found;
  }
  std::string Log() {
    std::lock_guard lock(mu_);
    std::string s;
    for (const auto& e : events_) s += e.type + " " + std::to_string(e.version) + ": " + e.message + "\n";
    return s;
  }

 private:
  GatewayOptions options_;
  StopSignal stop_;
  std::atomic<bool> done_{false};
  Result<GatewayReport> result_ = Status(Code::kCancelled, "running");
  std::mutex mu_;
  std::vector<GatewayEvent> events_;
  std::thread thread_;
};

GatewayOptions GatewayFor(const Upstream& up, const std::string& dir) {
  GatewayOptions o;
  o.bucket = up.bucket;
  o.model = "m";
  o.trust = {up.key_pub()};
  o.dir = dir;
  o.http_listen = "127.0.0.1:0";
  o.listen = "127.0.0.1:0";
  o.poll_interval_s = 0.2;
  o.aio_threads = 2;  // two sessions in this process, beside the test's own
  o.hashing_threads = 1;
  o.tls = up.certs.Identity(up.certs.gateway);
  o.require_client_cert = true;
  o.tls_crl = up.certs.crl();
  return o;
}

uint64_t CurrentOf(const std::string& dest) {
  auto s = ReadStoreStatus(dest);
  return s.ok() ? s->current : 0;
}

}  // namespace

TEST_CASE("nodes behind a gateway get each version through the swarm; it crosses from the bucket once") {
  Upstream up;
  up.Publish(0);  // version 1: keyframe
  GatewayOptions o = GatewayFor(up, up.tmp / "gw");
  o.keep = 1;
  GatewayThread gateway(o);
  auto ready = gateway.WaitFor("ready", 0, 30);
  REQUIRE_MESSAGE(ready.has_value(), gateway.Log());
  auto first = gateway.WaitFor("mirrored", 1, 60);
  REQUIRE_MESSAGE(first.has_value(), gateway.Log());
  CHECK(first->upstream_bytes == up.ArtifactBytes(1));

  const int kNodes = 3;
  std::vector<ChildProcess> nodes;
  for (int i = 0; i < kNodes; ++i) {
    std::string name = "node" + std::to_string(i);
    nodes.emplace_back(SpawnDeltaswarmTo({"node", "--bucket", ready->http_url, "--model", "m", "--dest",
                                          up.tmp / name, "--trust", up.key_pub(), "--listen", "127.0.0.1:0",
                                          "--peer", ready->endpoint, "--poll-interval", "0.2", "--fallback-after",
                                          "-1", "-j", "1", "--json", "--tls-cert", up.certs.node.cert_path,
                                          "--tls-key", up.certs.node.key_path, "--tls-ca", up.certs.ca_cert()},
                                         up.tmp / (name + ".out"), up.tmp / (name + ".err")));
  }
  auto all_at = [&](uint64_t v) {
    for (int i = 0; i < kNodes; ++i)
      if (CurrentOf(up.tmp / ("node" + std::to_string(i))) != v) return false;
    return true;
  };
  auto node_logs = [&] {
    std::string s;
    for (int i = 0; i < kNodes; ++i) s += ReadFileText(up.tmp / ("node" + std::to_string(i) + ".err"));
    return s + gateway.Log();
  };
  REQUIRE_MESSAGE(WaitUntil([&] { return all_at(1); }, 90), node_logs());

  up.Publish(1);  // version 2: delta only
  auto second = gateway.WaitFor("mirrored", 2, 60);
  REQUIRE_MESSAGE(second.has_value(), gateway.Log());
  CHECK(second->upstream_bytes == up.ArtifactBytes(2));
  REQUIRE_MESSAGE(WaitUntil([&] { return all_at(2); }, 90), node_logs());

  up.Publish(2);  // version 3: keyframe and delta; with keep 1, versions 1 and 2 go
  auto third = gateway.WaitFor("mirrored", 3, 60);
  REQUIRE_MESSAGE(third.has_value(), gateway.Log());
  CHECK(third->upstream_bytes == up.ArtifactBytes(3));
  REQUIRE_MESSAGE(WaitUntil([&] { return all_at(3); }, 90), node_logs());
  for (int i = 0; i < kNodes; ++i)
    CHECK(SameTree(up.tmp / ("node" + std::to_string(i) + "/current/model.safetensors"), up.checkpoint(2)));
  CHECK(gateway.WaitFor("removed", 1, 10).has_value());
  CHECK(gateway.WaitFor("removed", 2, 10).has_value());
  CHECK(!fs::exists(up.tmp / "gw/mirror/m/versions/1"));
  CHECK(!fs::exists(up.tmp / "gw/chunks/2"));

  // The metadata server serves metadata only: a chunk is not there.
  auto mirror = OpenBucket(ready->http_url, /*create=*/false, up.certs.Identity(up.certs.node));
  REQUIRE(mirror.ok());
  CHECK((*mirror)->Get("m/versions/3/delta/chunk-000000.dsc", 1 << 30).status().code() == Code::kNotFound);
  auto latest = ReadLatestUnverified(**mirror, "m");
  REQUIRE(latest.ok());
  CHECK(*latest == 3);

  // Every pull of every node came through the swarm: nothing from a bucket.
  for (int i = 0; i < kNodes; ++i) {
    nodes[i].Stop();
    std::istringstream out(ReadFileText(up.tmp / ("node" + std::to_string(i) + ".out")));
    int pulls = 0;
    for (std::string line; std::getline(out, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || j.value("type", "") != "pulled") continue;
      ++pulls;
      CHECK(j["pull"]["downloaded_bytes"].get<uint64_t>() == 0);
      CHECK(j["pull"]["swarm_bytes"].get<uint64_t>() > 0);
    }
    CHECK(pulls == 3);
  }
  auto report = gateway.Stop();
  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  CHECK(report->held == std::vector<uint64_t>{3});
  CHECK(report->mirrored == std::vector<uint64_t>{1, 2, 3});
  CHECK(report->bucket_bytes == up.ArtifactBytes(1) + up.ArtifactBytes(2) + up.ArtifactBytes(3));
}

TEST_CASE("a sync mirrors without serving; a restarted gateway drops half-mirrored versions and repairs chunks") {
  Upstream up;
  up.Publish(0);
  GatewayOptions o = GatewayFor(up, up.tmp / "gw");
  auto synced = SyncGateway(o, nullptr);
  REQUIRE_MESSAGE(synced.ok(), synced.status().ToString());
  CHECK(synced->mirrored == std::vector<uint64_t>{1});
  CHECK(synced->bucket_bytes == up.ArtifactBytes(1));
  // The upstream's signed statement, byte for byte (the gateway cannot sign).
  CHECK(ReadFileText(up.tmp / "gw/mirror/m/refs/latest") == ReadFileText(up.bucket + "/m/refs/latest"));
  // Re-signed upstream (a fresh expiry, same version): the mirror follows.
  const std::string before = ReadFileText(up.bucket + "/m/refs/latest");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the statement's times are whole seconds
  RunResult refreshed = RunDeltaswarm({"publish", "--bucket", up.bucket, "--model", "m", "--key", up.tmp / "key",
                                       "--state", up.tmp / "state", "--refresh-latest", "-q"});
  REQUIRE_MESSAGE(refreshed.exit_code == 0, refreshed.err);
  REQUIRE(ReadFileText(up.bucket + "/m/refs/latest") != before);
  auto again = SyncGateway(o, nullptr);
  REQUIRE(again.ok());
  CHECK(again->mirrored.empty());
  CHECK(again->bucket_bytes == 0);
  CHECK(ReadFileText(up.tmp / "gw/mirror/m/refs/latest") == ReadFileText(up.bucket + "/m/refs/latest"));

  // A damaged chunk and a version whose manifest never arrived (killed mid-mirror).
  const std::string chunk = up.tmp / "gw/chunks/1/keyframe/chunk-000000.dsc";
  REQUIRE(fs::exists(chunk));
  std::vector<uint8_t> bytes = ReadBytes(chunk);
  bytes[bytes.size() / 2] ^= 0x5a;
  WriteBytes(chunk, bytes);
  fs::create_directories(up.tmp / "gw/mirror/m/versions/9");
  WriteBytes(up.tmp / "gw/mirror/m/versions/9/keyframe.torrent", {'x'});

  GatewayThread gateway(o);
  REQUIRE_MESSAGE(gateway.WaitFor("ready", 0, 30).has_value(), gateway.Log());
  auto report = gateway.Stop();
  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  CHECK(report->held == std::vector<uint64_t>{1});
  CHECK(report->bucket_bytes == bytes.size());  // only the damaged chunk crossed again
  CHECK(SameTree(chunk, up.bucket + "/m/versions/1/keyframe/chunk-000000.dsc"));
  CHECK(!fs::exists(up.tmp / "gw/mirror/m/versions/9"));

  // A second gateway on the same directory is refused.
  GatewayThread first(o);
  REQUIRE(first.WaitFor("ready", 0, 30).has_value());
  auto second = SyncGateway(o, nullptr);
  CHECK(second.status().code() == Code::kIoError);
  CHECK(second.status().message().find("in use") != std::string::npos);
}

TEST_CASE("a restarted gateway fetches a damaged middle version again, so a fresh node still reaches the newest") {
  Upstream up;
  up.keyframe_every = 10;  // version 1 a keyframe, 2 and 3 deltas: a fresh node reaches 3 only through 2
  for (int v = 0; v <= 2; ++v) up.Publish(v);
  GatewayOptions o = GatewayFor(up, up.tmp / "gw");
  auto synced = SyncGateway(o, nullptr);
  REQUIRE_MESSAGE(synced.ok(), synced.status().ToString());
  REQUIRE(synced->mirrored == std::vector<uint64_t>{1, 2, 3});

  // Version 2's manifest in the mirror is cut short, and a chunk of it damaged.
  const std::string manifest = up.tmp / ("gw/mirror/" + ManifestKey("m", 2));
  std::vector<uint8_t> bytes = ReadBytes(manifest);
  WriteBytes(manifest, std::vector<uint8_t>(bytes.begin(), bytes.begin() + bytes.size() / 2));
  const std::string chunk = up.tmp / "gw/chunks/2/delta/chunk-000000.dsc";
  REQUIRE(fs::exists(chunk));
  bytes = ReadBytes(chunk);
  bytes[bytes.size() / 2] ^= 0x5a;
  WriteBytes(chunk, bytes);
  auto mirror_latest = [&] {
    auto mirror = OpenBucket(up.tmp / "gw/mirror");
    REQUIRE(mirror.ok());
    auto latest = ReadLatestUnverified(**mirror, "m");
    REQUIRE(latest.ok());
    return *latest;
  };

  SUBCASE("upstream still has it: fetched again, byte for byte, and a fresh node pulls through it") {
    GatewayThread gateway(o);
    auto ready = gateway.WaitFor("ready", 0, 60);
    REQUIRE_MESSAGE(ready.has_value(), gateway.Log());
    CHECK(SameTree(manifest, up.bucket + "/" + ManifestKey("m", 2)));
    CHECK(SameTree(chunk, up.bucket + "/m/versions/2/delta/chunk-000000.dsc"));
    CHECK(mirror_latest() == 3);

    PullOptions p;
    p.bucket = ready->http_url;
    p.model = "m";
    p.dest = up.tmp / "fresh";
    p.version = 3;  // by id: what matters here is the walk back to the keyframe
    p.trust = {up.key_pub()};
    p.peers = {ready->endpoint};
    p.listen = "127.0.0.1:0";
    p.fallback_after_s = -1;  // every chunk from the gateway's swarm
    p.swarm_timeout_s = 120;
    p.aio_threads = 2;
    p.hashing_threads = 1;
    p.tls = up.certs.Identity(up.certs.node);
    auto pulled = Pull(p, nullptr);
    REQUIRE_MESSAGE(pulled.ok(), (pulled.status().ToString() + "\n" + gateway.Log()));
    CHECK(pulled->steps == std::vector<std::string>{"keyframe 1", "delta 2", "delta 3"});
    CHECK(SameTree(up.tmp / "fresh/current/model.safetensors", up.checkpoint(2)));
    auto report = gateway.Stop();
    REQUIRE_MESSAGE(report.ok(), report.status().ToString());
    CHECK(report->held == std::vector<uint64_t>{1, 2, 3});
  }
  SUBCASE("upstream no longer has it: what it cut off is dropped, with a warning") {
    fs::remove_all(up.bucket + "/" + VersionPrefix("m", 2));
    GatewayThread gateway(o);
    REQUIRE_MESSAGE(gateway.WaitFor("ready", 0, 60).has_value(), gateway.Log());
    auto dropped = gateway.WaitFor("warning", 3, 10);
    REQUIRE_MESSAGE(dropped.has_value(), gateway.Log());
    CHECK(dropped->message.find("dropping version 3") != std::string::npos);
    CHECK(gateway.Log().find("version 2 is missing from the mirror and could not be fetched again") !=
          std::string::npos);
    CHECK(!fs::exists(up.tmp / ("gw/mirror/" + VersionPrefix("m", 2))));
    CHECK(!fs::exists(up.tmp / ("gw/mirror/" + VersionPrefix("m", 3))));
    CHECK(!fs::exists(up.tmp / "gw/chunks/3"));
    // Upstream's statement names 3, which the gateway cannot hold, and it
    // cannot sign one for 1: the mirror names no version until it can.
    CHECK(mirror_latest() == 0);
    auto report = gateway.Stop();
    REQUIRE_MESSAGE(report.ok(), report.status().ToString());
    CHECK(report->held == std::vector<uint64_t>{1});
  }
}
