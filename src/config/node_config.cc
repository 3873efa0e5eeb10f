// The node's config file: every key `deltaswarm node` reads, in one table.
#include "core/file.h"
#include "config/schema.h"
#include "deltaswarm/config.h"

namespace deltaswarm {

namespace {

constexpr uint64_t kMaxConfigBytes = 1 << 20;

std::string Positive(const double& v) { return v > 0 ? "" : "must be > 0"; }
std::string AtLeastOne(const uint64_t& v) { return v >= 1 ? "" : "must be at least 1"; }
std::string NotNegative(const int& v) { return v >= 0 ? "" : "must be >= 0"; }
std::string NotEmpty(const std::string& v) { return v.empty() ? "must not be empty" : ""; }
std::string SomeKeys(const std::vector<std::string>& v) { return v.empty() ? "needs at least one key" : ""; }

const config::Schema<NodeOptions>& NodeSchema() {
  static const config::Schema<NodeOptions> schema = [] {
    config::Schema<NodeOptions> s;
    s.Required("bucket", &NodeOptions::bucket, "bucket URL: a directory, file:///path or http://host:port/prefix",
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
        .Optional("keep", &NodeOptions::keep, "versions kept in the store", AtLeastOne)
        .Optional("seed_versions", &NodeOptions::seed_versions,
                  "the newest held versions whose chunks are kept and seeded (0: none)")
        .Optional("upload_rate", &NodeOptions::upload_rate, "swarm upload limit, bytes/s (0: none)", NotNegative)
        .Optional("download_rate", &NodeOptions::download_rate, "swarm download limit, bytes/s (0: none)",
                  NotNegative)
        .Optional("on_update", &NodeOptions::on_update,
                  "shell command run after each switch, with DELTASWARM_VERSION and DELTASWARM_CHECKPOINT set")
        .Optional("threads", &NodeOptions::threads, "worker threads for verify and apply (0: all cores)");
    return s;
  }();
  return schema;
}

}  // namespace

Result<NodeOptions> ParseNodeConfig(const std::string& yaml, const std::string& name,
                                    const std::set<std::string>& given_elsewhere) {
  return NodeSchema().Load(yaml, name, NodeOptions{}, given_elsewhere);
}

Result<NodeOptions> LoadNodeConfig(const std::string& path, const std::set<std::string>& given_elsewhere) {
  DS_ASSIGN_OR_RETURN(std::vector<std::byte> bytes, ReadWholeFile(path, kMaxConfigBytes));
  return ParseNodeConfig(std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path,
                         given_elsewhere);
}

std::vector<std::string> NodeConfigKeys() { return NodeSchema().Keys(); }
std::string DescribeNodeConfig() { return NodeSchema().Describe(); }

}  // namespace deltaswarm
