// `deltaswarm node` as separate processes on 127.0.0.1: a `seed` process
// serves version 1, two nodes follow the bucket (a directory: only the swarm
// can deliver chunks), `publish --seed` publishes and serves version 2, both
// nodes reach it byte-identical, run on_update, keep seeding, and exit 0 on
// SIGTERM within a bounded time. Every process is killed on any exit.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "deltaswarm/manifest.h"
#include "deltaswarm/synth.h"
#include "cluster_certificates.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;

namespace {

using Clock = std::chrono::steady_clock;

// A spawned deltaswarm with stdout and stderr in files; SIGTERM, then
// SIGKILL, on scope exit unless already reaped.
struct Process {
  int pid = -1;
  Process(const std::vector<std::string>& args, const std::string& out, const std::string& err) {
    std::vector<std::string> copy = args;
    copy.insert(copy.begin(), DS_BINARY);
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::fflush(nullptr);
    pid = ::fork();
    if (pid == 0) {
      int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(o, STDOUT_FILENO);
      ::dup2(e, STDERR_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~Process() {
    if (pid > 0) {
      ::kill(pid, SIGTERM);
      if (WaitFor(pid, 10) < 0) KillAndReap(pid);
    }
  }
  // SIGTERM and wait; the exit code, or -1 if it took longer than timeout_s (then killed).
  int Terminate(double timeout_s) {
    ::kill(pid, SIGTERM);
    int rc = WaitFor(pid, timeout_s);
    pid = -1;
    return rc;
  }
};

std::string ReadText(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

bool WaitUntil(const std::function<bool()>& done, double timeout_s) {
  auto until = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < until) {
    if (done()) return true;
    ::usleep(100000);
  }
  return done();
}

std::string WaitForLine(const std::string& path, double timeout_s) {
  std::string line;
  WaitUntil([&] {
    std::ifstream f(path);
    return f && std::getline(f, line) && !line.empty();
  }, timeout_s);
  return line;
}

bool HasLine(const std::string& path, const std::string& want) {
  std::istringstream in(ReadText(path));
  for (std::string line; std::getline(in, line);)
    if (line == want) return true;
  return false;
}

// A loopback port free right now (for a process that must listen on a port
// known in advance).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

// The JSON lines of a --json run's stdout.
std::vector<nlohmann::json> JsonLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(ReadText(path));
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line[0] == '{') out.push_back(nlohmann::json::parse(line, nullptr, false));
  return out;
}

}  // namespace

TEST_CASE("two nodes follow versions 1 and 2 over the swarm, run on_update, re-seed, and stop on SIGTERM") {
  TempDir tmp;
  const ClusterCertificates certs;  // a closed swarm: TLS torrents, every role with a certificate
  SynthOptions s;
  s.out_dir = tmp / "ckpt";
  s.params = 2000000;  // 4 MB of bf16
  s.versions = 1;
  s.lr = 1e-5;
  REQUIRE(Synthesize(s, nullptr).ok());
  REQUIRE(GenerateKeyPair(tmp / "key", false).ok());
  auto publish = [&](int v) {
    return Concat({"publish", "--bucket", tmp / "bucket", "--model", "m", "--key", tmp / "key", "--state",
                   tmp / "state", "-q", tmp / "ckpt/v" + std::to_string(v) + "/model.safetensors"},
                  certs.PublishFlags());
  };
  auto first = RunDeltaswarm(publish(0));
  INFO(first.err);
  REQUIRE(first.exit_code == 0);

  Process seed(Concat({"seed", "--bucket", tmp / "bucket", "--model", "m", "--trust", tmp / "key.pub", "--dir",
                       tmp / "seed", "--listen", "127.0.0.1:0", "--ready-file", tmp / "seed.ready", "-q"},
                      certs.Flags(certs.seed)),
               tmp / "seed.out", tmp / "seed.err");
  std::string seed_ep = WaitForLine(tmp / "seed.ready", 60);
  REQUIRE(!seed_ep.empty());

  // publish --seed will listen here, so that the nodes know it in advance.
  const std::string publisher_ep = "127.0.0.1:" + std::to_string(FreePort());
  auto node_config = [&](int i) {
    std::string n = std::to_string(i);
    std::string path = tmp / ("node" + n + ".yaml");
    std::ofstream(path) << "bucket: " << tmp / "bucket" << "\n"
                        << "model: m\n"
                        << "dest: " << tmp / ("node" + n) << "\n"
                        << "trust: [" << tmp / "key.pub" << "]\n"
                        << "listen: 127.0.0.1:0\n"
                        << "peers: [" << seed_ep << ", " << publisher_ep << "]\n"
                        << "poll_interval_s: 0.5\n"
                        << "fallback_after_s: -1\n"
                        << "seed_versions: 2\n"
                        << "tls_cert: " << certs.node.cert_path << "\n"
                        << "tls_key: " << certs.node.key_path << "\n"
                        << "tls_ca: " << certs.ca_cert() << "\n"
                        << "on_update: echo $DELTASWARM_VERSION >> " << tmp / ("hook" + n)
                        << " && test -f $DELTASWARM_CHECKPOINT/model.safetensors\n";
    return path;
  };
  auto start_node = [&](int i, const std::string& suffix) {
    std::string n = std::to_string(i);
    return std::make_unique<Process>(
        std::vector<std::string>{"node", "--config", node_config(i), "--ready-file", tmp / ("node" + n + ".ready"),
                                 "--json"},
        tmp / ("node" + n + suffix + ".out"), tmp / ("node" + n + suffix + ".err"));
  };
  std::vector<std::unique_ptr<Process>> nodes;
  for (int i = 0; i < 2; ++i) nodes.push_back(start_node(i, ""));

  for (int i = 0; i < 2; ++i) {
    std::string n = std::to_string(i);
    INFO("node " << i << ": " << ReadText(tmp / ("node" + n + ".err")));
    REQUIRE(WaitUntil([&] { return HasLine(tmp / ("hook" + n), "1"); }, 90));
    CHECK(SameTree(tmp / ("node" + n + "/current/model.safetensors"), tmp / "ckpt/v0/model.safetensors"));
  }

  Process publisher(Concat(Concat({"publish", "--bucket", tmp / "bucket", "--model", "m", "--key", tmp / "key",
                                   "--state", tmp / "state", "--seed", "--listen", publisher_ep, "--ready-file",
                                   tmp / "publisher.ready", tmp / "ckpt/v1/model.safetensors"},
                                  certs.PublishFlags()),
                           certs.KeyFlags(certs.seed)),
                    tmp / "publisher.out", tmp / "publisher.err");
  {
    INFO("publisher: " << ReadText(tmp / "publisher.err"));
    REQUIRE(!WaitForLine(tmp / "publisher.ready", 60).empty());
    CHECK(ReadText(tmp / "publisher.out").find("seeding m version 2 on " + publisher_ep) != std::string::npos);
  }

  for (int i = 0; i < 2; ++i) {
    std::string n = std::to_string(i);
    INFO("node " << i << ": " << ReadText(tmp / ("node" + n + ".err")) << ReadText(tmp / ("node" + n + ".out")));
    REQUIRE(WaitUntil([&] { return HasLine(tmp / ("hook" + n), "2"); }, 120));
    CHECK(SameTree(tmp / ("node" + n + "/current/model.safetensors"), tmp / "ckpt/v1/model.safetensors"));
    CHECK(ReadText(tmp / ("hook" + n)) == "1\n2\n");
  }

  // Both versions' chunks are kept for seeding, and status says so.
  auto status = RunDeltaswarm({"status", "--dest", tmp / "node0", "--json"});
  REQUIRE(status.exit_code == 0);
  auto summary = nlohmann::json::parse(status.out.substr(0, status.out.find('\n')));
  CHECK(summary["result"]["current"] == 2);
  CHECK(summary["result"]["seeding"] == nlohmann::json::array({1, 2}));

  for (int i = 0; i < 2; ++i) {
    std::string n = std::to_string(i);
    auto t0 = Clock::now();
    CHECK(nodes[i]->Terminate(5) == 0);
    CHECK(std::chrono::duration<double>(Clock::now() - t0).count() < 3.0);
    // Version 2 came over the swarm: nothing but manifests and torrents from the bucket.
    bool pulled2 = false;
    for (const auto& e : JsonLines(tmp / ("node" + n + ".out"))) {
      if (e.value("type", "") != "pulled" || e["version"] != 2) continue;
      pulled2 = true;
      CHECK(e["pull"]["downloaded_bytes"] == 0);
      CHECK(e["pull"]["swarm_bytes"].get<uint64_t>() > 0);
    }
    CHECK(pulled2);
    auto lines = JsonLines(tmp / ("node" + n + ".out"));
    REQUIRE(!lines.empty());
    CHECK(lines.back()["event"] == "summary");
    CHECK(lines.back()["ok"] == true);
  }

  // A restarted node re-seeds the chunks it keeps before it reports ready.
  auto again = start_node(0, "-again");
  REQUIRE(WaitUntil([&] { return ReadText(tmp / "node0-again.out").find("\"ready\"") != std::string::npos; }, 60));
  bool reseeded = false;
  for (const auto& e : JsonLines(tmp / "node0-again.out"))
    reseeded |= e.value("type", "") == "seeding" && e["version"] == 2;
  CHECK(reseeded);
  CHECK(again->Terminate(5) == 0);
  CHECK(ReadText(tmp / "hook0") == "1\n2\n");  // nothing new: no hook
}

TEST_CASE("publish --seed listens before refs/latest names the version, so no node dials a seed not yet there") {
  TempDir tmp;
  const ClusterCertificates certs;
  WriteSafetensors(tmp / "model.safetensors", {{"w", "BF16", {4096}, RandomBytes(8192, 7)}});
  REQUIRE(RunDeltaswarm({"keygen", "-o", tmp / "key", "-q"}).exit_code == 0);
  ChildProcess publish(SpawnDeltaswarmTo(Concat(Concat({"publish", "--bucket", tmp / "bucket", "--model", "m", "--key",
                                                        tmp / "key", "--state", tmp / "state", "--seed", "--listen",
                                                        "127.0.0.1:0", "--ready-file", tmp / "ready", "-q",
                                                        tmp / "model.safetensors"},
                                                       certs.PublishFlags()),
                                                certs.KeyFlags(certs.seed)),
                                         "", tmp / "publish.err"));
  const std::string latest = tmp / "bucket/m/refs/latest";
  // Polled every millisecond: the moment refs/latest exists, the seed must already serve.
  const auto until = Clock::now() + std::chrono::seconds(60);
  while (!std::filesystem::exists(latest) && Clock::now() < until) ::usleep(1000);
  REQUIRE_MESSAGE(std::filesystem::exists(latest), ReadText(tmp / "publish.err"));
  CHECK(!ReadText(tmp / "ready").empty());
  CHECK(ReadText(latest).find("\"version\":1}") != std::string::npos);  // the signed statement
}
