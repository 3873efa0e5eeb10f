// Serves GET /metrics over plain HTTP/1.1 for a Prometheus scraper: the text
// render() returns (Prometheus text exposition 0.0.4), rendered per request
// on the server's one thread. Any other path is 404, another method 405.
// One request per connection (Connection: close): scrapes are seconds
// apart. Bounded against stuck or hostile clients: at most kMaxConnections
// open (more are closed at once) and each must send its request and read
// the answer within kRequestTimeout. Plain HTTP only: bind it to loopback
// or a management network (docs/CONFIG.md, metrics_listen).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "deltaswarm/status.h"

namespace deltaswarm {

class MetricsServer {
 public:
  static constexpr int kMaxConnections = 32;
  static constexpr std::chrono::seconds kRequestTimeout{10};

  // Listens on "ip:port" (port 0: any free port). kInvalidArgument for a
  // bad address, kIoError if it cannot listen.
  static Result<std::unique_ptr<MetricsServer>> Start(const std::string& listen, std::function<std::string()> render);
  // Stops accepting and closes every connection.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const;
  std::string url() const;  // "http://ip:port/metrics"

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace deltaswarm
