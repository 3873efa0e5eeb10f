// The disk-thread flags of every role that runs a swarm session
// (--aio-threads, --hashing-threads; SwarmOptions in deltaswarm/swarm.h).
#pragma once

#include <string>

#include "config_flags.h"
#include "deltaswarm/swarm.h"

namespace deltaswarm::cli {

inline constexpr char kAioThreadsHelp[] = "Swarm disk threads: read, write and hash pieces";
inline constexpr char kHashingThreadsHelp[] = "Swarm threads that re-check files already on disk (a resumed download)";

// For the roles with a config file: the keys aio_threads and hashing_threads.
template <typename Options>
void BindSwarmThreadFlags(ConfigFlags<Options>& c) {
  c.Bind("--aio-threads", &Options::aio_threads, "aio_threads", kAioThreadsHelp);
  c.Bind("--hashing-threads", &Options::hashing_threads, "hashing_threads", kHashingThreadsHelp);
}

// For the commands without one (seed, publish --seed); prefix starts each help line.
template <typename Options>
void AddSwarmThreadOptions(CLI::App* sub, Options& o, const std::string& prefix) {
  const std::string range = " (1.." + std::to_string(kMaxSwarmThreads) + ", default ";
  sub->add_option("--aio-threads", o.aio_threads,
                  prefix + kAioThreadsHelp + range + std::to_string(kDefaultAioThreads) + ")")
      ->check(CLI::Range(1, kMaxSwarmThreads));
  sub->add_option("--hashing-threads", o.hashing_threads,
                  prefix + kHashingThreadsHelp + range + std::to_string(kDefaultHashingThreads) + ")")
      ->check(CLI::Range(1, kMaxSwarmThreads));
}

}  // namespace deltaswarm::cli
