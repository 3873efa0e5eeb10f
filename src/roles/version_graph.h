// The version graph: which versions a store holds, what each is built from
// (a delta from the one before it, a keyframe from nothing), and the plans
// every role derives from that — a pull's path, a gateway's mirror and keep,
// gc's removals, a gateway's contiguity. Pure: no bucket, no I/O. Callers
// fetch manifests lazily, walking down from the version they want:
//
//   while (std::optional<uint64_t> id = graph.NextToFetch(held, want)) {
//     DS_RETURN_IF_ERROR(graph.AddFetched(*id, FetchManifest(bucket, model, *id, trusted)));
//   }
//   DS_ASSIGN_OR_RETURN(std::vector<PlanStep> steps, graph.Plan(held, want));
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "deltaswarm/manifest.h"
#include "deltaswarm/status.h"

namespace deltaswarm {

// One artifact to fetch and apply, in order; artifact points into the graph.
struct PlanStep {
  uint64_t version = 0;
  const ManifestArtifact* artifact = nullptr;
};

// What gc may delete from a bucket.
struct GcPlan {
  uint64_t oldest_kept = 0;          // the keyframe the oldest kept version is built from
  std::vector<uint64_t> removable;  // listed versions below it, ascending
};

// Whether the held versions run contiguously up from keyframes.
struct Contiguity {
  // Held versions no keyframe reaches through held versions: a node walking
  // back from one of them finds neither a chain nor a keyframe path.
  std::vector<uint64_t> unreachable;
  // The holes that cut them off, as [first, last] (first 1: the keyframe they
  // were built from is unknown, somewhere below last).
  std::vector<std::pair<uint64_t, uint64_t>> gaps;
  bool ok() const { return unreachable.empty(); }
};

// The first of the newest `keep` versions up to latest (1 at least).
uint64_t FirstOfNewest(uint64_t latest, uint64_t keep);

class VersionGraph {
 public:
  // Names version id in messages (its place in a bucket); "version <id>" if empty.
  using Describe = std::function<std::string(uint64_t id)>;
  explicit VersionGraph(Describe describe = {});

  void Add(Manifest m);  // replaces any version of that id, and a missing mark
  // A version the store does not have; why (a NotFound) is what a plan
  // reports when it needed it.
  void AddMissing(uint64_t id, Status why);
  // The outcome of fetching id: a manifest is added, a NotFound marked
  // missing, any other error returned.
  Status AddFetched(uint64_t id, Result<Manifest> fetched);
  void Remove(uint64_t id);

  const Manifest* Find(uint64_t id) const;  // null when not held
  const Manifest& at(uint64_t id) const;    // held (asserted)
  std::vector<uint64_t> ids() const;        // ascending
  uint64_t newest() const;                  // 0 when empty
  bool empty() const { return versions_.empty(); }

  // The next manifest Plan(held, want) and MirrorPlan(held, want) need,
  // walking down from want: to held + 1 or, with no held version (0, or not
  // below want), to the nearest keyframe. Nothing once the walk is complete,
  // or once it reaches a missing version or a parent that does not match.
  std::optional<uint64_t> NextToFetch(uint64_t held, uint64_t want) const;

  // held -> want: the delta chain from held or the path from the nearest
  // keyframe at or below want, whichever is fewer bytes (the chain on a tie).
  // A version missing below a keyframe only ends the chain's chances; one
  // missing above every keyframe is its NotFound. kCorruption for a parent
  // that is not the version below, or a version after a keyframe without a
  // delta; kNotFound when neither path exists.
  Result<std::vector<PlanStep>> Plan(uint64_t held, uint64_t want) const;

  // A gateway holding up to `newest` (0: nothing) with upstream at `latest`:
  // the versions to mirror, ascending. Contiguous from newest + 1 when
  // upstream still has them all, else (versions gone upstream, or nothing
  // held) from the nearest keyframe at or below latest.
  Result<std::vector<uint64_t>> MirrorPlan(uint64_t newest, uint64_t latest) const;

  // A gateway's keep: of the versions held, the newest `keep` and those back
  // to the keyframe the oldest of them is built from (every version, when no
  // keyframe reaches it); Dropped is the rest, what the gateway removes.
  std::vector<uint64_t> Retained(uint64_t keep) const;
  std::vector<uint64_t> Dropped(uint64_t keep) const;

  // gc of a bucket whose refs/latest is latest: the listed versions below the
  // keyframe that FirstOfNewest(latest, keep) is built from. Needs the
  // manifests NextToFetch(0, FirstOfNewest(latest, keep)) names (a fresh
  // node's path to it). kCorruption when no keyframe reaches it.
  Result<GcPlan> PlanGc(std::span<const uint64_t> listed, uint64_t latest, uint64_t keep) const;

  // Whether every held version is reachable from a keyframe through held versions.
  Contiguity CheckContiguity() const;
  // The next version to fetch again to close a gap of CheckContiguity: walking
  // down each gap from its top to the held version below it (or, with none,
  // to a keyframe). The caller adds it or marks it missing; nothing when no
  // gap is left that a fetch could close.
  std::optional<uint64_t> NextToRepair() const;

 private:
  struct Walk {
    uint64_t lowest = 0;    // the lowest version walked
    uint64_t keyframe = 0;  // the nearest keyframe at or below want, 0 if none
  };
  // The walk NextToFetch describes, over what the graph holds.
  Result<Walk> WalkDown(uint64_t held, uint64_t want) const;
  // The keyframe a chain of held versions leads from up to id.
  std::optional<uint64_t> ReachingKeyframe(uint64_t id) const;
  bool BuildsOnPrevious(const Manifest& m) const;
  Status MissingStatus(uint64_t id) const;
  std::string Name(uint64_t id) const;

  Describe describe_;
  std::map<uint64_t, Manifest> versions_;
  std::map<uint64_t, Status> missing_;
};

}  // namespace deltaswarm
