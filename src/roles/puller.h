// The machinery behind Pull, for roles that pull inside a longer-lived
// process (the node): one externally owned swarm session for every pull, and
// artifacts kept in the store for seeding instead of removed with staging.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "deltaswarm/bucket.h"
#include "deltaswarm/manifest.h"
#include "deltaswarm/roles.h"
#include "deltaswarm/stop_signal.h"
#include "deltaswarm/swarm.h"
#include "roles/local_store.h"

namespace deltaswarm {

struct PullContext {
  // Not owned. Non-null: chunks come from this swarm (options.peers and the
  // swarm fields of options are not used); null: Pull's own session when
  // options.peers is set, else the bucket.
  Swarm* swarm = nullptr;
  // Download into store.ChunksDir(id)/<kind>/ and keep it there (seeding).
  bool keep_chunks = false;
  // Prune the store to options.keep afterwards (a node prunes itself, after
  // taking the dropped versions' torrents out of its swarm).
  bool prune = true;
  // Ends a swarm wait, the linger and a chunk download from the bucket at
  // once (also mid-object), and the pull before its next apply (may be null).
  const StopSignal* stop = nullptr;
  // > 0: a swarm download without progress for this long is removed and
  // added again, so that it dials its bootstrap peers afresh (a peer that
  // refused it before it had the torrent is otherwise retried only after
  // minutes). Doubles each time, up to 30 s.
  double restart_stalled_s = 0;
};

// An artifact a pull fetched, in the order applied.
struct PulledArtifact {
  uint64_t version = 0;
  std::string kind;    // "delta" or "keyframe"
  TorrentId torrent;   // in PullContext::swarm, now seeding; 0 when fetched from the bucket
};

struct PullOutcome {
  PullReport report;
  std::vector<PulledArtifact> artifacts;
};

// Pull (roles.h) on an already open store. On failure the torrents it added
// to context.swarm are removed again (the files stay, for a resumed download).
Result<PullOutcome> PullInto(const PullOptions& options, Bucket& bucket, LocalStore& store,
                             std::span<const TrustedKey> trusted, const PullContext& context,
                             const ProgressFn& progress);

}  // namespace deltaswarm
