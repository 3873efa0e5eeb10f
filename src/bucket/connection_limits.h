// Counts a server's open connections, in total and per client address, so
// that neither a flood of idle connections nor one client can take every
// descriptor of the process (a gateway also needs them for its swarm and its
// upstream bucket).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>

namespace deltaswarm {

struct ConnectionCaps {
  int total = 0;
  int per_address = 0;
};

// The caps a server enforces: the configured ones, but never more than half
// of the descriptor limit fd_soft_limit (RLIMIT_NOFILE's soft value; 0 or
// RLIM_INFINITY: none), the rest being the process's own. When the total is
// lowered, the per-address cap shrinks in the same proportion (at least 1),
// so one address still cannot take them all.
ConnectionCaps EffectiveCaps(int max_total, int max_per_address, uint64_t fd_soft_limit);

// Not thread-safe: a server uses it from its one I/O thread.
class ConnectionLimiter {
 public:
  explicit ConnectionLimiter(ConnectionCaps caps) : caps_(caps) {}
  ConnectionLimiter(const ConnectionLimiter&) = delete;
  ConnectionLimiter& operator=(const ConnectionLimiter&) = delete;

  // Held by one connection; gives its place back when destroyed. The
  // limiter must outlive every slot.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot();
    bool held() const { return limiter_ != nullptr; }

   private:
    friend class ConnectionLimiter;
    Slot(ConnectionLimiter* limiter, std::string address) : limiter_(limiter), address_(std::move(address)) {}
    ConnectionLimiter* limiter_ = nullptr;
    std::string address_;
  };

  // A held slot for a new connection from address, or an empty one when the
  // total or that address's cap is reached.
  Slot TryAcquire(const std::string& address);

  int open_connections() const { return total_; }
  ConnectionCaps caps() const { return caps_; }

 private:
  void Release(const std::string& address);

  ConnectionCaps caps_;
  int total_ = 0;
  std::unordered_map<std::string, int> per_address_;
};

}  // namespace deltaswarm
