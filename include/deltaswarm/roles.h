// The roles over a Hub bucket: the trainer side publishes versions, a node
// pulls them, an operator collects garbage. Bucket layout: docs/FORMAT.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "deltaswarm/delta.h"
#include "deltaswarm/latest.h"
#include "deltaswarm/progress.h"
#include "deltaswarm/status.h"
#include "deltaswarm/stop_signal.h"
#include "deltaswarm/swarm.h"
#include "deltaswarm/tls.h"

namespace deltaswarm {

struct PublishOptions {
  std::string bucket;      // URL or path
  std::string model;       // [A-Za-z0-9._-]+
  std::string key;         // Ed25519 private key (PEM); KEY.pub beside it is trusted for the state
  std::string checkpoint;  // file or directory to publish
  std::string state;       // the publisher's local store of the last published version
  uint64_t keyframe_every = 10;  // versions 1, 1+K, 1+2K, ... also get a keyframe
  uint64_t keep = 2;             // versions kept in the state store
  DiffOptions diff;
  // Keep the uploaded artifacts in STATE/chunks/<id>/<kind>/ (for publish
  // --seed) instead of removing them with the staging directory.
  bool keep_chunks = false;
  // Called with the new version's id once its objects and signed manifest are
  // in the bucket (and kept, with keep_chunks), before refs/latest names it:
  // publish --seed starts serving here, so that nodes which see the version
  // find its seed listening. An error fails the publish; refs/latest stays.
  std::function<Status(uint64_t version)> before_live;
  // A closed swarm: with tls.ca the torrents are TLS torrents of that CA (only
  // its certificate holders join), carrying the revocation list tls_crl (may
  // be empty). tls.cert/key: the identity of publish --seed's seed and of an
  // HTTPS bucket client.
  TlsIdentity tls;
  std::string tls_crl;
  // How long a signed latest statement stays fresh: nodes warn about an
  // older one (stale_latest). publish --seed re-signs it at half this, and
  // so should a cron job (publish --refresh-latest) for a publisher that exits.
  double latest_valid_s = 86400;
};

struct PublishReport {
  uint64_t version = 0;
  uint64_t target_bytes = 0;
  uint64_t delta_bytes = 0;     // 0 when only a keyframe was written
  uint64_t keyframe_bytes = 0;  // 0 when no keyframe was written
  uint64_t uploaded_bytes = 0;
  std::string note;  // e.g. a state store that could not keep this version (the next publish refetches it)
};

// Publishes checkpoint as the next version: a delta against the previous
// version (held in the state store, fetched from the bucket if missing), a
// keyframe for the first and every K-th version, the signed manifest, then
// the signed latest statement. A publish killed halfway leaves refs/latest
// where it was; its re-run removes unsigned leftovers, or makes a complete
// stopped version live and publishes on top of it. A checkpoint whose files
// are the live version's publishes nothing (report.version is that version):
// publishing is idempotent. Refuses (kMismatch) when refs/latest is older than the
// state store's version or the two differ, and (kAlreadyExists) while
// another publisher holds the bucket's lock.
Result<PublishReport> Publish(const PublishOptions& options, const ProgressFn& progress);

// Re-signs the bucket's latest statement (same version, issued now, valid
// for options.latest_valid_s), under the publisher lock; the statement
// written. A rewound one is put back to the state store's version when the
// bucket holds that version as published (else kMismatch).
Result<LatestStatement> RefreshLatest(const PublishOptions& options);

struct PullOptions {
  std::string bucket;
  std::string model;
  std::string dest;                 // the node's local store
  std::vector<std::string> trust;   // public keys (PEM) whose manifests are trusted
  uint64_t version = 0;             // 0: follow the signed refs/latest (never backwards)
  // Refuse (kMismatch) to follow a latest statement past its expiry instead
  // of warning (PullReport::stale_latest).
  bool require_fresh = false;
  uint64_t keep = 3;                // versions kept in the store
  unsigned threads = 0;
  // Swarm: with peers ("ip:port", a bounded list; PEX finds the rest) the
  // chunks come from the swarm and the bucket serves only manifests and
  // torrents, plus, for an HTTP bucket, pieces no peer has provided for
  // fallback_after_s (negative: never).
  std::vector<std::string> peers;
  std::vector<std::string> trackers;  // announce URLs: also pulls over the swarm, with or without peers
  std::string listen = "0.0.0.0:0";
  double fallback_after_s = 10;
  double swarm_timeout_s = 3600;
  // Called instead of the ProgressFn for swarm downloads, with rates and peers (may be empty).
  SwarmProgressFn on_swarm_progress;
  double linger_s = 0;              // keep seeding this long after switching
  int upload_rate = 0;              // bytes/s, 0 = unlimited
  int download_rate = 0;
  int aio_threads = kDefaultAioThreads;  // the swarm session's disk threads (SwarmOptions)
  int hashing_threads = kDefaultHashingThreads;
  TlsIdentity tls;                  // needed for TLS torrents and HTTPS buckets (tls.h)
  // Check held versions by reading them in full, not by their stamps
  // (docs/FORMAT.md, "A node's local store"); node --scrub sets it.
  bool scrub = false;
};

struct PullReport {
  uint64_t from_version = 0;  // 0: nothing usable was held
  uint64_t to_version = 0;
  bool changed = false;       // false: already there
  uint64_t downloaded_bytes = 0;
  uint64_t target_bytes = 0;
  std::vector<std::string> steps;  // "keyframe 4", "delta 5", ...
  uint64_t swarm_bytes = 0;        // payload received from peers (and web seeds) over the swarm
  int hash_failures = 0;           // swarm pieces that failed their hash check (and were fetched again)
  std::string note;                // e.g. why refs/latest was ignored, or a repair
  std::string stale_latest;        // why the latest statement is not fresh (expired); empty if it is
  // How the held version this pull started from (or found up to date) was
  // found intact: "stamp" (its stamp matched: not read), "full" (read and
  // checked), "" (none held, or none intact).
  std::string held_check;
  uint64_t held_check_bytes = 0;       // bytes of held versions read to check them
  uint64_t artifact_hashed_bytes = 0;  // artifact bytes whose SHA-256 the pull computed
};

// Brings dest to the wanted version by the cheapest path in bytes (the chain
// of deltas from the held version, or the nearest keyframe and the deltas
// after it), verifying every manifest signature, chunk and frame, and
// switching dest/current atomically once the new version is verified.
// *stop (may be null) ends a swarm wait, the linger and a chunk download
// from the bucket at once (also mid-object), and the pull before its next apply
// (kCancelled; the held version stays current). An apply in progress finishes.
Result<PullReport> Pull(const PullOptions& options, const ProgressFn& progress, const StopSignal* stop = nullptr);

struct SeedOptions {
  std::string bucket;
  std::string model;
  std::vector<std::string> trust;
  std::string dir;                  // where the artifacts are kept
  uint64_t version = 0;             // 0: refs/latest
  std::string listen = "0.0.0.0:0";
  std::vector<std::string> peers;
  std::vector<std::string> trackers;  // announce URLs added to every torrent seeded
  int upload_rate = 0;
  // Hand each node its share of pieces (SwarmOptions::share_seed); false
  // offers every piece to every node, as libtorrent does by default.
  bool share = true;
  int aio_threads = kDefaultAioThreads;  // the swarm session's disk threads (SwarmOptions)
  int hashing_threads = kDefaultHashingThreads;
  TlsIdentity tls;                  // needed for TLS torrents and HTTPS buckets (tls.h)
};

// Fetches (verified) the artifacts of a version from the bucket, or finds them
// in dir, and seeds them until stop is requested. on_ready(endpoint) is called
// once it serves; progress ("upload") about once a second.
Status Seed(const SeedOptions& options, const std::function<void(const std::string&)>& on_ready,
            const StopSignal& stop, const ProgressFn& progress);

struct StoreStatus {
  uint64_t current = 0;            // the version DIR/current points to; 0 if none
  std::string model;               // from the current version's manifest
  uint64_t current_bytes = 0;
  std::vector<uint64_t> versions;  // complete versions held, ascending
  std::vector<uint64_t> seeding;   // held versions whose chunks are kept for seeding (DIR/chunks/<id>/)
};

// Reads a node's store without locking or changing it (a pull may be running).
Result<StoreStatus> ReadStoreStatus(const std::string& dir);

struct VersionCheckResult {
  uint64_t version = 0;
  bool intact = false;
  uint64_t bytes = 0;  // bytes read to check it
  std::string error;   // why not intact
};

// Checks held versions of the store at dir in full (every byte, stamps not
// trusted): `version`, or every held one when 0. A version that passes is
// stamped anew, one that fails loses its stamp, so that the next pull
// re-checks and rebuilds it; with the store in use (a node running) it
// writes no stamps. kNotFound when dir is no store or lacks `version`.
Result<std::vector<VersionCheckResult>> VerifyStore(const std::string& dir, uint64_t version, unsigned threads,
                                                    const ProgressFn& progress);

struct NodeOptions {
  std::string bucket;
  std::string model;
  std::string dest;                 // the node's local store (as for pull)
  std::vector<std::string> trust;   // public keys (PEM) whose manifests are trusted
  std::string listen = "0.0.0.0:0";
  std::vector<std::string> peers;     // "ip:port" swarm peers to start from
  std::vector<std::string> trackers;  // tracker announce URLs
  double poll_interval_s = 10;      // between reads of refs/latest
  double fallback_after_s = 10;     // without swarm progress before the HTTP bucket is a web seed (<0: never)
  uint64_t keep = 3;                // versions kept in the store
  uint64_t seed_versions = 2;       // the newest held versions whose chunks are kept and seeded
  int upload_rate = 0;              // bytes/s, 0 = unlimited
  int download_rate = 0;
  int aio_threads = kDefaultAioThreads;  // the swarm session's disk threads (SwarmOptions)
  int hashing_threads = kDefaultHashingThreads;
  std::string on_update;            // run by /bin/sh -c after each switch (may be empty)
  // Seconds on_update may run before its process group is killed (a
  // warning; the node goes on); 0: no limit.
  double hook_timeout_s = 300;
  unsigned threads = 0;
  double swarm_timeout_s = 3600;    // one version's swarm download, before it is retried
  SwarmProgressFn on_swarm_progress;  // as in PullOptions (may be empty)
  TlsIdentity tls;                  // needed for TLS torrents and HTTPS buckets (tls.h)
  // "ip:port" of a plain-HTTP Prometheus endpoint, GET /metrics (docs/CONFIG.md
  // lists the metrics); empty: none.
  std::string metrics_listen;
  // On start, check every held version by reading it in full instead of
  // trusting its stamp; a version that fails is reported and rebuilt.
  bool scrub = false;
};

// What a running node reports as it goes.
struct NodeEvent {
  // "ready", "scrubbed", "seeding", "pulled", "pull_failed", "stale_latest", "on_update", "on_update_failed",
  // "warning"
  std::string type;
  uint64_t version = 0;  // the version concerned, if any
  std::string message;   // one line for people
  PullReport pull;       // for "pulled"
  std::string endpoint;  // for "ready": ip:port peers reach this node at
  double pull_s = 0;     // for "pulled": seconds the pull took, downloads and applies
  double apply_s = 0;    // for "pulled": of those, seconds spent applying (0 without metrics_listen)
};

struct NodeReport {
  std::string endpoint;            // where peers reached this node
  uint64_t current = 0;            // the version held at exit
  std::vector<uint64_t> pulled;    // versions switched to while running
  uint64_t swarm_bytes = 0;
  uint64_t downloaded_bytes = 0;   // from the bucket
};

// Runs a node until stop is requested: re-seeds the kept chunks of the
// versions it holds, then polls the signed refs/latest every poll_interval_s,
// pulls each new version through one swarm session (verified as Pull does),
// switches current, runs on_update in a process group of its own (a failure
// is reported, not fatal; the group is killed past hook_timeout_s or on a
// stop) and keeps seeding
// the chunks of the newest seed_versions versions. Failed pulls are reported
// and retried at the next poll. Returns within about a second of a stop
// (every wait wakes at once; an apply in progress finishes first).
Result<NodeReport> RunNode(const NodeOptions& options, const StopSignal& stop,
                           const std::function<void(const NodeEvent&)>& on_event, const ProgressFn& progress);

struct GcReport {
  std::vector<uint64_t> removed;
  uint64_t oldest_kept = 0;
};

// Removes every version older than the keyframe that the oldest of the newest
// `keep` versions needs; what is left still builds each of those versions.
Result<GcReport> CollectGarbage(const std::string& bucket, const std::string& model, uint64_t keep,
                                const std::vector<std::string>& trust);

}  // namespace deltaswarm
