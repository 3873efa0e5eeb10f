#include "progress_reporter.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace deltaswarm::cli {

std::string HumanBytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (bytes >= 1024 && u < 5) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

ProgressReporter::ProgressReporter(std::string command, const OutputOptions& output)
    : command_(std::move(command)), output_(output), tty_(::isatty(STDERR_FILENO) == 1) {
  start_ = last_ = phase_start_ = Clock::now();
}

ProgressReporter::~ProgressReporter() { Finish(); }

void ProgressReporter::Update(const char* phase, uint64_t done, uint64_t total) {
  if (output_.quiet && !output_.json) return;
  auto now = Clock::now();
  if (last_phase_ != phase) {
    last_phase_ = phase;
    phase_start_ = now;
  } else if (done < total && now - last_ < std::chrono::milliseconds(250)) {
    return;  // throttle; always report completion of a phase
  }
  last_ = now;
  double secs = std::chrono::duration<double>(now - phase_start_).count();
  double rate = secs > 0 ? done / secs : 0;
  double eta = rate > 0 && total >= done ? (total - done) / rate : 0;
  if (output_.json) {
    nlohmann::json ev = {{"event", "progress"}, {"command", command_}, {"phase", phase},
                         {"done_bytes", done},  {"total_bytes", total},  {"rate_bytes_per_s", rate},
                         {"eta_s", eta}};
    std::cout << ev.dump() << "\n" << std::flush;
  } else if (tty_) {
    double pct = total ? 100.0 * done / total : 100.0;
    std::fprintf(stderr, "\r\033[K%s %s: %s / %s (%.0f%%) %s/s ETA %.0fs", command_.c_str(), phase,
                 HumanBytes(done).c_str(), HumanBytes(total).c_str(), pct, HumanBytes(rate).c_str(), eta);
    std::fflush(stderr);
    drawn_ = true;
  }
}

void ProgressReporter::UpdateSwarm(const SwarmProgress& p) {
  if (output_.quiet && !output_.json) return;
  const char* phase = "swarm";
  auto now = Clock::now();
  if (last_phase_ != phase) {
    last_phase_ = phase;
    phase_start_ = now;
  } else if (p.done_bytes < p.total_bytes && now - last_ < std::chrono::milliseconds(250)) {
    return;
  }
  last_ = now;
  const double left = static_cast<double>(p.total_bytes >= p.done_bytes ? p.total_bytes - p.done_bytes : 0);
  const double eta = p.download_bytes_per_s > 0 ? left / static_cast<double>(p.download_bytes_per_s) : 0;
  if (output_.json) {
    nlohmann::json ev = {{"event", "progress"},
                         {"command", command_},
                         {"phase", phase},
                         {"done_bytes", p.done_bytes},
                         {"total_bytes", p.total_bytes},
                         {"rate_bytes_per_s", p.download_bytes_per_s},
                         {"upload_rate_bytes_per_s", p.upload_bytes_per_s},
                         {"peers", p.peers},
                         {"eta_s", eta}};
    std::cout << ev.dump() << "\n" << std::flush;
  } else if (tty_) {
    double pct = p.total_bytes ? 100.0 * static_cast<double>(p.done_bytes) / static_cast<double>(p.total_bytes) : 100.0;
    std::fprintf(stderr, "\r\033[K%s swarm: %s / %s (%.0f%%) down %s/s up %s/s, %d peers, ETA %.0fs",
                 command_.c_str(), HumanBytes(static_cast<double>(p.done_bytes)).c_str(),
                 HumanBytes(static_cast<double>(p.total_bytes)).c_str(), pct,
                 HumanBytes(static_cast<double>(p.download_bytes_per_s)).c_str(),
                 HumanBytes(static_cast<double>(p.upload_bytes_per_s)).c_str(), p.peers, eta);
    std::fflush(stderr);
    drawn_ = true;
  }
}

void ProgressReporter::Finish() {
  if (drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }
}

ProgressFn ProgressReporter::AsCallback() {
  return [this](const char* phase, uint64_t done, uint64_t total) { Update(phase, done, total); };
}

SwarmProgressFn ProgressReporter::AsSwarmCallback() {
  return [this](const SwarmProgress& p) { UpdateSwarm(p); };
}

}  // namespace deltaswarm::cli
