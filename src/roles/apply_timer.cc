#include "roles/apply_timer.h"

#include <chrono>
#include <cstring>

namespace deltaswarm {

ProgressFn ApplyTimer::Wrap(ProgressFn inner) {
  return [this, inner = std::move(inner)](const char* phase, uint64_t done, uint64_t total) {
    Note(phase);
    if (inner) inner(phase, done, total);
  };
}

void ApplyTimer::Note(const char* phase) {
  if (std::strcmp(phase, "apply") != 0 && std::strcmp(phase, "check") != 0 && std::strcmp(phase, "verify") != 0)
    return;
  const int64_t now =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count();
  int64_t unset = 0;
  first_ns_.compare_exchange_strong(unset, now);
  last_ns_.store(now);
}

void ApplyTimer::Reset() {
  first_ns_.store(0);
  last_ns_.store(0);
}

double ApplyTimer::seconds() const {
  const int64_t first = first_ns_.load();
  return first == 0 ? 0 : static_cast<double>(last_ns_.load() - first) / 1e9;
}

}  // namespace deltaswarm
