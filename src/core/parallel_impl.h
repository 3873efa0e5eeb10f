// Template implementation of RunOrdered; included by parallel.h only.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace deltaswarm {

template <typename T>
Status RunOrdered(size_t n, unsigned threads, size_t window,
                  const std::function<Result<T>(size_t)>& produce,
                  const std::function<Status(size_t, T&&)>& consume) {
  if (window == 0) window = 1;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::optional<Result<T>>> slots(window);  // slot i % window
  size_t next_claim = 0;   // next index a worker takes
  size_t next_consume = 0; // next index the consumer waits for
  bool stop = false;

  auto worker = [&] {
    for (;;) {
      size_t i;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return stop || next_claim >= n || next_claim < next_consume + window; });
        if (stop || next_claim >= n) return;
        i = next_claim++;
      }
      Result<T> r = produce(i);
      {
        std::lock_guard lock(mu);
        slots[i % window].emplace(std::move(r));
      }
      cv.notify_all();
    }
  };

  std::vector<std::thread> pool;
  unsigned count = threads == 0 ? 1 : threads;
  for (unsigned t = 0; t < count; ++t) pool.emplace_back(worker);

  Status status;
  while (next_consume < n) {
    std::optional<Result<T>> item;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return slots[next_consume % window].has_value(); });
      item = std::move(slots[next_consume % window]);
      slots[next_consume % window].reset();
    }
    if (!item->ok()) {
      status = item->status();
    } else {
      status = consume(next_consume, std::move(*item).value());
    }
    {
      std::lock_guard lock(mu);
      ++next_consume;
      if (!status.ok()) stop = true;
    }
    cv.notify_all();
    if (!status.ok()) break;
  }
  {
    std::lock_guard lock(mu);
    stop = true;
  }
  cv.notify_all();
  for (auto& t : pool) t.join();
  return status;
}

}  // namespace deltaswarm
