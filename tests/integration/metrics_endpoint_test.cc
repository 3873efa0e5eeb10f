// The Prometheus endpoint of `deltaswarm node` and `gateway`, end to end on
// 127.0.0.1: a node pulls a published version (from a directory bucket) with
// --metrics-listen; its /metrics shows the version, the bucket bytes and one
// pull; `promtool check metrics` accepts the text; a real Prometheus server
// (Debian's prometheus package) scrapes it and answers a query with the
// version. The same for a gateway's version metrics. Fails, not skips,
// without prometheus. Every process is stopped by pid on any exit.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

#include "publish_world.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;

namespace {

constexpr const char* kPrometheus = "/usr/bin/prometheus";
constexpr double kWaitS = 90;

// GET http://127.0.0.1:port<path> (HTTP/1.0: no chunked answer); the body, or "" on any failure.
std::string HttpGet(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[8192];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  size_t body = reply.find("\r\n\r\n");
  if (reply.rfind("HTTP/1.", 0) != 0 || reply.find(" 200 ") == std::string::npos || body == std::string::npos)
    return "";
  return reply.substr(body + 4);
}

bool WaitUntil(const std::function<bool()>& done, double timeout_s) {
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    ::usleep(200000);
  }
  return done();
}

// The value of the sample line "series value" in a text exposition, or "" if absent.
std::string Sample(const std::string& text, const std::string& series) {
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return "";
  at += series.size() + 2;
  return text.substr(at, text.find('\n', at) - at);
}

uint64_t BytesUnder(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) total += e.file_size();
  return total;
}

void RequirePrometheus() {
  INFO("this test needs Prometheus and promtool: apt-get install prometheus (scripts/install-deps.sh lists it)");
  REQUIRE(std::filesystem::exists(kPrometheus));
  REQUIRE(std::system("command -v promtool > /dev/null") == 0);
}

// promtool's verdict on a text exposition: "" when it accepts it, else what it said.
std::string PromtoolCheck(const TempDir& tmp, const std::string& text, const std::string& name) {
  const std::string in = tmp / (name + ".prom"), out = tmp / (name + ".promtool");
  WriteText(in, text);
  int rc = std::system(("timeout 60 promtool check metrics < '" + in + "' > '" + out + "' 2>&1").c_str());
  return rc == 0 ? "" : "promtool exit " + std::to_string(rc) + ": " + ReadFileText(out);
}

// Runs a Prometheus server that scrapes 127.0.0.1:target every second and
// waits (bounded) until its query API returns want for query; stopped by pid.
void CheckScrapedBy(const TempDir& tmp, const std::string& name, int target, const std::string& query,
                    const std::string& want) {
  const std::vector<int> ports = FreeTcpPorts(1);
  const std::string dir = tmp / ("prometheus-" + name);
  std::filesystem::create_directories(dir + "/data");
  WriteText(dir + "/prometheus.yml", "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                                     "scrape_configs:\n  - job_name: " + name + "\n    static_configs:\n"
                                     "      - targets: ['127.0.0.1:" + std::to_string(target) + "']\n");
  ChildProcess prometheus(SpawnProgram(kPrometheus,
                                       {"--config.file=" + dir + "/prometheus.yml", "--storage.tsdb.path=" + dir + "/data",
                                        "--web.listen-address=127.0.0.1:" + std::to_string(ports[0])},
                                       dir + "/out.log", dir + "/err.log"));
  REQUIRE(prometheus.running());
  std::string last;
  const bool seen = WaitUntil(
      [&] {
        last = HttpGet(ports[0], "/api/v1/query?query=" + query);
        return last.find("\"status\":\"success\"") != std::string::npos &&
               last.find(",\"" + want + "\"]") != std::string::npos;
      },
      kWaitS);
  INFO("last answer: " << last << "\nprometheus log tail: " << ReadFileText(dir + "/err.log").substr(0, 4000));
  CHECK(seen);
  prometheus.Stop();
}

}  // namespace

TEST_CASE("a node's /metrics after a pull: exact values, promtool accepts it, Prometheus scrapes it") {
  RequirePrometheus();
  PublishWorld w(/*http=*/false);
  REQUIRE(w.PublishVersion(1).ok());
  const uint64_t artifact_bytes = BytesUnder(w.BucketDir() + "/m/versions/1/keyframe");
  REQUIRE(artifact_bytes > 0);
  const int port = FreeTcpPorts(1)[0];
  ChildProcess node(SpawnDeltaswarmTo({"node", "--bucket", w.bucket, "--model", "m", "--dest", w.tmp / "node", "--trust",
                                       w.tmp / "key.pub", "--listen", "127.0.0.1:0", "--poll-interval", "1", "-j", "1",
                                       "--metrics-listen", "127.0.0.1:" + std::to_string(port), "--json"},
                                      w.tmp / "node.out", w.tmp / "node.err"));
  std::string text;
  const bool pulled = WaitUntil(
      [&] {
        text = HttpGet(port, "/metrics");
        return Sample(text, "deltaswarm_version_current") == "1";
      },
      kWaitS);
  INFO("metrics:\n" << text << "\nnode stderr: " << ReadFileText(w.tmp / "node.err"));
  REQUIRE(pulled);
  CHECK(Sample(text, "deltaswarm_version_latest") == "1");
  CHECK(Sample(text, "deltaswarm_received_bytes_total{source=\"bucket\"}") == std::to_string(artifact_bytes));
  CHECK(Sample(text, "deltaswarm_received_bytes_total{source=\"swarm\"}") == "0");
  CHECK(Sample(text, "deltaswarm_pull_duration_seconds_count") == "1");
  CHECK(Sample(text, "deltaswarm_pull_duration_seconds_bucket{le=\"+Inf\"}") == "1");
  CHECK(Sample(text, "deltaswarm_apply_duration_seconds_count") == "1");
  CHECK(Sample(text, "deltaswarm_failures_total{kind=\"pull_failed\"}") == "0");
  CHECK(Sample(text, "deltaswarm_hash_failures_total") == "0");
  CHECK(text.find("# TYPE deltaswarm_pull_duration_seconds histogram\n") != std::string::npos);
  CHECK(PromtoolCheck(w.tmp, text, "node") == "");
  CHECK(HttpGet(port, "/other").empty());  // 404: only /metrics is served
  CheckScrapedBy(w.tmp, "node", port, "deltaswarm_version_current", "1");
}

TEST_CASE("a gateway's /metrics: the version it serves, promtool accepts it, Prometheus scrapes it") {
  RequirePrometheus();
  PublishWorld w(/*http=*/false);
  REQUIRE(w.PublishVersion(1).ok());
  const int port = FreeTcpPorts(1)[0];
  ChildProcess gateway(SpawnDeltaswarmTo({"gateway", "--bucket", w.bucket, "--model", "m", "--dir", w.tmp / "gw",
                                          "--trust", w.tmp / "key.pub", "--listen", "127.0.0.1:0", "--http",
                                          "127.0.0.1:0", "--poll-interval", "1", "--metrics-listen",
                                          "127.0.0.1:" + std::to_string(port), "--json"},
                                         w.tmp / "gw.out", w.tmp / "gw.err"));
  std::string text;
  const bool mirrored = WaitUntil(
      [&] {
        text = HttpGet(port, "/metrics");
        return Sample(text, "deltaswarm_version_current") == "1";
      },
      kWaitS);
  INFO("metrics:\n" << text << "\ngateway stderr: " << ReadFileText(w.tmp / "gw.err"));
  REQUIRE(mirrored);
  CHECK(Sample(text, "deltaswarm_version_latest") == "1");
  CHECK(Sample(text, "deltaswarm_pull_duration_seconds_count") == "1");
  CHECK(Sample(text, "deltaswarm_received_bytes_total{source=\"bucket\"}") ==
        std::to_string(BytesUnder(w.BucketDir() + "/m/versions/1/keyframe")));
  CHECK(text.find("deltaswarm_apply_duration_seconds") == std::string::npos);  // a gateway never applies
  CHECK(PromtoolCheck(w.tmp, text, "gateway") == "");
  CheckScrapedBy(w.tmp, "gateway", port, "deltaswarm_version_latest", "1");
}
