// StopSignal: waits that end at their deadline or at once on a request, from
// any thread, and the wakers other waits register. Every wait is bounded.
#include "deltaswarm/stop_signal.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <thread>

using namespace deltaswarm;

namespace {
double SecondsSince(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}
}  // namespace

TEST_CASE("StopSignal: a wait ends at its deadline without a request") {
  const StopSignal stop;
  const auto start = SteadyClock::now();
  CHECK_FALSE(stop.WaitFor(0.1));
  CHECK(SecondsSince(start) >= 0.1);
  CHECK_FALSE(stop.requested());
  CHECK_FALSE(stop.WaitUntil(SteadyClock::now() - std::chrono::seconds(1)));  // a past deadline: at once
}

TEST_CASE("StopSignal: a request from another thread ends a long wait at once, and stays") {
  StopSignal stop;
  const auto start = SteadyClock::now();
  std::thread requester([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    stop.Request();
  });
  CHECK(stop.WaitFor(60));
  requester.join();
  CHECK(SecondsSince(start) < 10);
  CHECK(stop.requested());
  CHECK(stop.WaitFor(60));  // already requested: no wait
  stop.Wait();
  CHECK(SecondsSince(start) < 10);
}

TEST_CASE("StopSignal: wakers run on a request while registered, and not after") {
  StopSignal stop;
  std::atomic<int> woken{0};
  {
    StopSignal::Registration gone = stop.OnStop([&] { woken += 100; });
  }
  StopSignal::Registration kept = stop.OnStop([&] { ++woken; });
  StopSignal::Registration moved = std::move(kept);  // the moved-from one unregisters nothing
  stop.Request();
  CHECK(woken.load() == 1);
}

TEST_CASE("DeadlineAfter: negative and NaN mean now; huge settings do not overflow") {
  const auto now = SteadyClock::now();
  CHECK(DeadlineAfter(-1, now) == now);
  CHECK(DeadlineAfter(std::nan(""), now) == now);
  CHECK(DeadlineAfter(1.5, now) - now == std::chrono::milliseconds(1500));
  CHECK(DeadlineAfter(1e300, now) > now + std::chrono::hours(24 * 365 * 30));
}
