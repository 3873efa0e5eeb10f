// Range checks shared by the schemas: each returns "" when the value is fine,
// else why not, as config::Check wants. Distinct names per type, because
// std::function cannot pick from an overload set.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "deltaswarm/swarm.h"

namespace deltaswarm::config {

inline std::string Positive(const double& v) { return v > 0 ? "" : "must be > 0"; }
inline std::string NotNegativeNumber(const double& v) { return v >= 0 ? "" : "must be >= 0"; }
inline std::string NotNegative(const int& v) { return v >= 0 ? "" : "must be >= 0"; }
inline std::string AtLeastOne(const uint64_t& v) { return v >= 1 ? "" : "must be at least 1"; }
inline std::string NotEmpty(const std::string& v) { return v.empty() ? "must not be empty" : ""; }
inline std::string SomeKeys(const std::vector<std::string>& v) { return v.empty() ? "needs at least one key" : ""; }
// A swarm session's disk threads, as Swarm::Start accepts them.
inline std::string SwarmThreadCount(const int& v) {
  return v >= 1 && v <= kMaxSwarmThreads ? "" : "must be between 1 and " + std::to_string(kMaxSwarmThreads);
}

// Bytes within [min, max]; the codec's own limits, caught here with the file's line.
inline auto BytesBetween(uint64_t min, uint64_t max) {
  return [min, max](const uint64_t& v) {
    return v >= min && v <= max ? std::string()
                                : "must be between " + std::to_string(min) + " and " + std::to_string(max) + " bytes";
  };
}

}  // namespace deltaswarm::config
