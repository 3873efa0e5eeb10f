// The settings a Swarm runs with: the disk threads come from SwarmOptions,
// checked before any session starts.
#include "swarm/session_config.h"

#include <doctest/doctest.h>

using namespace deltaswarm;

TEST_CASE("MakeSettings: aio_threads and hashing_threads are the options', production defaults") {
  SwarmOptions o;
  CHECK(o.aio_threads == kDefaultAioThreads);
  CHECK(o.hashing_threads == kDefaultHashingThreads);
  auto defaults = MakeSettings(o);
  REQUIRE_MESSAGE(defaults.ok(), defaults.status().ToString());
  CHECK(defaults->get_int(lt::settings_pack::aio_threads) == kDefaultAioThreads);
  CHECK(defaults->get_int(lt::settings_pack::hashing_threads) == kDefaultHashingThreads);

  o.aio_threads = 1;
  o.hashing_threads = kMaxSwarmThreads;
  auto edges = MakeSettings(o);
  REQUIRE_MESSAGE(edges.ok(), edges.status().ToString());
  CHECK(edges->get_int(lt::settings_pack::aio_threads) == 1);
  CHECK(edges->get_int(lt::settings_pack::hashing_threads) == kMaxSwarmThreads);
}

TEST_CASE("MakeSettings: thread counts outside 1..kMaxSwarmThreads are refused, naming the option") {
  const std::string range = " must be in 1.." + std::to_string(kMaxSwarmThreads) + ", not ";
  for (int bad : {0, -1, kMaxSwarmThreads + 1}) {
    SwarmOptions aio;
    aio.aio_threads = bad;
    Status s = MakeSettings(aio).status();
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK(s.message() == "swarm: aio_threads" + range + std::to_string(bad));

    SwarmOptions hashing;
    hashing.hashing_threads = bad;
    s = MakeSettings(hashing).status();
    CHECK(s.code() == Code::kInvalidArgument);
    CHECK(s.message() == "swarm: hashing_threads" + range + std::to_string(bad));
    CHECK(Swarm::Start(hashing).status().code() == Code::kInvalidArgument);  // before any session starts
  }
}
