// The node's config file (deltaswarm node): every key it reads, in one table.
#include "config/checks.h"
#include "config/schema.h"
#include "config/tls_keys.h"

namespace deltaswarm::config {

template <>
const Schema<NodeOptions>& SchemaFor<NodeOptions>() {
  static const Schema<NodeOptions> schema = [] {
    Schema<NodeOptions> s;
    s.Required("bucket", &NodeOptions::bucket, "bucket URL: a directory, file:///path, http://host:port/prefix or s3://bucket/prefix",
               NotEmpty)
        .Required("model", &NodeOptions::model, "model name in the bucket", NotEmpty)
        .Required("dest", &NodeOptions::dest, "the node's store: DEST/current -> DEST/versions/<id>/", NotEmpty)
        .Required("trust", &NodeOptions::trust, "public keys (PEM) whose signed manifests are trusted", SomeKeys)
        .Optional("listen", &NodeOptions::listen, "swarm TCP address ip:port (port 0: any free port)", NotEmpty)
        .Optional("peers", &NodeOptions::peers, "swarm peers ip:port to start from (PEX finds the rest)")
        .Optional("trackers", &NodeOptions::trackers, "tracker announce URLs added to every torrent")
        .Optional("poll_interval_s", &NodeOptions::poll_interval_s, "seconds between reads of refs/latest", Positive)
        .Optional("fallback_after_s", &NodeOptions::fallback_after_s,
                  "seconds without swarm progress before an HTTP bucket serves as web seed (negative: never)")
        .Optional("swarm_timeout_s", &NodeOptions::swarm_timeout_s,
                  "seconds one version's swarm download may take before it is retried", Positive)
        .Optional("keep", &NodeOptions::keep, "versions kept in the store", AtLeastOne)
        .Optional("seed_versions", &NodeOptions::seed_versions,
                  "the newest held versions whose chunks are kept and seeded (0: none)")
        .Optional("upload_rate", &NodeOptions::upload_rate, "swarm upload limit, bytes/s (0: none)", NotNegative)
        .Optional("download_rate", &NodeOptions::download_rate, "swarm download limit, bytes/s (0: none)",
                  NotNegative)
        .Optional("aio_threads", &NodeOptions::aio_threads, "swarm disk threads: read, write and hash pieces",
                  SwarmThreadCount)
        .Optional("hashing_threads", &NodeOptions::hashing_threads,
                  "swarm threads that re-check files already on disk (a resumed download)", SwarmThreadCount)
        .Optional("on_update", &NodeOptions::on_update,
                  "shell command run after each switch, with DELTASWARM_VERSION and DELTASWARM_CHECKPOINT set")
        .Optional("hook_timeout_s", &NodeOptions::hook_timeout_s,
                  "seconds on_update may run before its process group is killed (a warning; 0: no limit)",
                  NotNegativeNumber)
        .Optional("threads", &NodeOptions::threads, "worker threads for verify and apply (0: all cores)")
        .Optional("scrub", &NodeOptions::scrub,
                  "on start, read every held version in full instead of trusting its stamp (a damaged one is "
                  "rebuilt)")
        .Optional("metrics_listen", &NodeOptions::metrics_listen,
                  "Prometheus metrics over plain HTTP at http://ip:port/metrics (empty: off; keep it off public "
                  "networks)");
    AddTlsKeys(s, &NodeOptions::tls);
    return s;
  }();
  return schema;
}

}  // namespace deltaswarm::config
