// Hostile buckets (issue 12): objects larger than the signed manifest lists,
// bodies without a length or with a lying one, a bucket that drips 2 KiB/s,
// and a stop in the middle of an object. The HTTP cases talk to a tiny
// server on 127.0.0.1 written here with a raw socket (the real client, no
// mock), since no real server answers like this. Bytes written are watched
// twice: the output file's size at every progress callback, and
// RLIMIT_FSIZE at the bound, under which a write past it would fail the
// download with kIoError (EFBIG) instead of the kCorruption the bound gives.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include "bucket/directory_bucket.h"
#include "bucket/http_bucket.h"
#include "deltaswarm/bucket.h"
#include "deltaswarm/manifest.h"
#include "publish_world.h"
#include "roles/artifact_transfer.h"
#include "roles/bucket_layout.h"
#include "test_util.h"

namespace deltaswarm {
namespace {

namespace fs = std::filesystem;
using testing::ChildProcess;
using testing::PublishWorld;
using testing::TempDir;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// While alive, no write of this process reaches past `bytes` in any file: it
// fails with EFBIG (SIGXFSZ ignored meanwhile).
class FileSizeLimit {
 public:
  explicit FileSizeLimit(uint64_t bytes) {
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_) == 0);
    old_handler_ = ::signal(SIGXFSZ, SIG_IGN);
    rlimit r{static_cast<rlim_t>(bytes), old_.rlim_max};
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &r) == 0);
  }
  ~FileSizeLimit() {
    ::setrlimit(RLIMIT_FSIZE, &old_);
    ::signal(SIGXFSZ, old_handler_);
  }
  FileSizeLimit(const FileSizeLimit&) = delete;
  FileSizeLimit& operator=(const FileSizeLimit&) = delete;

 private:
  rlimit old_{};
  sighandler_t old_handler_ = SIG_DFL;
};

// The largest size and allocation a file reached, sampled at each call.
struct FileWatch {
  std::string path;
  uint64_t max_size = 0, max_allocated = 0, calls = 0;
  void Sample() {
    ++calls;
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return;
    max_size = std::max<uint64_t>(max_size, static_cast<uint64_t>(st.st_size));
    max_allocated = std::max<uint64_t>(max_allocated, static_cast<uint64_t>(st.st_blocks) * 512);
  }
  ProgressFn Progress() {
    return [this](const char*, uint64_t, uint64_t) { Sample(); };
  }
};

int TemporaryFiles(const std::string& root) {
  int n = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->path().filename().string().find(".tmp-") != std::string::npos) ++n;
  }
  return n;
}

// An HTTP/1.1 server on 127.0.0.1 for answers no real server gives: one
// thread accepts, reads one request head per connection, hands the socket
// to the handler and closes it. Every wait is bounded (poll and socket
// timeouts of 100-200 ms, checked against the stop flag); the destructor
// stops and joins the thread.
class RawHttpServer {
 public:
  using Handler = std::function<void(RawHttpServer& server, int fd, const std::string& method,
                                     const std::string& path)>;

  explicit RawHttpServer(Handler handler) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listen_fd_, 16) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~RawHttpServer() {
    stopping_ = true;
    if (thread_.joinable()) thread_.join();
    ::close(listen_fd_);
  }
  RawHttpServer(const RawHttpServer&) = delete;
  RawHttpServer& operator=(const RawHttpServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  bool stopping() const { return stopping_; }
  uint64_t body_bytes_sent() const { return body_sent_; }
  int requests() const { return requests_; }

  // Sends all of data; false once the peer is gone or the server stops.
  bool Send(int fd, std::string_view data, bool body = true) {
    while (!data.empty()) {
      if (stopping_) return false;
      ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;  // SO_SNDTIMEO
      if (n <= 0) return false;
      if (body) body_sent_ += static_cast<uint64_t>(n);
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // Waits ms; false if the peer closed its side or the server stops.
  bool Pause(int ms, int fd) {
    for (auto end = Clock::now() + std::chrono::milliseconds(ms); Clock::now() < end;) {
      if (stopping_) return false;
      pollfd p{fd, POLLIN | POLLRDHUP, 0};
      if (::poll(&p, 1, 20) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) return false;
    }
    return !stopping_;
  }

 private:
  void Loop() {
    while (!stopping_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      timeval tv{0, 200 * 1000};
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::string method, path;
      if (ReadHead(fd, &method, &path)) {
        ++requests_;
        handler_(*this, fd, method, path);
      }
      ::close(fd);
    }
  }
  // The request line of one head (GET and HEAD have no body), within 5 s.
  bool ReadHead(int fd, std::string* method, std::string* path) {
    std::string head;
    for (auto end = Clock::now() + std::chrono::seconds(5); Clock::now() < end && !stopping_ && head.size() < 65536;) {
      char buf[4096];
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n == 0) return false;
      if (n < 0) continue;  // SO_RCVTIMEO
      head.append(buf, static_cast<size_t>(n));
      if (head.find("\r\n\r\n") == std::string::npos) continue;
      size_t sp1 = head.find(' '), sp2 = head.find(' ', sp1 + 1);
      if (sp1 == std::string::npos || sp2 == std::string::npos) return false;
      *method = head.substr(0, sp1);
      *path = head.substr(sp1 + 1, sp2 - sp1 - 1);
      return true;
    }
    return false;
  }

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> body_sent_{0};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

// Streams up to `limit` bytes of 'x' in 64 KiB writes, until the client goes.
void Flood(RawHttpServer& s, int fd, uint64_t limit) {
  const std::string block(64 << 10, 'x');
  for (uint64_t sent = 0; sent < limit; sent += block.size()) {
    if (!s.Send(fd, block)) return;
  }
}

// `bytes` bytes at 2 KiB/s: 205 bytes every 100 ms, until the client goes.
void Drip(RawHttpServer& s, int fd, uint64_t bytes) {
  const std::string tick(205, 'd');
  for (uint64_t sent = 0; sent < bytes; sent += tick.size()) {
    if (!s.Send(fd, std::string_view(tick).substr(0, std::min<uint64_t>(tick.size(), bytes - sent)))) return;
    if (!s.Pause(100, fd)) return;
  }
}

std::string Header(uint64_t content_length) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
         std::to_string(content_length) + "\r\nConnection: close\r\n\r\n";
}

constexpr uint64_t kListed = 2'900'000;  // what the "manifest" lists
constexpr uint64_t kGiB = 1ull << 30;

TEST_CASE("directory bucket: a 1 GiB sparse object listed at 2.9 MB is refused before a byte is written") {
  TempDir t;
  fs::create_directories(t / "bucket/m/versions/1/keyframe");
  {
    std::ofstream(t / "bucket/m/versions/1/keyframe/chunk-000000.dsc").put('x');
  }
  fs::resize_file(t / "bucket/m/versions/1/keyframe/chunk-000000.dsc", kGiB);  // sparse: no blocks
  DirectoryBucket bucket(t / "bucket");
  FileWatch watch{t / "out"};
  Result<uint64_t> got = Status::Ok();
  {
    FileSizeLimit limit(kListed);
    got = bucket.GetToFile("m/versions/1/keyframe/chunk-000000.dsc", watch.path, kListed, watch.Progress(), nullptr);
  }
  CHECK(got.status().code() == Code::kCorruption);
  CHECK(got.status().message().find("chunk-000000.dsc") != std::string::npos);
  CHECK(got.status().message().find(std::to_string(kGiB)) != std::string::npos);
  CHECK(!fs::exists(watch.path));
  CHECK(watch.max_size == 0);  // refused on fstat: nothing was copied at all
  MESSAGE("sparse 1 GiB, bound " << kListed << ": " << watch.calls << " progress calls, at most " << watch.max_size
                                 << " bytes written");
  CHECK(bucket.Get("m/versions/1/keyframe/chunk-000000.dsc", kListed).status().code() == Code::kCorruption);
}

TEST_CASE("DownloadArtifact: a chunk larger, smaller or linked than the manifest lists is refused") {
  PublishWorld w(false);
  REQUIRE(w.PublishVersion(1).ok());
  auto bucket = OpenBucket(w.bucket);
  REQUIRE(bucket.ok());
  const Manifest m = w.PublishedManifest(1);
  const ManifestArtifact& keyframe = *m.Find("keyframe");
  REQUIRE(!keyframe.chunks.empty());
  const ManifestChunk& chunk = keyframe.chunks.front();
  const std::string object = w.BucketDir() + "/m/versions/1/keyframe/" + chunk.name;
  const std::string saved = w.tmp / "saved.dsc";
  fs::copy_file(object, saved);
  const std::string dl = w.tmp / "dl";

  SUBCASE("larger: a 1 GiB sparse file") {
    fs::remove(object);
    {
      std::ofstream(object).put('x');
    }
    fs::resize_file(object, kGiB);
    Result<uint64_t> got = Status::Ok();
    {
      // The index and the chunk are each at most their listed size.
      FileSizeLimit limit(std::max(keyframe.index_size, chunk.size));
      got = DownloadArtifact(**bucket, "m", 1, keyframe, dl, nullptr, nullptr);
    }
    CHECK(got.status().code() == Code::kCorruption);
    CHECK(got.status().message().find(chunk.name) != std::string::npos);
    CHECK(got.status().message().find("signed manifest") != std::string::npos);
    CHECK(TemporaryFiles(dl) == 0);
    CHECK(!fs::exists(dl + "/" + chunk.name));
  }
  SUBCASE("smaller: one byte short") {
    fs::remove(object);
    fs::copy_file(saved, object);
    fs::resize_file(object, chunk.size - 1);
    auto got = DownloadArtifact(**bucket, "m", 1, keyframe, dl, nullptr, nullptr);
    CHECK(got.status().code() == Code::kCorruption);
    CHECK(got.status().message().find(chunk.name) != std::string::npos);
    CHECK(TemporaryFiles(dl) == 0);
  }
  SUBCASE("a symbolic link, even to the right bytes") {
    fs::remove(object);
    fs::create_symlink(saved, object);
    auto got = DownloadArtifact(**bucket, "m", 1, keyframe, dl, nullptr, nullptr);
    CHECK(got.status().code() == Code::kNotFound);
    CHECK(got.status().message().find(chunk.name) != std::string::npos);
    CHECK(TemporaryFiles(dl) == 0);
  }
}

TEST_CASE("http bucket: a body without Content-Length past the bound is aborted at the bound") {
  RawHttpServer server([](RawHttpServer& s, int fd, const std::string&, const std::string&) {
    if (!s.Send(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", false)) return;
    Flood(s, fd, 256ull << 20);
  });
  HttpBucket bucket(server.url());
  TempDir t;
  FileWatch watch{t / "out"};
  Result<uint64_t> got = Status::Ok();
  {
    FileSizeLimit limit(kListed);
    got = bucket.GetToFile("m/versions/1/keyframe/chunk-000000.dsc", watch.path, kListed, watch.Progress(), nullptr);
  }
  INFO(got.status().ToString());
  CHECK(got.status().code() == Code::kCorruption);
  CHECK(got.status().message().find("chunk-000000.dsc") != std::string::npos);
  CHECK(!fs::exists(watch.path));
  CHECK(watch.max_size <= kListed);
  CHECK(server.requests() == 1);  // not retried
  MESSAGE("no Content-Length: server sent " << server.body_bytes_sent() << " bytes; file reached " << watch.max_size
                                            << " (bound " << kListed << ")");
}

TEST_CASE("http bucket: a Content-Length past the bound is refused before the body") {
  RawHttpServer server([](RawHttpServer& s, int fd, const std::string&, const std::string&) {
    if (!s.Send(fd, Header(kGiB), false)) return;
    Flood(s, fd, kGiB);
  });
  HttpBucket bucket(server.url());
  TempDir t;
  FileWatch watch{t / "out"};
  Result<uint64_t> got = Status::Ok();
  {
    FileSizeLimit limit(kListed);
    got = bucket.GetToFile("k", watch.path, kListed, watch.Progress(), nullptr);
  }
  INFO(got.status().ToString());
  CHECK(got.status().code() == Code::kCorruption);
  CHECK(got.status().message().find("Content-Length") != std::string::npos);
  CHECK(!fs::exists(watch.path));
  CHECK(watch.max_size == 0);
  CHECK(bucket.Get("k", kListed).status().code() == Code::kCorruption);
  MESSAGE("lying Content-Length: server sent " << server.body_bytes_sent() << " bytes; file reached "
                                               << watch.max_size);
}

TEST_CASE("http bucket: a body longer than its own Content-Length stops at the bound") {
  // Says 1000 bytes (within the bound of 1000), sends a flood: curl stops at
  // the length, and the file holds exactly it.
  RawHttpServer server([](RawHttpServer& s, int fd, const std::string&, const std::string&) {
    if (!s.Send(fd, Header(1000), false)) return;
    Flood(s, fd, 16 << 20);
  });
  HttpBucket bucket(server.url());
  TempDir t;
  auto got = bucket.GetToFile("k", t / "out", 1000, nullptr, nullptr);
  REQUIRE_MESSAGE(got.ok(), got.status().ToString());
  CHECK(*got == 1000);
  CHECK(fs::file_size(t / "out") == 1000);
}

TEST_CASE("http bucket: a bucket dripping 2 KiB/s fails by its deadline, a stop ends it within 1 s") {
  RawHttpServer server([](RawHttpServer& s, int fd, const std::string&, const std::string& path) {
    const uint64_t size = path.find("silent") != std::string::npos ? 1 << 20 : 20000;
    if (!s.Send(fd, Header(size), false)) return;
    if (path.find("silent") != std::string::npos) {
      while (s.Pause(100, fd)) {
      }
      return;
    }
    Drip(s, fd, size);
  });
  TempDir t;

  SUBCASE("the deadline: 1 s + 20000 bytes at 10 kB/s = 3 s, where the drip needs 9.8 s") {
    HttpOptions options;
    options.budget.allowance = std::chrono::seconds(1);
    options.budget.min_bytes_per_s = 10000;
    HttpBucket bucket(server.url(), options);
    auto start = Clock::now();
    auto got = bucket.GetToFile("drip", t / "out", 20000, nullptr, nullptr);
    double took = SecondsSince(start);
    INFO(got.status().ToString());
    CHECK(got.status().code() == Code::kIoError);
    CHECK(got.status().message().find("deadline") != std::string::npos);
    CHECK(took >= 2.9);
    CHECK(took < 4.0);
    CHECK(!fs::exists(t / "out"));
    CHECK(server.requests() == 1);  // a passed deadline is final, not retried
    MESSAGE("drip: ended by its deadline after " << took << " s (deadline 3 s), " << server.body_bytes_sent()
                                                 << " bytes sent");
  }
  for (const char* key : {"drip", "silent"}) {
    SUBCASE((std::string("a stop in the middle of the object: ") + key).c_str()) {
      HttpBucket bucket(server.url());  // default budget: 30 s + 20 ms
      StopSignal stop;
      Clock::time_point requested{};
      std::thread stopper([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(1500));
        requested = Clock::now();
        stop.Request();
      });
      uint64_t progressed = 0;
      auto got = bucket.GetToFile(key, t / "out", 1 << 20, [&](const char*, uint64_t d, uint64_t) { progressed = d; },
                                  &stop);
      double after_stop = SecondsSince(requested);
      stopper.join();
      INFO(got.status().ToString());
      CHECK(got.status().code() == Code::kCancelled);
      CHECK(after_stop < 1.0);
      CHECK(!fs::exists(t / "out"));
      if (std::string(key) == "drip") CHECK(progressed > 0);  // it was mid-object
      MESSAGE(std::string(key) << ": stopped " << after_stop * 1000 << " ms after the request, " << progressed
                  << " bytes in");
    }
  }
}

// Serves a bucket directory as nginx would (files, JSON listings for a path
// ending in '/', 404), except that the object at `drip` comes at 2 KiB/s.
RawHttpServer::Handler ServeDirectory(const std::string& root, const std::string& drip,
                                      std::atomic<uint64_t>* dripping, int tick_ms = 100) {
  return [root, drip, dripping, tick_ms](RawHttpServer& s, int fd, const std::string& method,
                                         const std::string& path) {
    const std::string file = root + path;
    std::error_code ec;
    if (path.ends_with("/") && fs::is_directory(file, ec)) {
      std::string body = "[";
      for (const auto& e : fs::directory_iterator(file, ec)) {
        if (body.size() > 1) body += ",";
        body += std::string("{\"name\":\"") + e.path().filename().string() + "\",\"type\":\"" +
                (e.is_directory() ? "directory" : "file") + "\"}";
      }
      body += "]";
      if (s.Send(fd, Header(body.size()), false) && method != "HEAD") s.Send(fd, body);
      return;
    }
    if (path.find("..") != std::string::npos || !fs::is_regular_file(file, ec)) {
      s.Send(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", false);
      return;
    }
    const uint64_t size = fs::file_size(file);
    if (!s.Send(fd, Header(size), false) || method == "HEAD") return;
    if (path == drip) {
      const std::string tick(205, 'd');
      for (uint64_t sent = 0; sent < size; sent += tick.size()) {
        if (!s.Send(fd, std::string_view(tick).substr(0, std::min<uint64_t>(tick.size(), size - sent)))) return;
        *dripping += 1;
        if (!s.Pause(tick_ms, fd)) return;
      }
      return;
    }
    std::ifstream in(file, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    s.Send(fd, bytes);
  };
}

TEST_CASE("deltaswarm pull, SIGTERM in the middle of a dripping chunk: exits at once, no partial file") {
  PublishWorld w(false);
  REQUIRE(w.PublishVersion(1).ok());
  const Manifest m = w.PublishedManifest(1);
  const ManifestArtifact& keyframe = *m.Find("keyframe");
  REQUIRE(!keyframe.chunks.empty());
  const ManifestChunk& chunk = keyframe.chunks.back();
  REQUIRE(chunk.size > 10 * 205);  // still dripping 1 s after it began

  std::atomic<uint64_t> ticks{0};
  RawHttpServer server(ServeDirectory(w.BucketDir(), "/m/versions/1/keyframe/" + chunk.name, &ticks));
  const std::string dest = w.tmp / "node";
  ChildProcess pull(testing::SpawnDeltaswarmTo({"pull", "--bucket", server.url(), "--model", "m", "--dest", dest,
                                                "--trust", w.tmp / "key.pub"},
                                               w.tmp / "pull.out", w.tmp / "pull.err"));
  REQUIRE(pull.running());
  for (auto end = Clock::now() + std::chrono::seconds(60); ticks < 10 && Clock::now() < end;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  INFO(testing::ReadFileText(w.tmp / "pull.err"));
  REQUIRE(ticks >= 10);  // a second into the chunk
  auto start = Clock::now();
  REQUIRE(::kill(pull.pid(), SIGTERM) == 0);
  int code = pull.Wait(10);
  double took = SecondsSince(start);
  CHECK(code == ExitCodeFor(Code::kCancelled));
  CHECK(took < 1.5);
  CHECK(TemporaryFiles(dest) == 0);
  CHECK(testing::ReadFileText(w.tmp / "pull.err").find(chunk.name) != std::string::npos);
  MESSAGE("pull: exit " << code << " " << took * 1000 << " ms after SIGTERM, " << ticks * 205 << " of " << chunk.size
                        << " bytes of " << chunk.name << " dripped");
}


TEST_CASE("deltaswarm node, SIGTERM in the middle of a dripping torrent (a metadata GET): exits at once") {
  PublishWorld w(false);
  REQUIRE(w.PublishVersion(1).ok());
  const std::string torrent = "/m/versions/1/keyframe.torrent";
  REQUIRE(fs::file_size(w.BucketDir() + torrent) > 3 * 205);  // 205 bytes a second: dripping for seconds
  std::atomic<uint64_t> ticks{0};
  RawHttpServer server(ServeDirectory(w.BucketDir(), torrent, &ticks, /*tick_ms=*/1000));
  ChildProcess node(testing::SpawnDeltaswarmTo({"node", "--bucket", server.url(), "--model", "m", "--dest",
                                                w.tmp / "node", "--trust", w.tmp / "key.pub", "--listen",
                                                "127.0.0.1:0"},
                                               w.tmp / "node.out", w.tmp / "node.err"));
  REQUIRE(node.running());
  for (auto end = Clock::now() + std::chrono::seconds(60); ticks < 2 && Clock::now() < end;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  INFO(testing::ReadFileText(w.tmp / "node.err"));
  REQUIRE(ticks >= 2);  // a second into the torrent
  auto start = Clock::now();
  REQUIRE(::kill(node.pid(), SIGTERM) == 0);
  int code = node.Wait(10);
  double took = SecondsSince(start);
  CHECK(code == 0);
  CHECK(took < 1.5);
  MESSAGE("node: exit " << code << " " << took * 1000 << " ms after SIGTERM, in a metadata GET");
}

}  // namespace
}  // namespace deltaswarm
