// libFuzzer target: the input is what a client sends a gateway's metadata
// server (src/bucket/bucket_server.cc) on one connection. The server's
// handling of it has no socket-free entry point (it is a Session template in
// an anonymous namespace), so this drives the same pieces on the bytes:
// beast's request_parser<empty_body> with the limits http::async_read gives it
// (8 KiB of header, no body), request after request while the client keeps
// the connection alive (pipelining); for each request the routing of
// Session::Respond (GET/HEAD only, the target up to '?', the key checks:
// CheckKey, IsPrefix, ".tmp-"), OpenRegularFileBeneath under a small served
// root (files, a directory, a symbolic link out of it), and the response the
// server would send, serialized. Keep the routing in step with Respond.
#include <stdlib.h>
#include <unistd.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "bucket/bucket_key.h"
#include "bucket/open_beneath.h"

using namespace deltaswarm;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// A served root like a gateway's mirror, made once, removed at exit.
const std::string& Root() {
  static const std::string* root = [] {
    char tmpl[] = "/tmp/deltaswarm-fuzz-root-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) std::abort();
    auto* r = new std::string(tmpl);
    namespace fs = std::filesystem;
    fs::create_directories(*r + "/m/refs");
    fs::create_directories(*r + "/m/versions/1");
    std::ofstream(*r + "/m/refs/latest") << "{}\n";
    std::ofstream(*r + "/m/versions/1/manifest.json") << "{}\n";
    std::ofstream(*r + "/m/versions/1/.tmp-manifest.json") << "{}\n";
    fs::create_symlink("/etc/passwd", *r + "/m/link");
    fs::create_symlink("1", *r + "/m/versions/2");
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*root, ec);
    });
    return r;
  }();
  return *root;
}

std::string Serialized(http::status status, unsigned version, bool keep_alive, uint64_t content_length) {
  http::response<http::string_body> res(status, version);
  res.set(http::field::content_type, "text/plain");
  if (status == http::status::method_not_allowed) res.set(http::field::allow, "GET, HEAD");
  if (status == http::status::ok) {
    res.content_length(content_length);
  } else {
    res.body() = "not found\n";
    res.prepare_payload();
  }
  res.keep_alive(keep_alive);
  std::ostringstream out;
  out << res;
  return out.str();
}

// Session::Respond's decision for one parsed request; false when the
// connection would close after it.
bool Respond(const http::request<http::empty_body>& req) {
  const bool head = req.method() == http::verb::head;
  if (!head && req.method() != http::verb::get) {
    (void)Serialized(http::status::method_not_allowed, req.version(), req.keep_alive(), 0);
    return req.keep_alive();
  }
  std::string target(req.target());
  target = target.substr(0, target.find('?'));
  std::string key = target.empty() ? "" : target.substr(1);
  if (target.empty() || target.front() != '/' || IsPrefix(key) || !CheckKey(key).ok() ||
      key.find(".tmp-") != std::string::npos) {
    (void)Serialized(http::status::not_found, req.version(), req.keep_alive(), 0);
    return req.keep_alive();
  }
  // CheckKey passed: the key must not leave the root, whatever it is.
  if (key.front() == '/' || key == ".." || key.rfind("../", 0) == 0 || key.find("/../") != std::string::npos)
    std::abort();
  Result<int> fd = OpenRegularFileBeneath(Root(), key);
  uint64_t size = 0;
  http::status status = http::status::ok;
  if (fd.ok()) {
    beast::file file;
    file.native_handle(*fd);  // owns it from here
    beast::error_code ec;
    size = file.size(ec);
    if (ec) status = http::status::service_unavailable;
  } else {
    status = fd.status().code() == Code::kNotFound ? http::status::not_found : http::status::service_unavailable;
  }
  (void)Serialized(status, req.version(), req.keep_alive(), size);
  return req.keep_alive();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)Root();
  const char* p = reinterpret_cast<const char*>(data);
  size_t left = size;
  for (int requests = 0; requests < 64; ++requests) {
    http::request_parser<http::empty_body> parser;  // async_read's: 8 KiB header, 1 MiB body
    beast::error_code ec;
    while (left > 0 && !parser.is_done()) {
      const size_t used = parser.put(boost::asio::buffer(p, left), ec);
      p += used;
      left -= used;
      if (ec == http::error::need_more) {
        if (used == 0) break;  // the rest of the input is not enough: the client went quiet
        ec = {};
        continue;
      }
      if (ec) return 0;  // a malformed request: the connection just ends
    }
    if (!parser.is_done()) {
      if (!parser.got_some()) return 0;  // end_of_stream: a polite close
      parser.put_eof(ec);                // the client closed mid-request
      if (ec || !parser.is_done()) return 0;
    }
    if (!Respond(parser.get())) return 0;
  }
  return 0;
}
