// Reading what a `--json` run printed: its JSON lines and its summary.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace deltaswarm::testing {

// The JSON lines of a --json run's stdout (incomplete or foreign lines skipped).
inline std::vector<nlohmann::json> JsonLines(const std::string& out) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.is_object()) lines.push_back(std::move(j));
  }
  return lines;
}

// The `result` of the run's summary, or an empty object.
inline nlohmann::json SummaryResult(const std::string& out) {
  auto lines = JsonLines(out);
  if (lines.empty() || lines.back().value("event", "") != "summary") return nlohmann::json::object();
  return lines.back().value("result", nlohmann::json::object());
}

// done_bytes of the last `progress` event of phase ("swarm", "upload", ...),
// and its total_bytes in *total (both 0 before the first).
inline uint64_t LastProgress(const std::string& out, const std::string& phase, uint64_t* total = nullptr) {
  uint64_t done = 0, of = 0;
  for (const auto& j : JsonLines(out)) {
    if (j.value("event", "") != "progress" || j.value("phase", "") != phase) continue;
    done = j.value("done_bytes", uint64_t{0});
    of = j.value("total_bytes", uint64_t{0});
  }
  if (total != nullptr) *total = of;
  return done;
}

// An unsigned field of a result, or all ones when it is missing.
inline uint64_t U64(const nlohmann::json& result, const char* field) {
  return result.contains(field) && result[field].is_number_unsigned() ? result[field].get<uint64_t>()
                                                                      : ~uint64_t{0};
}

}  // namespace deltaswarm::testing
