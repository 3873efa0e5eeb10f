// A stop request that waits sleep on. Long-running roles wait for "a stop,
// or the next deadline they need" (the next poll, fallback, progress report)
// instead of polling a flag. Once requested it stays requested.
//
// Thread-safe. Request() takes a mutex, so a signal handler must not call it:
// the CLI bridges SIGTERM and SIGINT to it (peers/stop_signal.cc). A wait on
// something else (a Swarm's alerts) registers a waker with OnStop, so that a
// stop ends that wait too.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

namespace deltaswarm {

using SteadyClock = std::chrono::steady_clock;

// from + seconds, clamped to [0, 10^9 s] so that a huge setting (a timeout of
// 1e12 s) means "not for decades" instead of overflowing the clock.
SteadyClock::time_point DeadlineAfter(double seconds, SteadyClock::time_point from = SteadyClock::now());

class StopSignal {
 public:
  StopSignal() = default;
  StopSignal(const StopSignal&) = delete;
  StopSignal& operator=(const StopSignal&) = delete;

  // Sets the flag, wakes every waiter and calls every registered waker.
  void Request();
  bool requested() const { return requested_.load(); }

  // Sleeps until a stop is requested or the deadline passes; true if requested.
  bool WaitUntil(SteadyClock::time_point deadline) const;
  bool WaitFor(double seconds) const { return WaitUntil(DeadlineAfter(seconds)); }
  // Sleeps until a stop is requested.
  void Wait() const;

  // Unregisters its waker when destroyed.
  class Registration {
   public:
    Registration(Registration&& other) noexcept : signal_(other.signal_), id_(other.id_) { other.signal_ = nullptr; }
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
    Registration& operator=(Registration&&) = delete;
    ~Registration();

   private:
    friend class StopSignal;
    Registration(const StopSignal* signal, uint64_t id) : signal_(signal), id_(id) {}
    const StopSignal* signal_;
    uint64_t id_;
  };
  // Calls wake from Request() for as long as the registration lives. wake
  // runs on the requesting thread under this signal's lock: it must only
  // notify (e.g. lock another mutex and notify its condition variable), never
  // call back into this signal. A waiter registers before it checks
  // requested(), so that no request falls between the two.
  [[nodiscard]] Registration OnStop(std::function<void()> wake) const;

 private:
  std::atomic<bool> requested_{false};
  mutable std::mutex mu_;  // guards wakers_, next_waker_; pairs with cv_
  mutable std::condition_variable cv_;
  mutable std::map<uint64_t, std::function<void()>> wakers_;
  mutable uint64_t next_waker_ = 0;
};

}  // namespace deltaswarm
