#include "core/parallel.h"

#include <algorithm>
#include <thread>

namespace deltaswarm {

unsigned ResolveThreads(unsigned requested) {
  if (requested > 0) return requested;
  return std::max(1u, std::thread::hardware_concurrency());
}

Status RunParallel(size_t n, unsigned threads, const std::function<Status(size_t)>& work) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  size_t first_bad = n;
  Status first_status;
  auto worker = [&] {
    for (;;) {
      if (failed.load(std::memory_order_relaxed)) return;
      size_t i = next.fetch_add(1);
      if (i >= n) return;
      Status s = work(i);
      if (!s.ok()) {
        std::lock_guard lock(mu);
        if (i < first_bad) {
          first_bad = i;
          first_status = s;
        }
        failed = true;
      }
    }
  };
  std::vector<std::thread> pool;
  unsigned count = std::max(1u, threads);
  for (unsigned t = 0; t < count; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  return first_status;
}

}  // namespace deltaswarm
