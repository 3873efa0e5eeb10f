// Turns library progress callbacks into a throttled status line on a terminal
// stderr, or JSON progress events on stdout.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "command.h"

namespace deltaswarm::cli {

class ProgressReporter {
 public:
  ProgressReporter(std::string command, const OutputOptions& output);
  ~ProgressReporter();
  void Update(const char* phase, uint64_t done, uint64_t total);
  // A swarm download: bytes, rates down and up, peers and ETA (phase "swarm").
  void UpdateSwarm(const SwarmProgress& p);
  // Ends the status line, if one was drawn.
  void Finish();
  ProgressFn AsCallback();
  SwarmProgressFn AsSwarmCallback();

 private:
  using Clock = std::chrono::steady_clock;
  std::string command_;
  OutputOptions output_;
  bool tty_ = false;
  bool drawn_ = false;
  Clock::time_point start_;
  Clock::time_point last_;
  std::string last_phase_;
  Clock::time_point phase_start_;
};

std::string HumanBytes(double bytes);

}  // namespace deltaswarm::cli
