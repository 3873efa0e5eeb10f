// How long a pull spent applying, read off the progress calls it already
// makes: from the first call of an apply's phases ("check" of the chunks,
// "apply" of the frames, "verify" of the result) to the last. Downloads
// ("download", "swarm") all come before a pull's first apply, so the span
// covers its applies only, less the first chunk's check. Costs one string
// compare per progress call and a clock read per apply-phase call (one per
// chunk or frame), never per piece.
#pragma once

#include <atomic>
#include <cstdint>

#include "deltaswarm/progress.h"

namespace deltaswarm {

class ApplyTimer {
 public:
  // A progress function that notes the apply phases, then calls inner (may be empty).
  ProgressFn Wrap(ProgressFn inner);
  void Reset();
  double seconds() const;  // 0 if no apply phase was seen since Reset

 private:
  void Note(const char* phase);
  std::atomic<int64_t> first_ns_{0};
  std::atomic<int64_t> last_ns_{0};
};

}  // namespace deltaswarm
