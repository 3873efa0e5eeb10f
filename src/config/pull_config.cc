// A pull's config file (deltaswarm pull, e.g. per MPI rank or Slurm task):
// every key it reads, in one table.
#include "config/checks.h"
#include "config/schema.h"
#include "config/tls_keys.h"

namespace deltaswarm::config {

template <>
const Schema<PullOptions>& SchemaFor<PullOptions>() {
  static const Schema<PullOptions> schema = [] {
    Schema<PullOptions> s;
    s.Required("bucket", &PullOptions::bucket, "bucket URL: a directory, file:///path, http://host:port/prefix or s3://bucket/prefix",
               NotEmpty)
        .Required("model", &PullOptions::model, "model name in the bucket", NotEmpty)
        .Required("dest", &PullOptions::dest, "the local store: DEST/current -> DEST/versions/<id>/", NotEmpty)
        .Required("trust", &PullOptions::trust, "public keys (PEM) whose signed manifests are trusted", SomeKeys)
        .Optional("version", &PullOptions::version, "version to pull, even if older than the held one (0: latest)")
        .Optional("require_fresh", &PullOptions::require_fresh,
                  "fail instead of warning when the signed refs/latest has expired")
        .Optional("keep", &PullOptions::keep, "versions kept in the store")
        .Optional("threads", &PullOptions::threads, "worker threads for verify and apply (0: all cores)")
        .Optional("peers", &PullOptions::peers,
                  "swarm peers ip:port (a few suffice, PEX finds the rest): chunks then come from peers")
        .Optional("trackers", &PullOptions::trackers,
                  "tracker announce URLs: chunks then come from the swarm they find")
        .Optional("listen", &PullOptions::listen, "swarm TCP address ip:port (port 0: any free port)", NotEmpty)
        .Optional("fallback_after_s", &PullOptions::fallback_after_s,
                  "seconds without swarm progress before an HTTP bucket serves as web seed (negative: never)")
        .Optional("swarm_timeout_s", &PullOptions::swarm_timeout_s,
                  "seconds one version's swarm download may take before the pull fails", Positive)
        .Optional("linger_s", &PullOptions::linger_s, "seconds to keep seeding after switching", NotNegativeNumber)
        .Optional("upload_rate", &PullOptions::upload_rate,
                  "swarm upload limit, bytes/s, also for local peers (0: none)", NotNegative)
        .Optional("download_rate", &PullOptions::download_rate, "swarm download limit, bytes/s (0: none)",
                  NotNegative)
        .Optional("aio_threads", &PullOptions::aio_threads, "swarm disk threads: read, write and hash pieces",
                  SwarmThreadCount)
        .Optional("hashing_threads", &PullOptions::hashing_threads,
                  "swarm threads that re-check files already on disk (a resumed download)", SwarmThreadCount);
    AddTlsKeys(s, &PullOptions::tls);
    return s;
  }();
  return schema;
}

}  // namespace deltaswarm::config
