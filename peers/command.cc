#include "command.h"

#include <cctype>
#include <cmath>

namespace deltaswarm::cli {

void AddOutputFlags(CLI::App* sub, Registry& registry) {
  sub->add_flag("--json", registry.output.json,
                "Write JSON lines to stdout: progress events, then one summary object");
  sub->add_flag("-q,--quiet", registry.output.quiet, "No progress and no summary text (errors still go to stderr)");
}

Result<uint64_t> ParseCount(const std::string& text) {
  size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (const std::exception&) {
    return InvalidArgument("'" + text + "' is not a number");
  }
  std::string unit = text.substr(pos);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (!unit.empty() && unit.back() == 'B') unit.pop_back();
  double mult = 1;
  if (unit.empty()) mult = 1;
  else if (unit == "K") mult = 1e3;
  else if (unit == "M") mult = 1e6;
  else if (unit == "G") mult = 1e9;
  else if (unit == "T") mult = 1e12;
  else if (unit == "KI") mult = 1024.0;
  else if (unit == "MI") mult = 1024.0 * 1024;
  else if (unit == "GI") mult = 1024.0 * 1024 * 1024;
  else if (unit == "TI") mult = 1024.0 * 1024 * 1024 * 1024;
  else return InvalidArgument("'" + text + "': unknown unit (use K, M, G, T or Ki, Mi, Gi, Ti)");
  double v = value * mult;
  if (!(v >= 0) || v > 1.8e19) return InvalidArgument("'" + text + "' is out of range");
  return static_cast<uint64_t>(std::llround(v));
}

}  // namespace deltaswarm::cli
