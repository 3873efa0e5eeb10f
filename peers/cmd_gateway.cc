// deltaswarm gateway [--config gateway.yaml] [overrides] [--once]: the
// seed-only mirror of a lab, serving until SIGTERM, or one sync with --once.
// Every config key has a flag; flags win.
#include <fstream>
#include <iostream>

#include "command.h"
#include "config_flags.h"
#include "deltaswarm/gateway.h"
#include "progress_reporter.h"
#include "sd_notify.h"
#include "stop_signal.h"
#include "swarm_thread_flags.h"
#include "tls_flags.h"

namespace deltaswarm::cli {

namespace {

struct GatewayArgs {
  explicit GatewayArgs(CLI::App* sub) : config(sub, "configs/gateway.yaml") {}
  ConfigFlags<GatewayOptions> config;
  bool once = false;
  std::string ready_file;
};

nlohmann::json EventJson(const GatewayEvent& e) {
  nlohmann::json j = {{"event", "gateway"}, {"type", e.type}, {"version", e.version}, {"message", e.message}};
  if (e.type == "ready") {
    j["endpoint"] = e.endpoint;
    j["http_url"] = e.http_url;
  }
  if (e.type == "mirrored") {
    j["upstream_bytes"] = e.upstream_bytes;
    j["bucket_bytes"] = e.bucket_bytes;
    j["fetch_s"] = e.fetch_s;
  }
  return j;
}

std::string Versions(const std::vector<uint64_t>& ids) {
  std::string s;
  for (uint64_t id : ids) s += (s.empty() ? "" : ", ") + std::to_string(id);
  return s.empty() ? "none" : s;
}

CommandOutput Summary(const GatewayOptions& o, const GatewayReport& r, bool once) {
  CommandOutput out;
  out.result = {{"model", o.model},         {"endpoint", r.endpoint},         {"http_url", r.http_url},
                {"latest", r.latest},       {"mirrored", r.mirrored},         {"held", r.held},
                {"bucket_bytes", r.bucket_bytes}, {"swarm_bytes", r.swarm_bytes}};
  out.text = o.dir + ": " + (once ? "synced to" : "gateway stopped at") + " version " + std::to_string(r.latest) +
             "; mirrored " + Versions(r.mirrored) + ", holds " + Versions(r.held) + "; " +
             HumanBytes(r.bucket_bytes) + " from the bucket, " + HumanBytes(r.swarm_bytes) + " from the swarm\n";
  return out;
}

}  // namespace

void AddGatewayCommand(CLI::App& app, Registry& registry) {
  CLI::App* sub = app.add_subcommand(
      "gateway", "Mirror MODEL for a lab behind one uplink: fetch each new version once, verify it, seed it to the "
                 "nodes and serve them the metadata over HTTP (HTTPS with --tls-cert) as their bucket; until SIGTERM "
                 "(or one sync: --once)");
  auto a = std::make_shared<GatewayArgs>(sub);
  ConfigFlags<GatewayOptions>& c = a->config;
  c.Bind("--bucket", &GatewayOptions::bucket, "bucket", "Upstream bucket URL or path");
  c.Bind("--model", &GatewayOptions::model, "model", "Model name");
  c.Bind("--trust", &GatewayOptions::trust, "trust", "Trusted public key (PEM); repeatable");
  c.Bind("--dir", &GatewayOptions::dir, "dir", "The gateway's store: DIR/mirror/ (served), DIR/chunks/ (seeded)");
  c.Bind("--http", &GatewayOptions::http_listen, "http_listen",
         "Metadata server ip:port; nodes use http://IP:PORT/ (https:// with --tls-cert) as their bucket");
  c.Bind("--listen", &GatewayOptions::listen, "listen", "Swarm listen address ip:port");
  c.Bind("--peer", &GatewayOptions::peers, "peers", "Upstream swarm peer ip:port; repeatable");
  c.Bind("--tracker", &GatewayOptions::trackers, "trackers", "Upstream tracker announce URL; repeatable");
  c.Bind("--poll-interval", &GatewayOptions::poll_interval_s, "poll_interval_s",
         "Seconds between polls of the upstream refs/latest");
  c.Bind("--fallback-after", &GatewayOptions::fallback_after_s, "fallback_after_s",
         "Seconds without swarm progress before an HTTP bucket is a web seed (<0: never)");
  c.Bind("--swarm-timeout", &GatewayOptions::swarm_timeout_s, "swarm_timeout_s",
         "Seconds one artifact's swarm download may take before it is retried");
  c.Bind("--keep", &GatewayOptions::keep, "keep", "Newest versions kept (plus the chain back to their keyframe)");
  c.Bind("--upload-rate", &GatewayOptions::upload_rate, "upload_rate", "Swarm upload limit, bytes/s (0: none)");
  c.Bind("--download-rate", &GatewayOptions::download_rate, "download_rate",
         "Swarm download limit, bytes/s (0: none)");
  BindSwarmThreadFlags(c);
  c.BindSwitch("--share,!--no-share", &GatewayOptions::share, "share",
               "--share hands each node its own share of pieces; --no-share offers every piece to every node");
  c.Bind("--metrics-listen", &GatewayOptions::metrics_listen, "metrics_listen",
         "Serve Prometheus metrics at http://IP:PORT/metrics (plain HTTP; empty: off)");
  // Its open-swarm warning is a GatewayEvent (RunGateway), not WarnIfOpenSwarm.
  BindTlsFlags(c, &GatewayOptions::tls,
               "The cluster CA certificate (PEM): checks --tls-cert, verifies an https:// upstream bucket and, with "
               "--require-client-cert, the nodes' certificates");
  c.BindSwitch("--require-client-cert", &GatewayOptions::require_client_cert, "require_client_cert",
               "Serve the metadata over HTTPS only to clients with a certificate from --tls-ca");
  c.Bind("--tls-crl", &GatewayOptions::tls_crl, "tls_crl",
         "Revocation list (PEM, the CA's crl.pem) checked against client certificates, read at start");
  CLI::Option* once =
      sub->add_flag("--once", a->once,
                    "Bring DIR up to the upstream refs/latest once and exit, without serving (to prime a gateway)");
  sub->add_option("--ready-file", a->ready_file,
                  "Write '<swarm ip:port>\\n<http url>\\n' here once serving (not with --once)")
      ->excludes(once);
  AddOutputFlags(sub, registry);
  sub->callback([a, &registry] {
    registry.chosen = "gateway";
    registry.body = [a, &registry](ProgressFn progress) -> Result<CommandOutput> {
      DS_ASSIGN_OR_RETURN(GatewayOptions options, a->config.Resolve());
      if (a->once) {
        DS_ASSIGN_OR_RETURN(GatewayReport r, SyncGateway(options, progress));
        return Summary(options, r, /*once=*/true);
      }
      const StopSignal& stop = InstallStopSignals();
      // systemd (Type=notify) hears of a stop as it begins.
      StopSignal::Registration stopping = stop.OnStop([] { NotifySystemd("STOPPING=1"); });
      const OutputOptions out_mode = registry.output;
      auto on_event = [&](const GatewayEvent& e) {
        if (e.type == "ready" && !a->ready_file.empty())
          std::ofstream(a->ready_file) << e.endpoint << "\n" << e.http_url << "\n";
        if (e.type == "ready") NotifySystemd("READY=1\nSTATUS=" + e.message);
        if (out_mode.json) std::cout << EventJson(e).dump() << std::endl;
        else if (!out_mode.quiet) std::cout << "gateway: " << e.message << std::endl;
        // Problems reach stderr even when quiet.
        bool problem = e.type == "sync_failed" || e.type == "warning";
        if (problem && (out_mode.quiet || out_mode.json))
          std::cerr << "deltaswarm gateway: " << e.message << std::endl;
      };
      DS_ASSIGN_OR_RETURN(GatewayReport r, RunGateway(options, stop, on_event, progress));
      return Summary(options, r, /*once=*/false);
    };
  });
}

}  // namespace deltaswarm::cli
