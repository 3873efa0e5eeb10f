#include "bucket/retry.h"

#include <algorithm>
#include <thread>

namespace deltaswarm {

int RunWithRetries(const HttpOptions& options, const std::function<AttemptOutcome(int attempt)>& try_once) {
  const int attempts = std::max(1, options.attempts);
  auto delay = options.first_backoff;
  for (int attempt = 1;; ++attempt) {
    if (try_once(attempt) == AttemptOutcome::kDone || attempt == attempts) return attempt;
    std::this_thread::sleep_for(delay);
    delay *= 2;
  }
}

}  // namespace deltaswarm
