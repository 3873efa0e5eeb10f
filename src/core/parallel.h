// Parallel loops over independent work items (frames), with results consumed
// in index order so that outputs do not depend on the thread count.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>

#include "deltaswarm/status.h"

namespace deltaswarm {

// Number of worker threads to use: `requested` if > 0, else all cores.
unsigned ResolveThreads(unsigned requested);

// Runs produce(i) for i in [0, n) on `threads` threads, at most `window` items
// ahead of the consumer, and consume(i, value) on the calling thread in
// increasing i. Memory stays bounded by `window` values. Stops at the first
// error (from either side) and returns it.
template <typename T>
Status RunOrdered(size_t n, unsigned threads, size_t window,
                  const std::function<Result<T>(size_t)>& produce,
                  const std::function<Status(size_t, T&&)>& consume);

// Runs work(i) for i in [0, n) on `threads` threads in any order; returns the
// error of the lowest failing index, or Ok.
Status RunParallel(size_t n, unsigned threads, const std::function<Status(size_t)>& work);

}  // namespace deltaswarm

#include "core/parallel_impl.h"
