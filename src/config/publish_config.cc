// The publisher's config file (deltaswarm publish): every key it reads, in one table.
#include "config/checks.h"
#include "config/schema.h"
#include "config/tls_keys.h"

namespace deltaswarm::config {

template <>
const Schema<PublishOptions>& SchemaFor<PublishOptions>() {
  static const Schema<PublishOptions> schema = [] {
    Schema<PublishOptions> s;
    s.Required("bucket", &PublishOptions::bucket, "bucket URL: a directory, file:///path, http://host:port/prefix or s3://bucket/prefix",
               NotEmpty)
        .Required("model", &PublishOptions::model, "model name in the bucket ([A-Za-z0-9._-]+)", NotEmpty)
        .Required("key", &PublishOptions::key, "Ed25519 private key (PEM, from keygen); KEY.pub must sit beside it",
                  NotEmpty)
        .Required("checkpoint", &PublishOptions::checkpoint,
                  "checkpoint file or directory to publish (usually given on the command line)", NotEmpty)
        .Optional("state", &PublishOptions::state,
                  "local store of the last published version (\"\": ~/.cache/deltaswarm/publish/MODEL)")
        .Optional("keyframe_every", &PublishOptions::keyframe_every,
                  "versions 1, 1+K, 1+2K, ... also get a keyframe", AtLeastOne)
        .Optional("keep", &PublishOptions::keep, "versions kept in the state store")
        .Optional("threads", &PublishOptions::diff, &DiffOptions::threads, "worker threads (0: all cores)")
        .Optional("frame_bytes", &PublishOptions::diff, &DiffOptions::frame_bytes, "raw bytes per frame",
                  BytesBetween(4096, 1ull << 30))
        .Optional("chunk_bytes", &PublishOptions::diff, &DiffOptions::chunk_bytes, "target size of a chunk file",
                  BytesBetween(4096, UINT64_MAX))
        .Optional("zstd_level", &PublishOptions::diff, &DiffOptions::zstd_level,
                  "zstd level for dense and full frames");
    AddTlsKeys(s, &PublishOptions::tls,
               "the cluster CA certificate (PEM): the torrents become TLS torrents only its certificate holders "
               "join (a closed swarm)");
    s.Optional("tls_crl", &PublishOptions::tls_crl,
               "the CA's revocation list (PEM, CA_DIR/crl.pem) carried by each torrent (needs tls_ca)");
    s.Optional("latest_valid_s", &PublishOptions::latest_valid_s,
               "seconds the signed refs/latest stays fresh (nodes warn after: stale_latest); publish --seed "
               "re-signs at half of it, a publisher that exits needs publish --refresh-latest from cron",
               Positive);
    return s;
  }();
  return schema;
}

}  // namespace deltaswarm::config
