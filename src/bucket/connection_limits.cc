#include "bucket/connection_limits.h"

#include <sys/resource.h>

#include <algorithm>
#include <utility>

namespace deltaswarm {

ConnectionCaps EffectiveCaps(int max_total, int max_per_address, uint64_t fd_soft_limit) {
  ConnectionCaps caps{max_total, std::min(max_per_address, max_total)};
  if (fd_soft_limit == 0 || fd_soft_limit == static_cast<uint64_t>(RLIM_INFINITY)) return caps;
  const uint64_t half = fd_soft_limit / 2;
  if (half >= static_cast<uint64_t>(max_total)) return caps;
  caps.total = std::max(1, static_cast<int>(half));
  const int64_t scaled = static_cast<int64_t>(caps.per_address) * caps.total / max_total;
  caps.per_address = static_cast<int>(std::clamp<int64_t>(scaled, 1, caps.total));
  return caps;
}

ConnectionLimiter::Slot::Slot(Slot&& other) noexcept
    : limiter_(std::exchange(other.limiter_, nullptr)), address_(std::move(other.address_)) {}

ConnectionLimiter::Slot& ConnectionLimiter::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    if (limiter_) limiter_->Release(address_);
    limiter_ = std::exchange(other.limiter_, nullptr);
    address_ = std::move(other.address_);
  }
  return *this;
}

ConnectionLimiter::Slot::~Slot() {
  if (limiter_) limiter_->Release(address_);
}

ConnectionLimiter::Slot ConnectionLimiter::TryAcquire(const std::string& address) {
  if (total_ >= caps_.total) return Slot();
  int& mine = per_address_[address];
  if (mine >= caps_.per_address) return Slot();
  ++mine;
  ++total_;
  return Slot(this, address);
}

void ConnectionLimiter::Release(const std::string& address) {
  --total_;
  auto it = per_address_.find(address);
  if (it != per_address_.end() && --it->second <= 0) per_address_.erase(it);
}

}  // namespace deltaswarm
