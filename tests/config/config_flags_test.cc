// ConfigFlags, the command-line side of a config file: a flag wins over the
// file, a flag satisfies a required key, and flag values get the key's checks.
#include <doctest/doctest.h>

#include <memory>

#include "config_flags.h"
#include "swarm_thread_flags.h"
#include "tls_flags.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::cli;
using namespace deltaswarm::testing;

namespace {

// A gateway's flags, bound as the gateway command binds them.
struct GatewayFlags {
  CLI::App app{"test"};
  std::unique_ptr<ConfigFlags<GatewayOptions>> flags = std::make_unique<ConfigFlags<GatewayOptions>>(
      &app, "configs/gateway.yaml");

  GatewayFlags() {
    ConfigFlags<GatewayOptions>& c = *flags;
    c.Bind("--bucket", &GatewayOptions::bucket, "bucket", "");
    c.Bind("--model", &GatewayOptions::model, "model", "");
    c.Bind("--trust", &GatewayOptions::trust, "trust", "");
    c.Bind("--dir", &GatewayOptions::dir, "dir", "");
    c.Bind("--http", &GatewayOptions::http_listen, "http_listen", "");
    c.Bind("--metrics-listen", &GatewayOptions::metrics_listen, "metrics_listen", "");
    c.Bind("--listen", &GatewayOptions::listen, "listen", "");
    c.Bind("--peer", &GatewayOptions::peers, "peers", "");
    c.Bind("--tracker", &GatewayOptions::trackers, "trackers", "");
    c.Bind("--poll-interval", &GatewayOptions::poll_interval_s, "poll_interval_s", "");
    c.Bind("--fallback-after", &GatewayOptions::fallback_after_s, "fallback_after_s", "");
    c.Bind("--swarm-timeout", &GatewayOptions::swarm_timeout_s, "swarm_timeout_s", "");
    c.Bind("--keep", &GatewayOptions::keep, "keep", "");
    c.Bind("--upload-rate", &GatewayOptions::upload_rate, "upload_rate", "");
    c.Bind("--download-rate", &GatewayOptions::download_rate, "download_rate", "");
    BindSwarmThreadFlags(c);
    c.BindSwitch("--share,!--no-share", &GatewayOptions::share, "share", "");
    BindTlsFlags(c, &GatewayOptions::tls);
    c.BindSwitch("--require-client-cert", &GatewayOptions::require_client_cert, "require_client_cert", "");
    c.Bind("--tls-crl", &GatewayOptions::tls_crl, "tls_crl", "");
  }

  Result<GatewayOptions> Parse(const std::string& command_line) {
    app.parse(command_line, /*program_name_included=*/false);
    return flags->Resolve();
  }
};

// A publisher's flags, with a toy size parser for --frame-size and --chunk-size.
struct PublishFlags {
  CLI::App app{"test"};
  std::unique_ptr<ConfigFlags<PublishOptions>> flags = std::make_unique<ConfigFlags<PublishOptions>>(
      &app, "configs/publisher.yaml");

  static Result<uint64_t> Kibibytes(const std::string& text) {
    if (text.size() < 3 || text.substr(text.size() - 2) != "Ki") return InvalidArgument("'" + text + "': want NKi");
    return std::stoull(text) * 1024;
  }

  PublishFlags() {
    ConfigFlags<PublishOptions>& c = *flags;
    c.Bind("checkpoint", &PublishOptions::checkpoint, "checkpoint", "");
    c.Bind("--bucket", &PublishOptions::bucket, "bucket", "");
    c.Bind("--model", &PublishOptions::model, "model", "");
    c.Bind("--key", &PublishOptions::key, "key", "");
    c.Bind("--state", &PublishOptions::state, "state", "");
    c.Bind("--keyframe-every", &PublishOptions::keyframe_every, "keyframe_every", "");
    c.Bind("--keep", &PublishOptions::keep, "keep", "");
    c.Bind("-j,--threads", &PublishOptions::diff, &DiffOptions::threads, "threads", "");
    c.BindParsed("--frame-size", &PublishOptions::diff, &DiffOptions::frame_bytes, "frame_bytes", "", Kibibytes);
    c.BindParsed("--chunk-size", &PublishOptions::diff, &DiffOptions::chunk_bytes, "chunk_bytes", "", Kibibytes);
    c.Bind("--level", &PublishOptions::diff, &DiffOptions::zstd_level, "zstd_level", "");
    BindTlsFlags(c, &PublishOptions::tls);
    c.Bind("--tls-crl", &PublishOptions::tls_crl, "tls_crl", "");
    c.Bind("--latest-valid", &PublishOptions::latest_valid_s, "latest_valid_s", "");
  }

  Result<PublishOptions> Parse(const std::string& command_line) {
    app.parse(command_line, /*program_name_included=*/false);
    return flags->Resolve();
  }
};

const char* kGatewayFile =
    "bucket: http://hub:8080/hub\n"
    "model: m\n"
    "trust: [/keys/a.pub]\n"
    "dir: /srv/gateway\n"
    "http_listen: 10.0.0.1:8090\n"
    "peers: [192.0.2.1:6881, 192.0.2.2:6881]\n"
    "keep: 5\n"
    "share: true\n";

std::string WriteConfig(const TempDir& tmp, const std::string& text) {
  std::string path = tmp / "gateway.yaml";
  WriteBytes(path, std::vector<uint8_t>(text.begin(), text.end()));
  return path;
}

}  // namespace

TEST_CASE("a gateway flag wins over the file; keys without a flag keep the file's value") {
  TempDir tmp;
  GatewayFlags g;
  auto r = g.Parse("--config " + WriteConfig(tmp, kGatewayFile) +
                   " --http 127.0.0.1:0 --peer 127.0.0.1:7 --keep 2 --no-share --poll-interval 0.5");
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->http_listen == "127.0.0.1:0");                           // flag
  CHECK(r->peers == std::vector<std::string>{"127.0.0.1:7"});       // a list flag replaces the file's list
  CHECK(r->keep == 2);
  CHECK_FALSE(r->share);                                            // --no-share over share: true
  CHECK(r->poll_interval_s == 0.5);                                 // flag over the default
  CHECK(r->bucket == "http://hub:8080/hub");                        // file
  CHECK(r->dir == "/srv/gateway");
  CHECK(r->listen == GatewayOptions{}.listen);                      // neither: the default
}

TEST_CASE("--share overrides a file's share: false") {
  TempDir tmp;
  std::string text = kGatewayFile;
  text.replace(text.find("share: true"), 11, "share: false");
  const std::string config = WriteConfig(tmp, text);
  auto off = GatewayFlags().Parse("--config " + config);
  REQUIRE(off.ok());
  CHECK_FALSE(off->share);
  auto on = GatewayFlags().Parse("--config " + config + " --share");
  REQUIRE(on.ok());
  CHECK(on->share);
}

TEST_CASE("a required key missing from the file is satisfied by its flag") {
  TempDir tmp;
  std::string text = kGatewayFile;
  text.erase(text.find("dir: "), std::string("dir: /srv/gateway\n").size());
  auto missing = GatewayFlags().Parse("--config " + WriteConfig(tmp, text));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message() == tmp / "gateway.yaml" + ":1: missing required key 'dir' (the gateway's store: "
                                                             "DIR/mirror/ (served metadata), DIR/chunks/)");
  auto given = GatewayFlags().Parse("--config " + WriteConfig(tmp, text) + " --dir /d");
  REQUIRE(given.ok());
  CHECK(given->dir == "/d");
}

TEST_CASE("without --config, the required keys come from flags") {
  auto r = GatewayFlags().Parse("--bucket b --model m --trust k.pub");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK(r.status().message() == "--dir is required (or key 'dir' in a --config file)");
  auto ok = GatewayFlags().Parse("--bucket b --model m --trust k.pub --dir d");
  REQUIRE(ok.ok());
  CHECK(ok->trust == std::vector<std::string>{"k.pub"});
  CHECK(ok->keep == GatewayOptions{}.keep);
}

TEST_CASE("a flag's value is range-checked like the key's, naming the flag") {
  auto r = GatewayFlags().Parse("--bucket b --model m --trust k.pub --dir d --keep 0");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "--keep: must be at least 1");
  r = GatewayFlags().Parse("--bucket b --model m --trust k.pub --dir d --poll-interval -1");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "--poll-interval: must be > 0");
}

TEST_CASE("--aio-threads and --hashing-threads set the swarm's disk threads, range-checked") {
  auto r = GatewayFlags().Parse("--bucket b --model m --trust k.pub --dir d --aio-threads 8 --hashing-threads 3");
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->aio_threads == 8);
  CHECK(r->hashing_threads == 3);
  r = GatewayFlags().Parse("--bucket b --model m --trust k.pub --dir d --aio-threads 0");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "--aio-threads: must be between 1 and 64");
  r = GatewayFlags().Parse("--bucket b --model m --trust k.pub --dir d --hashing-threads 65");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "--hashing-threads: must be between 1 and 64");
}

TEST_CASE("a file's error keeps its file and line") {
  TempDir tmp;
  auto r = GatewayFlags().Parse("--config " + WriteConfig(tmp, std::string(kGatewayFile) + "keep_versions: 2\n") +
                                " --keep 1");
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().rfind(tmp / "gateway.yaml" + ":9: unknown key 'keep_versions'", 0) == 0);
}

TEST_CASE("a config key left without a flag is reported") {
  CLI::App app{"test"};
  ConfigFlags<GatewayOptions> c(&app, "x");
  c.Bind("--bucket", &GatewayOptions::bucket, "bucket", "");
  app.parse(std::string("--bucket b"), false);
  auto r = c.Resolve();
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == "internal: config key 'aio_threads' has no flag");  // the first in name order
}

TEST_CASE("a parsed flag, a nested field and a positional argument") {
  PublishFlags p;
  auto r = p.Parse("--bucket b --model m --key k -j 3 --frame-size 64Ki ckpt");
  INFO(r.status().message());
  REQUIRE(r.ok());
  CHECK(r->checkpoint == "ckpt");
  CHECK(r->diff.threads == 3);
  CHECK(r->diff.frame_bytes == 65536);
  CHECK(r->diff.chunk_bytes == DiffOptions{}.chunk_bytes);

  auto bad = PublishFlags().Parse("--bucket b --model m --key k --frame-size 4M ckpt");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() == "--frame-size: '4M': want NKi");
  auto small = PublishFlags().Parse("--bucket b --model m --key k --frame-size 1Ki ckpt");
  REQUIRE_FALSE(small.ok());
  CHECK(small.status().message() == "--frame-size: must be between 4096 and 1073741824 bytes");
  auto none = PublishFlags().Parse("--bucket b --model m --key k");
  REQUIRE_FALSE(none.ok());
  CHECK(none.status().message() == "checkpoint is required (or key 'checkpoint' in a --config file)");
}
