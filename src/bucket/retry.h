// Bounded retries with exponential backoff, for faults that may pass
// (a restarting server, a dropped connection, HTTP 5xx or 429).
#pragma once

#include <functional>

#include "bucket/http_options.h"

namespace deltaswarm {

enum class AttemptOutcome { kDone, kTransient };

// Calls try_once (with the 1-based attempt number) until it returns kDone or
// options.attempts tries are spent, sleeping first_backoff, 2x, 4x, ...
// between tries. Returns the number of tries made.
int RunWithRetries(const HttpOptions& options, const std::function<AttemptOutcome(int attempt)>& try_once);

}  // namespace deltaswarm
