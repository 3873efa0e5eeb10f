#include "core/parallel.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

using namespace deltaswarm;

TEST_CASE("RunOrdered consumes in index order whatever the finishing order") {
  for (unsigned threads : {1u, 2u, 5u}) {
    std::vector<size_t> seen;
    auto produce = [](size_t i) -> Result<size_t> {
      // Early items finish last.
      std::this_thread::sleep_for(std::chrono::microseconds((20 - i % 20) * 50));
      return i * 10;
    };
    auto consume = [&](size_t i, size_t&& v) -> Status {
      CHECK(v == i * 10);
      seen.push_back(i);
      return Status::Ok();
    };
    REQUIRE(RunOrdered<size_t>(100, threads, 4, produce, consume).ok());
    REQUIRE(seen.size() == 100);
    for (size_t i = 0; i < seen.size(); ++i) CHECK(seen[i] == i);
  }
}

TEST_CASE("RunOrdered keeps at most `window` items ahead of the consumer") {
  std::atomic<size_t> consumed{0};
  std::atomic<size_t> max_ahead{0};
  auto produce = [&](size_t i) -> Result<int> {
    size_t ahead = i - consumed.load();
    size_t prev = max_ahead.load();
    while (ahead > prev && !max_ahead.compare_exchange_weak(prev, ahead)) {
    }
    return 0;
  };
  auto consume = [&](size_t, int&&) -> Status {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
    consumed++;
    return Status::Ok();
  };
  REQUIRE(RunOrdered<int>(200, 3, 6, produce, consume).ok());
  CHECK(max_ahead.load() < 6);
}

TEST_CASE("RunOrdered stops at the first error, from either side") {
  auto failing_produce = [](size_t i) -> Result<int> {
    if (i == 7) return Corruption("item 7 is bad");
    return 1;
  };
  size_t consumed = 0;
  auto consume = [&](size_t, int&&) -> Status {
    ++consumed;
    return Status::Ok();
  };
  Status s = RunOrdered<int>(1000, 2, 4, failing_produce, consume);
  CHECK(s.code() == Code::kCorruption);
  CHECK(s.message() == "item 7 is bad");
  CHECK(consumed == 7);

  auto ok_produce = [](size_t) -> Result<int> { return 1; };
  auto failing_consume = [](size_t i, int&&) -> Status { return i == 3 ? IoError("disk") : Status::Ok(); };
  CHECK(RunOrdered<int>(1000, 2, 4, ok_produce, failing_consume).code() == Code::kIoError);
}

TEST_CASE("RunParallel runs every item once and reports the lowest failing index") {
  std::vector<std::atomic<int>> hits(500);
  REQUIRE(RunParallel(500, 3, [&](size_t i) {
            hits[i]++;
            return Status::Ok();
          }).ok());
  for (auto& h : hits) CHECK(h.load() == 1);
  Status s = RunParallel(100, 1, [](size_t i) { return i >= 40 ? NotFound("item " + std::to_string(i)) : Status::Ok(); });
  CHECK(s.message() == "item 40");
}
