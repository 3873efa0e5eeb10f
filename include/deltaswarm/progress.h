// Progress callback for long operations. The library calls it from one thread
// at a time, as often as it likes; the CLI throttles what it prints.
#pragma once

#include <cstdint>
#include <functional>

namespace deltaswarm {

// phase: a short word ("encode", "apply", "write"); done/total in bytes.
using ProgressFn = std::function<void(const char* phase, uint64_t done, uint64_t total)>;

}  // namespace deltaswarm
