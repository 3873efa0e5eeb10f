// BucketServer: a directory bucket read back through HttpBucket, as nodes
// behind a gateway read its mirror, and the requests it must refuse.
#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <span>

#include "bucket/bucket_server.h"
#include "deltaswarm/bucket.h"
#include "test_util.h"

using namespace deltaswarm;
using deltaswarm::testing::TempDir;

namespace {

std::span<const std::byte> Bytes(const std::string& s) { return std::as_bytes(std::span(s)); }

// Sends one raw HTTP/1.1 request to 127.0.0.1:port and returns the status line.
std::string StatusLineOf(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
  std::string response(4096, '\0');
  ssize_t n = ::recv(fd, response.data(), response.size(), 0);
  ::close(fd);
  response.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return response.substr(0, response.find("\r\n"));
}

}  // namespace

TEST_CASE("a directory bucket served over HTTP reads back byte-identical through HttpBucket") {
  TempDir tmp;
  auto dir = OpenBucket(tmp / "mirror", /*create=*/true);
  REQUIRE(dir.ok());
  const std::string manifest(300000, 'm');  // larger than one socket buffer
  REQUIRE((*dir)->Put("m/versions/1/manifest.json", Bytes(manifest)).ok());
  REQUIRE((*dir)->Put("m/refs/latest", Bytes("1\n")).ok());

  auto server = BucketServer::Start(tmp / "mirror", "127.0.0.1:0");
  REQUIRE_MESSAGE(server.ok(), server.status().ToString());
  CHECK((*server)->url() == "http://127.0.0.1:" + std::to_string((*server)->port()) + "/");
  auto http = OpenBucket((*server)->url());
  REQUIRE(http.ok());

  auto latest = (*http)->Get("m/refs/latest", 64);
  REQUIRE(latest.ok());
  CHECK(std::string(reinterpret_cast<const char*>(latest->data()), latest->size()) == "1\n");
  auto size = (*http)->Size("m/versions/1/manifest.json");  // HEAD
  REQUIRE(size.ok());
  CHECK(*size == manifest.size());
  REQUIRE((*http)->GetToFile("m/versions/1/manifest.json", tmp / "copy", nullptr).ok());
  CHECK(deltaswarm::testing::ReadFileText(tmp / "copy") == manifest);

  CHECK((*http)->Get("m/versions/2/manifest.json", 1 << 20).status().code() == Code::kNotFound);
}

TEST_CASE("the bucket server refuses what escapes its root, writes and writers' temporaries") {
  TempDir tmp;
  auto dir = OpenBucket(tmp / "root/mirror", /*create=*/true);
  REQUIRE(dir.ok());
  REQUIRE((*dir)->Put("m/refs/latest", Bytes("1\n")).ok());
  deltaswarm::testing::WriteBytes(tmp / "root/secret", {'s'});
  deltaswarm::testing::WriteBytes(tmp / "root/mirror/m/refs/latest.tmp-1-1", {'1'});
  auto server = BucketServer::Start(tmp / "root/mirror", "127.0.0.1:0");
  REQUIRE(server.ok());
  const int port = (*server)->port();

  CHECK(StatusLineOf(port, "GET /m/refs/latest HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 200 OK");
  CHECK(StatusLineOf(port, "HEAD /m/refs/latest HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 200 OK");
  CHECK(StatusLineOf(port, "GET /m/refs/ HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 404 Not Found");
  CHECK(StatusLineOf(port, "GET /m/refs HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 404 Not Found");
  CHECK(StatusLineOf(port, "GET /../secret HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 404 Not Found");
  CHECK(StatusLineOf(port, "GET /m/../../secret HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 404 Not Found");
  CHECK(StatusLineOf(port, "GET /m/refs/latest.tmp-1-1 HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 404 Not Found");
  CHECK(StatusLineOf(port, "PUT /m/refs/latest HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n") ==
        "HTTP/1.1 405 Method Not Allowed");
  CHECK(StatusLineOf(port, "DELETE /m/refs/latest HTTP/1.1\r\nHost: x\r\n\r\n") == "HTTP/1.1 405 Method Not Allowed");
  CHECK(deltaswarm::testing::ReadFileText(tmp / "root/mirror/m/refs/latest") == "1\n");
}

TEST_CASE("the bucket server reports a port it cannot take and a malformed address") {
  TempDir tmp;
  auto first = BucketServer::Start(tmp.path(), "127.0.0.1:0");
  REQUIRE(first.ok());
  auto second = BucketServer::Start(tmp.path(), "127.0.0.1:" + std::to_string((*first)->port()));
  CHECK(second.status().code() == Code::kIoError);
  CHECK(BucketServer::Start(tmp.path(), "localhost").status().code() == Code::kInvalidArgument);
  CHECK(BucketServer::Start(tmp.path(), "127.0.0.1:99999").status().code() == Code::kInvalidArgument);
  CHECK(BucketServer::Start(tmp.path(), "not-an-ip:80").status().code() == Code::kInvalidArgument);
}
