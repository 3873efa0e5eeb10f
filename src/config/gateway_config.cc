// The gateway's config file (deltaswarm gateway): every key it reads, in one table.
#include "config/checks.h"
#include "config/schema.h"
#include "config/tls_keys.h"

namespace deltaswarm::config {

template <>
const Schema<GatewayOptions>& SchemaFor<GatewayOptions>() {
  static const Schema<GatewayOptions> schema = [] {
    Schema<GatewayOptions> s;
    s.Required("bucket", &GatewayOptions::bucket,
               "upstream bucket URL: a directory, file:///path, http://host:port/prefix or s3://bucket/prefix", NotEmpty)
        .Required("model", &GatewayOptions::model, "model name in the bucket", NotEmpty)
        .Required("trust", &GatewayOptions::trust, "public keys (PEM) whose signed manifests are trusted", SomeKeys)
        .Required("dir", &GatewayOptions::dir, "the gateway's store: DIR/mirror/ (served metadata), DIR/chunks/",
                  NotEmpty)
        .Optional("http_listen", &GatewayOptions::http_listen,
                  "metadata HTTP server ip:port, the nodes' bucket (port 0: any free port)", NotEmpty)
        .Optional("listen", &GatewayOptions::listen, "swarm TCP address ip:port (port 0: any free port)", NotEmpty)
        .Optional("peers", &GatewayOptions::peers,
                  "upstream swarm peers ip:port (with no peers and no trackers: artifacts come from the bucket)")
        .Optional("trackers", &GatewayOptions::trackers, "upstream tracker announce URLs")
        .Optional("poll_interval_s", &GatewayOptions::poll_interval_s,
                  "seconds between reads of the upstream refs/latest", Positive)
        .Optional("fallback_after_s", &GatewayOptions::fallback_after_s,
                  "seconds without swarm progress before an HTTP bucket serves as web seed (negative: never)")
        .Optional("swarm_timeout_s", &GatewayOptions::swarm_timeout_s,
                  "seconds one artifact's swarm download may take before it is retried", Positive)
        .Optional("keep", &GatewayOptions::keep,
                  "newest versions kept (plus the chain back to their keyframe)", AtLeastOne)
        .Optional("upload_rate", &GatewayOptions::upload_rate, "swarm upload limit, bytes/s (0: none)", NotNegative)
        .Optional("download_rate", &GatewayOptions::download_rate, "swarm download limit, bytes/s (0: none)",
                  NotNegative)
        .Optional("aio_threads", &GatewayOptions::aio_threads, "swarm disk threads: read, write and hash pieces",
                  SwarmThreadCount)
        .Optional("hashing_threads", &GatewayOptions::hashing_threads,
                  "swarm threads that re-check files already on disk (a resumed download)", SwarmThreadCount)
        .Optional("share", &GatewayOptions::share,
                  "hand each node its own share of pieces (false: offer every piece to every node)")
        .Optional("metrics_listen", &GatewayOptions::metrics_listen,
                  "Prometheus metrics over plain HTTP at http://ip:port/metrics (empty: off; keep it off public "
                  "networks)");
    // tls_cert, tls_key, tls_ca: the same keys as every role's.
    AddTlsKeys(s, &GatewayOptions::tls,
               "the cluster CA certificate (PEM): checks tls_cert, verifies an https:// upstream bucket and, with "
               "require_client_cert, the nodes' certificates");
    s.Optional("require_client_cert", &GatewayOptions::require_client_cert,
               "serve the metadata over HTTPS only to clients with a certificate from tls_ca (needs tls_cert, tls_ca)")
        .Optional("tls_crl", &GatewayOptions::tls_crl,
                  "revocation list (PEM, the CA's crl.pem) checked against client certificates, read at start; needs "
                  "require_client_cert");
    return s;
  }();
  return schema;
}

}  // namespace deltaswarm::config
