#include "deltaswarm/stop_signal.h"

#include <algorithm>

namespace deltaswarm {

SteadyClock::time_point DeadlineAfter(double seconds, SteadyClock::time_point from) {
  if (!(seconds > 0)) return from;  // negative, zero or NaN: now
  const std::chrono::duration<double> d(std::min(seconds, 1e9));
  return from + std::chrono::duration_cast<SteadyClock::duration>(d);
}

void StopSignal::Request() {
  std::lock_guard<std::mutex> lock(mu_);
  requested_.store(true);
  cv_.notify_all();
  for (auto& [id, wake] : wakers_) wake();
}

bool StopSignal::WaitUntil(SteadyClock::time_point deadline) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_until(lock, deadline, [this] { return requested_.load(); });
}

void StopSignal::Wait() const {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return requested_.load(); });
}

StopSignal::Registration StopSignal::OnStop(std::function<void()> wake) const {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t id = next_waker_++;
  wakers_.emplace(id, std::move(wake));
  return Registration(this, id);
}

StopSignal::Registration::~Registration() {
  if (signal_ == nullptr) return;
  std::lock_guard<std::mutex> lock(signal_->mu_);
  signal_->wakers_.erase(id_);
}

}  // namespace deltaswarm
