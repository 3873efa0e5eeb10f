// The config loader: the example file, defaults, and each kind of error with
// the line it names.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

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
Status ErrorOf(const std::string& text) {
  auto r = ParseNodeConfig(text, "t.yaml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK(r.status().message().find('\n') == std::string::npos);  // one line
  return r.status();
}

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

TEST_CASE("configs/node.yaml loads, and documents every key") {
  std::string path = std::string(DS_CONFIGS_DIR) + "/node.yaml";
  auto r = LoadNodeConfig(path);
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->bucket == "http://hub.example:8080/hub");
  CHECK(r->model == "llama-8b");
  CHECK(r->trust == std::vector<std::string>{"/etc/deltaswarm/publisher.pub"});
  CHECK(r->peers == std::vector<std::string>{"10.0.0.2:6881", "10.0.0.3:6881"});
  CHECK(r->trackers.empty());
  CHECK(r->listen == "0.0.0.0:6881");
  CHECK(r->poll_interval_s == 10);
  CHECK(r->seed_versions == 2);
  CHECK(r->on_update == "systemctl reload inference-server");

  std::ifstream f(path);
  std::stringstream text;
  text << f.rdbuf();
  for (const auto& key : NodeConfigKeys()) {
    INFO(key);
    CHECK(text.str().find("\n" + key + ":") != std::string::npos);
  }
}

TEST_CASE("keys left out keep the option struct's defaults; every key is described") {
  auto r = ParseNodeConfig(kRequired, "t.yaml");
  REQUIRE(r.ok());
  NodeOptions d;
  CHECK(r->listen == d.listen);
  CHECK(r->poll_interval_s == d.poll_interval_s);
  CHECK(r->fallback_after_s == d.fallback_after_s);
  CHECK(r->keep == d.keep);
  CHECK(r->seed_versions == d.seed_versions);
  CHECK(r->peers.empty());
  std::string doc = DescribeNodeConfig();
  CHECK(doc.find("bucket (string, required)") != std::string::npos);
  CHECK(doc.find("keep (unsigned integer, default 3)") != std::string::npos);
  CHECK(doc.find("fallback_after_s (number, default 10)") != std::string::npos);
}

TEST_CASE("every setting of the schema is read") {
  auto r = ParseNodeConfig(std::string(kRequired) +
                               "listen: 127.0.0.1:0\n"
                               "peers: [127.0.0.1:1, 127.0.0.1:2]\n"
                               "trackers:\n  - http://t/announce\n"
                               "poll_interval_s: 0.5\n"
                               "fallback_after_s: -1\n"
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
  CHECK(r->keep == 4);
  CHECK(r->seed_versions == 0);
  CHECK(r->upload_rate == 1000000);
  CHECK(r->download_rate == 2000000);
  CHECK(r->on_update == "echo $DELTASWARM_VERSION >> log");
  CHECK(r->threads == 2);
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
  CHECK(StartsWith(ErrorOf("bucket: b\nmodel: m\ndest: d\ntrust: []\n").message(), "t.yaml:4: trust: needs at least one key"));
}

TEST_CASE("a missing required key names the file and the mapping's line") {
  Status s = ErrorOf("# a node\nbucket: b\nmodel: m\ntrust: [k]\n");
  CHECK(StartsWith(s.message(), "t.yaml:2: missing required key 'dest'"));
  // ... unless a command-line flag provides it.
  auto r = ParseNodeConfig("bucket: b\nmodel: m\ntrust: [k]\n", "t.yaml", {"dest"});
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
  auto r = LoadNodeConfig(tmp / "absent.yaml");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kNotFound);
  CHECK(r.status().message().find("absent.yaml") != std::string::npos);
}
