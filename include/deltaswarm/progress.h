// Progress callback for long operations. The library calls it from one thread
// at a time, as often as it likes; the CLI throttles what it prints.
#pragma once

#include <cstdint>
#include <functional>

namespace deltaswarm {

// phase: a short word ("encode", "apply", "write"); done/total in bytes.
using ProgressFn = std::function<void(const char* phase, uint64_t done, uint64_t total)>;

// A swarm download as it goes: what ProgressFn says for phase "swarm", plus
// the rates and peers a person watching a transfer wants.
struct SwarmProgress {
  uint64_t done_bytes = 0;
  uint64_t total_bytes = 0;
  uint64_t download_bytes_per_s = 0;
  uint64_t upload_bytes_per_s = 0;
  int peers = 0;
};
using SwarmProgressFn = std::function<void(const SwarmProgress&)>;

}  // namespace deltaswarm
