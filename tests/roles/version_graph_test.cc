// The version graph against histories written as one token per version:
//   K10     a keyframe of 10 bytes       D1    a delta of 1 byte from the version before
//   K10D1   both                         X1    an artifact of another kind only
//   -       not in the store (gc removed it, or it never came)
// and suffixes p<n> (parent n) and b<n> (the delta's base_version n).
#include <doctest/doctest.h>

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "roles/version_graph.h"

using namespace deltaswarm;

namespace {

ManifestArtifact Artifact(const std::string& kind, uint64_t base, uint64_t bytes) {
  ManifestArtifact a;
  a.kind = kind;
  a.dir = kind;
  a.base_version = base;
  a.index_size = bytes;  // bytes() is the index plus chunks: none here
  return a;
}

// Parses one token into the manifest of version id.
Manifest Version(uint64_t id, const std::string& token) {
  Manifest m;
  m.model = "m";
  m.version = id;
  m.parent = id - 1;
  uint64_t base = id - 1;
  bool base_given = false;
  for (size_t i = 0; i < token.size();) {
    char c = token[i++];
    size_t end = i;
    while (end < token.size() && isdigit(token[end])) ++end;
    uint64_t n = std::stoull(token.substr(i, end - i));
    i = end;
    if (c == 'K') m.artifacts.push_back(Artifact("keyframe", 0, n));
    if (c == 'D') m.artifacts.push_back(Artifact("delta", 0, n));
    if (c == 'X') m.artifacts.push_back(Artifact("other", 0, n));
    if (c == 'p') m.parent = n;
    if (c == 'b') {
      base = n;
      base_given = true;
    }
  }
  if (!base_given) base = m.parent;
  for (auto& a : m.artifacts)
    if (a.kind == "delta") a.base_version = base;
  return m;
}

// A bucket's versions: what a fetch finds.
struct Store {
  std::map<uint64_t, Manifest> versions;
  std::vector<uint64_t> fetched;  // in the order asked for

  explicit Store(const std::string& history) {
    std::istringstream in(history);
    uint64_t id = 1;
    for (std::string token; in >> token; ++id)
      if (token != "-") versions.emplace(id, Version(id, token));
  }
  Result<Manifest> Fetch(uint64_t id) {
    fetched.push_back(id);
    auto it = versions.find(id);
    if (it == versions.end()) return NotFound("version " + std::to_string(id) + " is not in the bucket");
    return it->second;
  }
  std::vector<uint64_t> ids() const {
    std::vector<uint64_t> out;
    for (const auto& [id, m] : versions) out.push_back(id);
    return out;
  }
  // A graph holding every version of the store (a gateway's held set).
  VersionGraph Held() const {
    VersionGraph g;
    for (const auto& [id, m] : versions) g.Add(m);
    return g;
  }
};

// "K4 D5": the kinds and versions of a plan.
std::string StepsText(const std::vector<PlanStep>& steps) {
  std::string s;
  for (const auto& step : steps)
    s += (s.empty() ? "" : " ") + std::string(step.artifact->kind == "keyframe" ? "K" : "D") +
         std::to_string(step.version);
  return s;
}

std::string ResultText(const Result<std::vector<PlanStep>>& r) {
  return r.ok() ? StepsText(*r) : "error: " + r.status().message();
}

}  // namespace

TEST_CASE("a pull's plan: the cheaper of the chain and the keyframe path, manifests fetched lazily") {
  struct Case {
    const char* name;
    const char* history;
    uint64_t held, want;
    std::string plan;                // steps, or "error: <part of the message>"
    Code code;                       // for an error
    std::vector<uint64_t> fetched;   // manifests asked for, in order
  };
  const std::vector<Case> cases = {
      {"chain cheaper", "K100 D1 D1 K100D1 D1", 3, 5, "D4 D5", Code::kOk, {5, 4}},
      {"keyframe cheaper", "K100 D1 D1 K10D50 D1", 3, 5, "K4 D5", Code::kOk, {5, 4}},
      {"a tie takes the chain", "K100 D1 D1 K1D1 D1", 3, 5, "D4 D5", Code::kOk, {5, 4}},
      {"the walk goes past a keyframe down to the held version", "K100 D1 K100D1 D1 D1", 2, 5, "D3 D4 D5",
       Code::kOk, {5, 4, 3}},
      {"no held version: the nearest keyframe", "K100 D1 D1 K100 D1", 0, 5, "K4 D5", Code::kOk, {5, 4}},
      {"no held version, want a keyframe", "K100 D1 D1 K100 D1", 0, 4, "K4", Code::kOk, {4}},
      {"held version newer than want: as if none", "K100 D1 D1 K100 D1", 5, 3, "K1 D2 D3", Code::kOk, {3, 2, 1}},
      {"versions missing below the keyframe end the chain", "- - - K10 D1", 2, 5, "K4 D5", Code::kOk, {5, 4, 3}},
      {"a gap in the chain above every keyframe", "K10 D1 - D1 D1", 1, 5, "error: version 3 is not in the bucket",
       Code::kNotFound, {5, 4, 3}},
      {"a gap below want, nothing held", "K10 - D1", 0, 3, "error: version 2 is not in the bucket", Code::kNotFound,
       {3, 2}},
      {"want not published", "K10 D1", 0, 42, "error: version 42 is not in the bucket", Code::kNotFound, {42}},
      {"a delta not from the version before breaks the chain", "K10 D1 D1b1 D1", 2, 4,
       "error: version 4: no keyframe at or below version 4 and no delta chain from the held version",
       Code::kNotFound, {4, 3}},
      {"a broken chain falls back to the keyframe", "K10 D1 K10D1b1 D1", 2, 4, "K3 D4", Code::kOk, {4, 3}},
      {"a bad parent", "K10 D1 D1p1 D1", 1, 4, "error: version 3: parent is not version 2", Code::kCorruption,
       {4, 3, 2}},
      {"no keyframe at all", "D1 D1 D1", 0, 3, "error: version 3: no keyframe at or below version 3",
       Code::kNotFound, {3, 2, 1}},
      {"a version after the keyframe without a delta", "K10 X1", 0, 2, "error: version 2: no delta",
       Code::kCorruption, {2, 1}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Store store(c.history);
    VersionGraph graph;
    while (std::optional<uint64_t> id = graph.NextToFetch(c.held, c.want)) {
      REQUIRE(graph.AddFetched(*id, store.Fetch(*id)).ok());
    }
    auto plan = graph.Plan(c.held, c.want);
    if (c.plan.rfind("error: ", 0) == 0) {
      CHECK(!plan.ok());
      CHECK(plan.status().code() == c.code);
      CHECK(ResultText(plan).find(c.plan) != std::string::npos);
    } else {
      CHECK(ResultText(plan) == c.plan);
    }
    CHECK(store.fetched == c.fetched);
  }
}

TEST_CASE("a fetch that fails other than NotFound is the caller's error; messages name the version as described") {
  VersionGraph graph([](uint64_t id) { return "bucket/m/versions/" + std::to_string(id) + "/"; });
  CHECK(graph.AddFetched(3, Status(Code::kCorruption, "bad signature")).code() == Code::kCorruption);
  CHECK(!graph.Find(3));
  REQUIRE(graph.AddFetched(3, Version(3, "D1p1")).ok());
  REQUIRE(graph.AddFetched(2, NotFound("gone")).ok());
  CHECK(graph.NextToFetch(0, 3) == std::nullopt);  // the walk ends at the missing version
  CHECK(graph.Plan(0, 3).status().message() == "gone");
  graph.Add(Version(2, "D1"));  // found after all: no longer missing
  CHECK(graph.Plan(0, 3).status().message() == "bucket/m/versions/3/: parent is not version 2");
}

TEST_CASE("what a gateway mirrors, given the newest version it holds and the upstream latest") {
  struct Case {
    const char* name;
    const char* upstream;
    uint64_t newest, latest;
    std::vector<uint64_t> plan;
    std::string error;
    std::vector<uint64_t> fetched;
  };
  const std::vector<Case> cases = {
      {"contiguous from newest + 1", "K10 D1 D1", 1, 3, {2, 3}, "", {3, 2}},
      {"contiguous past a keyframe", "K10 D1 D1 K10 D1", 2, 5, {3, 4, 5}, "", {5, 4, 3}},
      {"nothing held: from the nearest keyframe", "K10 D1 D1 K10 D1", 0, 5, {4, 5}, "", {5, 4}},
      {"versions gone upstream: from the nearest keyframe", "- - - K10 D1 D1", 2, 6, {4, 5, 6}, "", {6, 5, 4, 3}},
      {"versions gone upstream and no keyframe above them", "- - D1 D1", 1, 4, {}, "version 2 is not in the bucket",
       {4, 3, 2}},
      {"nothing held and no keyframe", "D1 D1", 0, 2, {}, "no keyframe at or below version 2 to start the mirror from",
       {2, 1}},
      {"latest not ahead: nothing", "K10 D1", 2, 2, {}, "", {}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    Store store(c.upstream);
    VersionGraph graph;
    if (c.latest > c.newest) {
      while (std::optional<uint64_t> id = graph.NextToFetch(c.newest, c.latest)) {
        REQUIRE(graph.AddFetched(*id, store.Fetch(*id)).ok());
      }
    }
    auto plan = graph.MirrorPlan(c.newest, c.latest);
    if (c.error.empty()) {
      REQUIRE_MESSAGE(plan.ok(), plan.status().message());
      CHECK(*plan == c.plan);
    } else {
      CHECK(plan.status().code() == Code::kNotFound);
      CHECK(plan.status().message().find(c.error) != std::string::npos);
    }
    CHECK(store.fetched == c.fetched);
  }
}

TEST_CASE("a gateway's keep: the newest versions held and the chain back to their keyframe") {
  struct Case {
    const char* held;
    uint64_t keep;
    std::vector<uint64_t> retained;
  };
  const std::vector<Case> cases = {
      {"K10 D1 D1 K10 D1", 1, {4, 5}},
      {"K10 D1 D1 K10 D1", 2, {4, 5}},
      {"K10 D1 D1 K10 D1", 3, {1, 2, 3, 4, 5}},
      {"K10 D1 D1 K10", 1, {4}},
      {"K10 D1 D1", 5, {1, 2, 3}},
      {"K10 D1 - - K10 D1", 2, {5, 6}},  // two runs, each from a keyframe
      {"K10 D1 - - K10 D1", 3, {1, 2, 5, 6}},
      {"- D1 D1 D1", 1, {2, 3, 4}},  // no keyframe reaches them: nothing is dropped
  };
  for (const Case& c : cases) {
    CAPTURE(c.held);
    CAPTURE(c.keep);
    VersionGraph held = Store(c.held).Held();
    CHECK(held.Retained(c.keep) == c.retained);
    std::vector<uint64_t> kept = held.Retained(c.keep), dropped = held.Dropped(c.keep);
    CHECK(kept.size() + dropped.size() == held.ids().size());
    for (uint64_t id : dropped) CHECK(id < kept.front());
  }
}

TEST_CASE("what gc removes from a bucket for keep") {
  struct Case {
    const char* bucket;
    uint64_t latest, keep;
    uint64_t oldest_kept;
    std::vector<uint64_t> removable;
    std::vector<uint64_t> fetched;
  };
  const std::vector<Case> cases = {
      {"K10 D1 D1 K10 D1", 5, 1, 4, {1, 2, 3}, {5, 4}},
      {"K10 D1 D1 K10 D1", 5, 2, 4, {1, 2, 3}, {4}},
      {"K10 D1 D1 K10 D1", 5, 3, 1, {}, {3, 2, 1}},
      {"K10 D1 D1 K10 D1", 5, 9, 1, {}, {1}},
      {"- - - K10 D1 D1", 6, 2, 4, {}, {5, 4}},
      {"K10 D1 D1 K10 D1 D1", 5, 1, 4, {1, 2, 3}, {5, 4}},  // version 6 is being published: listed, kept
  };
  for (const Case& c : cases) {
    CAPTURE(c.bucket);
    CAPTURE(c.keep);
    Store store(c.bucket);
    VersionGraph graph;
    while (std::optional<uint64_t> id = graph.NextToFetch(0, FirstOfNewest(c.latest, c.keep))) {
      REQUIRE(graph.AddFetched(*id, store.Fetch(*id)).ok());
    }
    auto plan = graph.PlanGc(store.ids(), c.latest, c.keep);
    REQUIRE_MESSAGE(plan.ok(), plan.status().message());
    CHECK(plan->oldest_kept == c.oldest_kept);
    CHECK(plan->removable == c.removable);
    CHECK(store.fetched == c.fetched);
  }
  SUBCASE("no keyframe below the oldest kept") {
    Store store("D1 D1 D1");
    VersionGraph graph;
    while (std::optional<uint64_t> id = graph.NextToFetch(0, 2)) {
      REQUIRE(graph.AddFetched(*id, store.Fetch(*id)).ok());
    }
    auto plan = graph.PlanGc(store.ids(), 3, 2);
    CHECK(plan.status().code() == Code::kCorruption);
    CHECK(plan.status().message() == "version 2: no keyframe below it");
  }
}

TEST_CASE("contiguity: every held version reachable from a keyframe, and the gaps that cut them off") {
  struct Case {
    const char* held;
    std::vector<uint64_t> unreachable;
    std::vector<std::pair<uint64_t, uint64_t>> gaps;
  };
  const std::vector<Case> cases = {
      {"K10 D1 D1", {}, {}},
      {"K10 D1 - - K10 D1", {}, {}},  // a second run from its own keyframe
      {"- - - K10 D1", {}, {}},
      {"K10 - D1", {3}, {{2, 2}}},
      {"K10 D1 - D1 D1", {4, 5}, {{3, 3}}},
      {"- - D1 D1", {3, 4}, {{1, 2}}},  // the keyframe below them is unknown
      {"K10 D1 D1p1", {3}, {}},         // held, but not built on the one before: no gap to fill
      {"K10 D1 D1b1", {3}, {}},
      {"K10 - D1 - D1", {3, 5}, {{2, 2}, {4, 4}}},
  };
  for (const Case& c : cases) {
    CAPTURE(c.held);
    Contiguity got = Store(c.held).Held().CheckContiguity();
    CHECK(got.unreachable == c.unreachable);
    CHECK(got.gaps == c.gaps);
    CHECK(got.ok() == c.unreachable.empty());
  }
}

TEST_CASE("repairing gaps: fetched again from upstream, or dropped when upstream no longer has them") {
  struct Case {
    const char* held;
    const char* upstream;
    std::vector<uint64_t> fetched;
    std::vector<uint64_t> unreachable;  // after the repair
  };
  const std::vector<Case> cases = {
      {"K10 - D1", "K10 D1 D1", {2}, {}},
      {"K10 - - D1", "K10 D1 D1 D1", {3, 2}, {}},
      {"- - D1", "K10 D1 D1", {2, 1}, {}},
      {"- - D1 D1", "K10 K10D1 D1 D1", {2}, {}},  // version 2 is a keyframe: the walk stops there
      {"K10 - D1", "K10 - D1", {2}, {3}},         // gone upstream: version 3 is cut off
      {"K10 - D1 - D1", "K10 D1 D1 - D1", {2, 4}, {5}},
      {"K10 D1 D1p1", "K10 D1 D1p1", {}, {3}},  // nothing a fetch could mend
  };
  for (const Case& c : cases) {
    CAPTURE(c.held);
    CAPTURE(c.upstream);
    VersionGraph held = Store(c.held).Held();
    Store upstream(c.upstream);
    while (std::optional<uint64_t> id = held.NextToRepair()) {
      REQUIRE(held.AddFetched(*id, upstream.Fetch(*id)).ok());
    }
    CHECK(upstream.fetched == c.fetched);
    CHECK(held.CheckContiguity().unreachable == c.unreachable);
  }
}
