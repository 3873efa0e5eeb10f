// The config loader: every example in configs/ with its role's schema,
// defaults, each kind of error with the line it names, and docs/CONFIG.md
// against the schemas.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <string>

#include "deltaswarm/config.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;

namespace {

const char* kRequired =
    "bucket: /srv/bucket\n"
    "model: m\n"
    "dest: /tmp/node\n"
    "trust: [/keys/a.pub]\n";

// The error of loading text as "t.yaml"; fails the test if it loads.
template <typename Options = NodeOptions>
Status ErrorOf(const std::string& text) {
  auto r = ParseConfig<Options>(text, "t.yaml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK(r.status().message().find('\n') == std::string::npos);  // one line
  return r.status();
}

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::string Example(const std::string& name) { return std::string(DS_CONFIGS_DIR) + "/" + name; }

// Loads an example file; fails the test if it does not load.
template <typename Options>
Options LoadExample(const std::string& name, const std::set<std::string>& given_elsewhere = {}) {
  auto r = LoadConfig<Options>(Example(name), given_elsewhere);
  INFO(name << ": " << r.status().message());
  REQUIRE(r.ok());
  return *r;
}

// Every key of the schema appears in the example, set ("key:") or, for keys
// a launcher sets, commented out ("# key:"), each with a comment.
template <typename Options>
void CheckDocumentsEveryKey(const std::string& name) {
  std::string text = ReadFileText(Example(name));
  REQUIRE_FALSE(text.empty());
  for (const ConfigKey& k : ConfigKeys<Options>()) {
    INFO(name << ": " << k.name);
    size_t at = text.find("\n" + k.name + ":");
    if (at == std::string::npos) at = text.find("\n# " + k.name + ":");
    REQUIRE(at != std::string::npos);
    std::string line = text.substr(at + 1, text.find('\n', at + 1) - at - 1);
    CHECK(line.find(" # ") != std::string::npos);
    if (k.required) CHECK(line.find("(required") != std::string::npos);
  }
  CHECK(text.find("docs/CONFIG.md") != std::string::npos);
}

// The required keys of a schema, each with a value of its type.
template <typename Options>
std::string RequiredKeys() {
  std::string text;
  for (const ConfigKey& k : ConfigKeys<Options>())
    if (k.required) text += k.name + (k.type == "list of strings" ? ": [x]\n" : ": x\n");
  return text;
}

}  // namespace

TEST_CASE("configs/node.yaml loads, and documents every key") {
  NodeOptions o = LoadExample<NodeOptions>("node.yaml");
  CHECK(o.bucket == "http://hub.example:8080/hub");
  CHECK(o.model == "llama-8b");
  CHECK(o.trust == std::vector<std::string>{"/etc/deltaswarm/publisher.pub"});
  CHECK(o.peers == std::vector<std::string>{"10.0.0.2:6881", "10.0.0.3:6881"});
  CHECK(o.trackers.empty());
  CHECK(o.listen == "0.0.0.0:6881");
  CHECK(o.poll_interval_s == 10);
  CHECK(o.swarm_timeout_s == 3600);
  CHECK(o.seed_versions == 2);
  CHECK(o.on_update == "systemctl reload inference-server");
  CheckDocumentsEveryKey<NodeOptions>("node.yaml");
}

TEST_CASE("configs/lab-node.yaml: a node whose bucket and first peer are the lab's gateway") {
  NodeOptions o = LoadExample<NodeOptions>("lab-node.yaml");
  CHECK(o.bucket == "http://10.210.1.1:8090/");
  CHECK(o.peers == std::vector<std::string>{"10.210.1.1:6881"});
  CHECK(o.fallback_after_s == -1);
  CHECK(o.poll_interval_s == 2);
  CHECK(o.keep == 2);
  CHECK(o.seed_versions == 1);
  CHECK(o.on_update.empty());
  CheckDocumentsEveryKey<NodeOptions>("lab-node.yaml");

  // The gateway's example serves what the lab node expects.
  GatewayOptions g = LoadExample<GatewayOptions>("gateway.yaml");
  CHECK(o.bucket == "http://" + g.http_listen + "/");
  CHECK(o.peers.front() == g.listen);
  CHECK(o.model == g.model);
}

TEST_CASE("configs/gateway.yaml loads, and documents every key") {
  GatewayOptions o = LoadExample<GatewayOptions>("gateway.yaml");
  CHECK(o.bucket == "http://hub.example:8080/hub");
  CHECK(o.model == "llama-8b");
  CHECK(o.trust == std::vector<std::string>{"/etc/deltaswarm/publisher.pub"});
  CHECK(o.dir == "/var/lib/deltaswarm/gateway");
  CHECK(o.http_listen == "10.210.1.1:8090");
  CHECK(o.listen == "10.210.1.1:6881");
  CHECK(o.peers == std::vector<std::string>{"192.0.2.10:6881"});
  CHECK(o.trackers.empty());
  CHECK(o.poll_interval_s == 30);
  CHECK(o.fallback_after_s == 30);
  CHECK(o.swarm_timeout_s == 3600);
  CHECK(o.keep == 3);
  CHECK(o.upload_rate == 0);
  CHECK(o.download_rate == 50000000);
  CHECK(o.share);
  CheckDocumentsEveryKey<GatewayOptions>("gateway.yaml");
}

TEST_CASE("configs/publisher.yaml loads, and documents every key") {
  PublishOptions o = LoadExample<PublishOptions>("publisher.yaml");
  CHECK(o.bucket == "http://hub.example:8080/hub");
  CHECK(o.model == "llama-8b");
  CHECK(o.key == "/etc/deltaswarm/publisher");
  CHECK(o.checkpoint == "/data/export/latest");
  CHECK(o.state == "/var/lib/deltaswarm/publish/llama-8b");
  CHECK(o.keyframe_every == 10);
  CHECK(o.keep == 2);
  CHECK(o.diff.threads == 0);
  CHECK(o.diff.frame_bytes == 4u << 20);
  CHECK(o.diff.chunk_bytes == 32u << 20);
  CHECK(o.diff.zstd_level == 3);
  CheckDocumentsEveryKey<PublishOptions>("publisher.yaml");
}

TEST_CASE("configs/cluster-node.yaml loads with what the MPI and Slurm launchers pass as flags") {
  // deltaswarm-mpi.sh and deltaswarm-task.sh pass these per rank.
  PullOptions o = LoadExample<PullOptions>("cluster-node.yaml", {"dest", "listen", "peers", "fallback_after_s",
                                                                 "linger_s"});
  CHECK(o.bucket == "/shared/hub");
  CHECK(o.model == "llama-8b");
  CHECK(o.trust == std::vector<std::string>{"/shared/keys/publisher.pub"});
  CHECK(o.dest.empty());
  CHECK(o.version == 0);
  CHECK(o.keep == 2);
  CHECK(o.swarm_timeout_s == 1800);
  CHECK(o.trackers.empty());
  CheckDocumentsEveryKey<PullOptions>("cluster-node.yaml");
  // Alone it lacks the per-rank key the launcher provides.
  auto alone = LoadConfig<PullOptions>(Example("cluster-node.yaml"));
  REQUIRE_FALSE(alone.ok());
  CHECK(alone.status().message().find("missing required key 'dest'") != std::string::npos);
}

TEST_CASE("every file in configs/ is an example tested above") {
  std::set<std::string> tested = {"node.yaml", "lab-node.yaml", "gateway.yaml", "publisher.yaml",
                                  "cluster-node.yaml"};
  for (const auto& e : std::filesystem::directory_iterator(DS_CONFIGS_DIR)) {
    if (e.is_directory()) continue;  // configs/systemd/: unit files, checked by systemd_units_test
    INFO(e.path().string());
    CHECK(tested.count(e.path().filename().string()) == 1);
  }
}

TEST_CASE("docs/CONFIG.md lists every role's keys as the schemas describe them") {
  std::string doc = ReadFileText(std::string(DS_CONFIGS_DIR) + "/../docs/CONFIG.md");
  REQUIRE_FALSE(doc.empty());
  CHECK(doc.find(DescribeConfig<NodeOptions>()) != std::string::npos);
  CHECK(doc.find(DescribeConfig<GatewayOptions>()) != std::string::npos);
  CHECK(doc.find(DescribeConfig<PublishOptions>()) != std::string::npos);
  CHECK(doc.find(DescribeConfig<PullOptions>()) != std::string::npos);
}

TEST_CASE("keys left out keep the option struct's defaults; every key is described") {
  auto r = ParseConfig<NodeOptions>(kRequired, "t.yaml");
  REQUIRE(r.ok());
  NodeOptions d;
  CHECK(r->listen == d.listen);
  CHECK(r->poll_interval_s == d.poll_interval_s);
  CHECK(r->fallback_after_s == d.fallback_after_s);
  CHECK(r->keep == d.keep);
  CHECK(r->seed_versions == d.seed_versions);
  CHECK(r->peers.empty());
  std::string doc = DescribeConfig<NodeOptions>();
  CHECK(doc.find("bucket (string, required)") != std::string::npos);
  CHECK(doc.find("keep (unsigned integer, default 3)") != std::string::npos);
  CHECK(doc.find("fallback_after_s (number, default 10)") != std::string::npos);
  CHECK(DescribeConfig<GatewayOptions>().find("http_listen (string, default \"0.0.0.0:8090\")") != std::string::npos);
  CHECK(DescribeConfig<GatewayOptions>().find("share (boolean, default true)") != std::string::npos);
  CHECK(DescribeConfig<PublishOptions>().find("frame_bytes (unsigned integer, default 4194304)") != std::string::npos);
}

TEST_CASE("every setting of the node schema is read") {
  auto r = ParseConfig<NodeOptions>(std::string(kRequired) +
                                        "listen: 127.0.0.1:0\n"
                                        "peers: [127.0.0.1:1, 127.0.0.1:2]\n"
                                        "trackers:\n  - http://t/announce\n"
                                        "poll_interval_s: 0.5\n"
                                        "fallback_after_s: -1\n"
                                        "swarm_timeout_s: 60\n"
                                        "keep: 4\n"
                                        "seed_versions: 0\n"
                                        "upload_rate: 1000000\n"
                                        "download_rate: 2000000\n"
                                        "on_update: echo $DELTASWARM_VERSION >> log\n"
                                        "threads: 2\n",
                                    "t.yaml");
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->listen == "127.0.0.1:0");
  CHECK(r->peers.size() == 2);
  CHECK(r->trackers == std::vector<std::string>{"http://t/announce"});
  CHECK(r->poll_interval_s == 0.5);
  CHECK(r->fallback_after_s == -1);
  CHECK(r->swarm_timeout_s == 60);
  CHECK(r->keep == 4);
  CHECK(r->seed_versions == 0);
  CHECK(r->upload_rate == 1000000);
  CHECK(r->download_rate == 2000000);
  CHECK(r->on_update == "echo $DELTASWARM_VERSION >> log");
  CHECK(r->threads == 2);
}

TEST_CASE_TEMPLATE("each role with a swarm: aio_threads and hashing_threads are keys, 1..64", Options, NodeOptions,
                   GatewayOptions, PullOptions) {
  const std::string required = RequiredKeys<Options>();
  const int line = static_cast<int>(std::count(required.begin(), required.end(), '\n')) + 1;
  auto defaults = ParseConfig<Options>(required, "t.yaml");
  REQUIRE(defaults.ok());
  CHECK(defaults->aio_threads == kDefaultAioThreads);
  CHECK(defaults->hashing_threads == kDefaultHashingThreads);
  auto set = ParseConfig<Options>(required + "aio_threads: 16\nhashing_threads: 1\n", "t.yaml");
  INFO(set.status().message());
  REQUIRE(set.ok());
  CHECK(set->aio_threads == 16);
  CHECK(set->hashing_threads == 1);
  const std::string at = "t.yaml:" + std::to_string(line) + ": ";
  CHECK(StartsWith(ErrorOf<Options>(required + "aio_threads: 0\n").message(),
                   at + "aio_threads: must be between 1 and 64"));
  CHECK(StartsWith(ErrorOf<Options>(required + "hashing_threads: 65\n").message(),
                   at + "hashing_threads: must be between 1 and 64"));
  CHECK(StartsWith(ErrorOf<Options>(required + "aio_threads: many\n").message(),
                   at + "aio_threads: expected an integer"));
  const std::string doc = DescribeConfig<Options>();
  CHECK(doc.find("aio_threads (integer, default 4)") != std::string::npos);
  CHECK(doc.find("hashing_threads (integer, default 2)") != std::string::npos);
}

TEST_CASE("a gateway's share is a strict boolean") {
  const std::string required = RequiredKeys<GatewayOptions>();
  auto off = ParseConfig<GatewayOptions>(required + "share: false\n", "t.yaml");
  REQUIRE(off.ok());
  CHECK_FALSE(off->share);
  auto on = ParseConfig<GatewayOptions>(required + "share: true\n", "t.yaml");
  REQUIRE(on.ok());
  CHECK(on->share);
  CHECK(StartsWith(ErrorOf<GatewayOptions>(required + "share: yes\n").message(),
                   "t.yaml:5: share: expected true or false, got 'yes'"));
}

TEST_CASE("a publisher's diff settings are keys of their own, range-checked") {
  const std::string required = RequiredKeys<PublishOptions>();
  auto r = ParseConfig<PublishOptions>(required + "threads: 2\nframe_bytes: 65536\nchunk_bytes: 1048576\n"
                                                  "zstd_level: 9\nkeyframe_every: 5\n",
                                       "t.yaml");
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->diff.threads == 2);
  CHECK(r->diff.frame_bytes == 65536);
  CHECK(r->diff.chunk_bytes == 1048576);
  CHECK(r->diff.zstd_level == 9);
  CHECK(r->keyframe_every == 5);
  CHECK(r->keep == PublishOptions{}.keep);
  CHECK(StartsWith(ErrorOf<PublishOptions>(required + "frame_bytes: 100\n").message(),
                   "t.yaml:5: frame_bytes: must be between 4096 and 1073741824 bytes"));
  CHECK(StartsWith(ErrorOf<PublishOptions>(required + "frame_bytes: 4Mi\n").message(),
                   "t.yaml:5: frame_bytes: expected an unsigned integer, got '4Mi'"));
  CHECK(StartsWith(ErrorOf<PublishOptions>(required + "keyframe_every: 0\n").message(),
                   "t.yaml:5: keyframe_every: must be at least 1"));
}

TEST_CASE_TEMPLATE("each role: unknown key, wrong type, missing required key are one line naming file:line",
                   Options, NodeOptions, GatewayOptions, PublishOptions, PullOptions) {
  const std::string required = RequiredKeys<Options>();
  const int lines = static_cast<int>(std::count(required.begin(), required.end(), '\n'));
  auto line = [&](int n) { return "t.yaml:" + std::to_string(n) + ": "; };
  REQUIRE(ParseConfig<Options>(required, "t.yaml").ok());
  CHECK(StartsWith(ErrorOf<Options>(required + "\npeer: 127.0.0.1:1\n").message(),
                   line(lines + 2) + "unknown key 'peer' (known: "));
  CHECK(StartsWith(ErrorOf<Options>(required + "keep: soon\n").message(),
                   line(lines + 1) + "keep: expected an unsigned integer, got 'soon'"));
  // Drop the second required key: the error names the mapping's first line.
  std::string without = required.substr(0, required.find('\n') + 1) +
                        required.substr(required.find('\n', required.find('\n') + 1) + 1);
  std::string second = ConfigKeys<Options>()[1].name;
  CHECK(StartsWith(ErrorOf<Options>("# comment\n" + without).message(),
                   line(2) + "missing required key '" + second + "'"));
  // ... unless a command-line flag provides it.
  CHECK(ParseConfig<Options>(without, "t.yaml", {second}).ok());
}

TEST_CASE("an unknown key names its line") {
  Status s = ErrorOf(std::string(kRequired) + "listen: 127.0.0.1:0\npeer: 127.0.0.1:1\n");
  CHECK(StartsWith(s.message(), "t.yaml:6: unknown key 'peer'"));
}

TEST_CASE("a repeated key names its second line") {
  Status s = ErrorOf(std::string(kRequired) + "model: n\n");
  CHECK(StartsWith(s.message(), "t.yaml:5: key 'model' repeated"));
}

TEST_CASE("a value of the wrong type names its line") {
  CHECK(StartsWith(ErrorOf(std::string(kRequired) + "poll_interval_s: soon\n").message(),
                   "t.yaml:5: poll_interval_s: expected a number, got 'soon'"));
  CHECK(StartsWith(ErrorOf(std::string(kRequired) + "keep: -1\n").message(),
                   "t.yaml:5: keep: expected an unsigned integer"));
  CHECK(StartsWith(ErrorOf(std::string(kRequired) + "keep: 2.5\n").message(),
                   "t.yaml:5: keep: expected an unsigned integer"));
  CHECK(StartsWith(ErrorOf(std::string(kRequired) + "upload_rate: 99999999999\n").message(),
                   "t.yaml:5: upload_rate: 99999999999 is out of range"));
  CHECK(StartsWith(ErrorOf(std::string(kRequired) + "peers: 127.0.0.1:1\n").message(),
                   "t.yaml:5: peers: expected a list of strings"));
  CHECK(StartsWith(ErrorOf(std::string(kRequired) + "listen: [a, b]\n").message(),
                   "t.yaml:5: listen: expected a string, got a list"));
  // A bad list item is reported at the item's own line.
  CHECK(StartsWith(ErrorOf(std::string(kRequired) + "peers:\n  - 127.0.0.1:1\n  - {a: 1}\n").message(),
                   "t.yaml:7: peers item: expected a string, got a mapping"));
  // An empty value is positioned at its key.
  CHECK(StartsWith(ErrorOf("bucket:\nmodel: m\ndest: d\ntrust: [k]\n").message(),
                   "t.yaml:1: bucket: expected a string, got nothing"));
}

TEST_CASE("a value out of range names its line") {
  CHECK(StartsWith(ErrorOf(std::string(kRequired) + "\n\npoll_interval_s: 0\n").message(),
                   "t.yaml:7: poll_interval_s: must be > 0"));
  CHECK(StartsWith(ErrorOf("bucket: b\nmodel: m\ndest: d\ntrust: []\n").message(),
                   "t.yaml:4: trust: needs at least one key"));
}

TEST_CASE("a missing required key names the file and the mapping's line") {
  Status s = ErrorOf("# a node\nbucket: b\nmodel: m\ntrust: [k]\n");
  CHECK(StartsWith(s.message(), "t.yaml:2: missing required key 'dest'"));
  // ... unless a command-line flag provides it.
  auto r = ParseConfig<NodeOptions>("bucket: b\nmodel: m\ntrust: [k]\n", "t.yaml", {"dest"});
  CHECK(r.ok());
}

TEST_CASE("malformed YAML and a non-mapping name their line") {
  CHECK(StartsWith(ErrorOf(std::string(kRequired) + "peers: [a, b\n").message(), "t.yaml:"));
  CHECK(StartsWith(ErrorOf("bucket: b\nmodel: m\n  dest: d\n").message(), "t.yaml:3: illegal map value"));
  CHECK(StartsWith(ErrorOf("- a\n- b\n").message(), "t.yaml:1: expected a mapping of settings"));
  CHECK(StartsWith(ErrorOf("").message(), "t.yaml:"));  // empty: every required key missing
}

TEST_CASE("an unreadable config file is not found, naming it") {
  TempDir tmp;
  auto r = LoadConfig<GatewayOptions>(tmp / "absent.yaml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kNotFound);
  CHECK(r.status().message().find("absent.yaml") != std::string::npos);
}

TEST_CASE("a flag's value gets the key's range check") {
  GatewayOptions o;
  CHECK(CheckConfigValue(o, "keep").empty());
  o.keep = 0;
  CHECK(CheckConfigValue(o, "keep") == "must be at least 1");
  CHECK(CheckConfigValue(o, "peers").empty());  // no check
}
