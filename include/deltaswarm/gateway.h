// The seed-only gateway: the one host of a lab that crosses its constrained
// uplink. It follows the upstream bucket's refs/latest, fetches each new
// version's artifacts once (from upstream peers, or the bucket itself),
// verifies them against the signed manifest and seeds them to the nodes
// behind it. It never applies a delta and holds no checkpoint. It mirrors the
// small metadata (refs/latest, manifests, torrents, indexes) and serves it
// over HTTP (HTTPS with a certificate), so that nodes use it as their bucket
// and get the payload only through the swarm. Layout of DIR: docs/FORMAT.md;
// closed swarms: docs/SECURITY.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "deltaswarm/progress.h"
#include "deltaswarm/status.h"
#include "deltaswarm/stop_signal.h"
#include "deltaswarm/swarm.h"
#include "deltaswarm/tls.h"

namespace deltaswarm {

struct GatewayOptions {
  std::string bucket;               // upstream bucket: URL or path
  std::string model;
  std::vector<std::string> trust;   // public keys (PEM) whose manifests are trusted
  std::string dir;                  // the gateway's store (DIR/mirror/, DIR/chunks/)
  std::string http_listen = "0.0.0.0:8090";  // metadata server ip:port (port 0: any free port)
  std::string listen = "0.0.0.0:6881";       // swarm ip:port (port 0: any free port)
  // Upstream swarm peers and trackers; with neither, artifacts come from the
  // bucket directly.
  std::vector<std::string> peers;
  std::vector<std::string> trackers;
  double poll_interval_s = 10;      // between reads of the upstream refs/latest
  double fallback_after_s = 10;     // without swarm progress before an HTTP bucket is a web seed (<0: never)
  double swarm_timeout_s = 3600;    // one artifact's swarm download, before it is retried
  uint64_t keep = 3;                // newest versions kept (plus the chain back to their keyframe)
  int upload_rate = 0;              // bytes/s, 0 = unlimited
  int download_rate = 0;
  bool share = true;                // hand each node its share of pieces (SwarmOptions::share_seed)
  int aio_threads = kDefaultAioThreads;  // disk threads of each of its swarm sessions (SwarmOptions)
  int hashing_threads = kDefaultHashingThreads;
  // A closed swarm: with tls.cert/key (issued by the cluster CA, with the
  // gateway's address among its hosts) the gateway joins the swarms as a TLS
  // peer and serves the metadata over HTTPS only; tls also opens an https://
  // upstream bucket. Without a certificate it warns at start that any host
  // reaching its ports can download.
  TlsIdentity tls;
  // HTTPS metadata only to clients with a certificate from tls.ca (needs
  // tls.cert and tls.ca), not listed in tls_crl (a PEM CRL, read at start).
  bool require_client_cert = false;
  std::string tls_crl;
  // "ip:port" of a plain-HTTP Prometheus endpoint, GET /metrics (docs/CONFIG.md
  // lists the metrics); empty: none.
  std::string metrics_listen;
};

// What a running gateway reports as it goes.
struct GatewayEvent {
  std::string type;      // "ready", "mirrored", "removed", "sync_failed", "stale_latest", "warning"
  uint64_t version = 0;  // the version concerned, if any
  std::string message;   // one line for people
  uint64_t upstream_bytes = 0;  // for "mirrored": payload fetched for it (bucket and swarm)
  uint64_t bucket_bytes = 0;    // for "mirrored": of those, read from the bucket itself
  std::string endpoint;  // for "ready": swarm ip:port nodes reach the gateway at
  std::string http_url;  // for "ready": "http://ip:port/" or "https://ip:port/", the nodes' bucket URL
  double fetch_s = 0;    // for "mirrored": seconds it took to fetch, check and seed it
};

struct GatewayReport {
  std::string endpoint;            // swarm ip:port (empty for a sync)
  std::string http_url;            // "http(s)://ip:port/" nodes use as their bucket (empty for a sync)
  uint64_t latest = 0;             // the newest version mirrored
  std::vector<uint64_t> mirrored;  // versions mirrored by this run, ascending
  std::vector<uint64_t> held;      // versions held at exit, ascending
  uint64_t bucket_bytes = 0;       // payload read from the bucket directly (objects the swarm did not bring)
  uint64_t swarm_bytes = 0;        // payload fetched over the upstream swarm (peers, and an HTTP bucket as web seed)
};

// Brings DIR up to the upstream refs/latest once and returns, without serving:
// to prime a gateway before it is moved behind its uplink, or from cron.
Result<GatewayReport> SyncGateway(const GatewayOptions& options, const ProgressFn& progress);

// Serves until stop is requested: re-seeds what DIR holds (each artifact
// checked first), starts the metadata server, then polls the upstream
// refs/latest every poll_interval_s and mirrors each new version: artifacts
// fetched and verified, seeded, then its metadata, refs/latest last, so a
// node never sees a version the gateway cannot serve. Old versions are
// removed beyond `keep`. A failed sync is reported and retried at the next poll.
Result<GatewayReport> RunGateway(const GatewayOptions& options, const StopSignal& stop,
                                 const std::function<void(const GatewayEvent&)>& on_event,
                                 const ProgressFn& progress);

}  // namespace deltaswarm
