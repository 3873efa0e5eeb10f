#include "roles/version_graph.h"

#include <algorithm>
#include <cassert>
#include <iterator>

namespace deltaswarm {

uint64_t FirstOfNewest(uint64_t latest, uint64_t keep) { return latest >= keep ? latest - keep + 1 : 1; }

VersionGraph::VersionGraph(Describe describe) : describe_(std::move(describe)) {}

void VersionGraph::Add(Manifest m) {
  const uint64_t id = m.version;
  missing_.erase(id);
  versions_.insert_or_assign(id, std::move(m));
}

void VersionGraph::AddMissing(uint64_t id, Status why) {
  versions_.erase(id);
  missing_.insert_or_assign(id, std::move(why));
}

Status VersionGraph::AddFetched(uint64_t id, Result<Manifest> fetched) {
  if (fetched.ok()) {
    Add(std::move(fetched).value());
    return Status::Ok();
  }
  if (fetched.status().code() != Code::kNotFound) return fetched.status();
  AddMissing(id, fetched.status());
  return Status::Ok();
}

void VersionGraph::Remove(uint64_t id) {
  versions_.erase(id);
  missing_.erase(id);
}

const Manifest* VersionGraph::Find(uint64_t id) const {
  auto it = versions_.find(id);
  return it == versions_.end() ? nullptr : &it->second;
}

const Manifest& VersionGraph::at(uint64_t id) const {
  const Manifest* m = Find(id);
  assert(m != nullptr);
  return *m;
}

std::vector<uint64_t> VersionGraph::ids() const {
  std::vector<uint64_t> out;
  for (const auto& [id, m] : versions_) out.push_back(id);
  return out;
}

uint64_t VersionGraph::newest() const { return versions_.empty() ? 0 : versions_.rbegin()->first; }

std::string VersionGraph::Name(uint64_t id) const {
  return describe_ ? describe_(id) : "version " + std::to_string(id);
}

Status VersionGraph::MissingStatus(uint64_t id) const {
  auto it = missing_.find(id);
  if (it != missing_.end()) return it->second;
  return NotFound(Name(id) + ": manifest not fetched");
}

std::optional<uint64_t> VersionGraph::NextToFetch(uint64_t held, uint64_t want) const {
  if (held >= want) held = 0;  // a newer held version starts no chain
  bool keyframe = false;
  for (uint64_t j = want; j >= 1; --j) {
    if (missing_.count(j)) return std::nullopt;
    const Manifest* m = Find(j);
    if (m == nullptr) return j;
    if (j < want && at(j + 1).parent != j) return std::nullopt;  // the plan fails here
    keyframe = keyframe || m->Find("keyframe") != nullptr;
    if (held ? j == held + 1 : keyframe) return std::nullopt;
  }
  return std::nullopt;
}

Result<VersionGraph::Walk> VersionGraph::WalkDown(uint64_t held, uint64_t want) const {
  Walk walk;
  for (uint64_t j = want; j >= 1; --j) {
    const Manifest* m = Find(j);
    if (m == nullptr) {
      // Below a keyframe, a version gc removed only ends the chain's chances.
      if (walk.keyframe != 0) break;
      return MissingStatus(j);
    }
    if (j < want && at(j + 1).parent != j) return Corruption(Name(j + 1) + ": parent is not version " + std::to_string(j));
    walk.lowest = j;
    if (walk.keyframe == 0 && m->Find("keyframe")) walk.keyframe = j;
    if (held ? j == held + 1 : walk.keyframe != 0) break;
  }
  return walk;
}

Result<std::vector<PlanStep>> VersionGraph::Plan(uint64_t held, uint64_t want) const {
  if (held >= want) held = 0;
  DS_ASSIGN_OR_RETURN(Walk walk, WalkDown(held, want));
  std::vector<PlanStep> chain, from_keyframe;
  uint64_t chain_bytes = 0, keyframe_bytes = 0;
  bool chain_ok = held != 0;
  for (uint64_t j = held + 1; chain_ok && j <= want; ++j) {
    const Manifest* m = Find(j);
    const ManifestArtifact* d = m ? m->Find("delta") : nullptr;
    if (!d || d->base_version != j - 1) {
      chain_ok = false;
      break;
    }
    chain.push_back({j, d});
    chain_bytes += d->bytes();
  }
  if (walk.keyframe) {
    const ManifestArtifact* k = at(walk.keyframe).Find("keyframe");
    from_keyframe.push_back({walk.keyframe, k});
    keyframe_bytes = k->bytes();
    for (uint64_t j = walk.keyframe + 1; j <= want; ++j) {
      const ManifestArtifact* d = at(j).Find("delta");
      if (!d) return Corruption(Name(j) + ": no delta");
      from_keyframe.push_back({j, d});
      keyframe_bytes += d->bytes();
    }
  }
  if (chain_ok && (!walk.keyframe || chain_bytes <= keyframe_bytes)) return chain;
  if (walk.keyframe) return from_keyframe;
  return NotFound(Name(want) + ": no keyframe at or below version " + std::to_string(want) +
                  " and no delta chain from the held version");
}

Result<std::vector<uint64_t>> VersionGraph::MirrorPlan(uint64_t newest, uint64_t latest) const {
  std::vector<uint64_t> plan;
  if (latest <= newest) return plan;
  DS_ASSIGN_OR_RETURN(Walk walk, WalkDown(newest, latest));
  uint64_t first = walk.keyframe;
  if (newest != 0 && walk.lowest == newest + 1) first = newest + 1;  // upstream still has them all
  if (first == 0)
    return NotFound(Name(walk.lowest) + ": no keyframe at or below version " + std::to_string(latest) +
                    " to start the mirror from");
  for (uint64_t j = first; j <= latest; ++j) plan.push_back(j);
  return plan;
}

bool VersionGraph::BuildsOnPrevious(const Manifest& m) const {
  const ManifestArtifact* d = m.Find("delta");
  return m.version > 1 && m.parent == m.version - 1 && d && d->base_version == m.version - 1;
}

std::optional<uint64_t> VersionGraph::ReachingKeyframe(uint64_t id) const {
  for (uint64_t j = id; j >= 1; --j) {
    const Manifest* m = Find(j);
    if (m == nullptr) return std::nullopt;
    if (m->Find("keyframe")) return j;
    if (!BuildsOnPrevious(*m)) return std::nullopt;
  }
  return std::nullopt;
}

std::vector<uint64_t> VersionGraph::Retained(uint64_t keep) const {
  std::vector<uint64_t> all = ids();
  if (all.size() <= keep) return all;
  std::optional<uint64_t> keyframe = ReachingKeyframe(all[all.size() - keep]);
  if (!keyframe) return all;  // removing any could strand what is kept
  all.erase(all.begin(), std::lower_bound(all.begin(), all.end(), *keyframe));
  return all;
}

std::vector<uint64_t> VersionGraph::Dropped(uint64_t keep) const {
  std::vector<uint64_t> all = ids(), kept = Retained(keep), dropped;
  std::set_difference(all.begin(), all.end(), kept.begin(), kept.end(), std::back_inserter(dropped));
  return dropped;
}

Result<GcPlan> VersionGraph::PlanGc(std::span<const uint64_t> listed, uint64_t latest, uint64_t keep) const {
  const uint64_t first = FirstOfNewest(latest, keep);
  std::optional<uint64_t> keyframe = ReachingKeyframe(first);
  if (!keyframe) return Corruption(Name(first) + ": no keyframe below it");
  GcPlan plan;
  plan.oldest_kept = *keyframe;
  for (uint64_t id : listed)
    if (id < *keyframe) plan.removable.push_back(id);
  std::sort(plan.removable.begin(), plan.removable.end());
  return plan;
}

Contiguity VersionGraph::CheckContiguity() const {
  Contiguity c;
  uint64_t previous = 0;  // the held version before this one
  bool previous_reachable = false;
  for (const auto& [id, m] : versions_) {
    const bool adjacent = previous != 0 && id == previous + 1;
    const bool reachable = m.Find("keyframe") || (adjacent && previous_reachable && BuildsOnPrevious(m));
    if (!reachable) {
      c.unreachable.push_back(id);
      if (!adjacent && id > previous + 1) c.gaps.push_back({previous + 1, id - 1});
    }
    previous = id;
    previous_reachable = reachable;
  }
  return c;
}

std::optional<uint64_t> VersionGraph::NextToRepair() const {
  for (const auto& [first, last] : CheckContiguity().gaps)
    if (std::optional<uint64_t> id = NextToFetch(first - 1, last)) return id;
  return std::nullopt;
}

}  // namespace deltaswarm
