// deltaswarm pull [--config pull.yaml] --bucket URL --model NAME --dest DIR --trust KEY.pub [--version ID]
// Every config key has a flag; flags win (the MPI and Slurm launchers pass
// --dest, --listen, --peer, --fallback-after and --linger after the file).
#include "command.h"
#include "config_flags.h"
#include <iostream>

#include "deltaswarm/roles.h"
#include "progress_reporter.h"
#include "stop_signal.h"
#include "swarm_thread_flags.h"
#include "tls_flags.h"

namespace deltaswarm::cli {

void AddPullCommand(CLI::App& app, Registry& registry) {
  CLI::App* sub = app.add_subcommand(
      "pull", "Bring DIR/current to the latest (or a given) version of MODEL from a bucket, verified");
  auto c = std::make_shared<ConfigFlags<PullOptions>>(sub, "configs/cluster-node.yaml");
  c->Bind("--bucket", &PullOptions::bucket, "bucket", "Bucket: a directory, file:///path, http://host:port/prefix or s3://bucket/prefix");
  c->Bind("--model", &PullOptions::model, "model", "Model name in the bucket");
  c->Bind("--dest", &PullOptions::dest, "dest", "Local store: DIR/current -> DIR/versions/<id>/");
  c->Bind("--trust", &PullOptions::trust, "trust", "Trusted public key (PEM); repeatable");
  c->Bind("--version", &PullOptions::version, "version",
          "Pull this version, even if older than the held one (0: latest)");
  c->Bind("--keep", &PullOptions::keep, "keep", "Versions kept in DIR");
  c->BindSwitch("--require-fresh", &PullOptions::require_fresh, "require_fresh",
                "Fail (exit 6) instead of warning when the signed refs/latest has expired");
  c->Bind("-j,--threads", &PullOptions::threads, "threads", "Worker threads (0: all cores)");
  c->Bind("--peer", &PullOptions::peers, "peers",
          "Swarm peer ip:port (repeatable; a few suffice, PEX finds the rest): chunks then come from peers");
  c->Bind("--tracker", &PullOptions::trackers, "trackers",
          "Tracker announce URL (repeatable): chunks then come from the swarm it finds, with or without --peer");
  c->Bind("--listen", &PullOptions::listen, "listen", "Swarm listen address ip:port (port 0: any free port)");
  c->Bind("--fallback-after", &PullOptions::fallback_after_s, "fallback_after_s",
          "Seconds without swarm progress before an HTTP bucket serves as web seed (<0: never)");
  c->Bind("--swarm-timeout", &PullOptions::swarm_timeout_s, "swarm_timeout_s",
          "Seconds one version's swarm download may take before the pull fails");
  c->Bind("--linger", &PullOptions::linger_s, "linger_s", "Seconds to keep seeding after switching");
  c->Bind("--upload-rate", &PullOptions::upload_rate, "upload_rate",
          "Swarm upload limit, bytes/s, also for local peers (0: none)");
  c->Bind("--download-rate", &PullOptions::download_rate, "download_rate", "Swarm download limit, bytes/s (0: none)");
  BindSwarmThreadFlags(*c);
  BindTlsFlags(*c, &PullOptions::tls);
  AddOutputFlags(sub, registry);
  sub->callback([c, &registry] {
    registry.chosen = "pull";
    registry.body = [c, &registry](ProgressFn progress) -> Result<CommandOutput> {
      DS_ASSIGN_OR_RETURN(PullOptions o, c->Resolve());
      if (!o.peers.empty() || !o.trackers.empty()) WarnIfOpenSwarm(o.tls, "pull");
      o.on_swarm_progress = registry.swarm_progress;
      // SIGTERM/SIGINT end a swarm wait or --linger at once (pull exits 10,
      // or 0 once lingering); an apply in progress finishes first.
      const StopSignal& stop = InstallStopSignals();
      DS_ASSIGN_OR_RETURN(PullReport r, Pull(o, progress, &stop));
      CommandOutput out;
      out.result = {{"model", o.model},
                    {"from_version", r.from_version},
                    {"to_version", r.to_version},
                    {"changed", r.changed},
                    {"downloaded_bytes", r.downloaded_bytes},
                    {"swarm_bytes", r.swarm_bytes},
                    {"hash_failures", r.hash_failures},
                    {"target_bytes", r.target_bytes},
                    {"steps", r.steps},
                    {"note", r.note},
                    {"stale_latest", r.stale_latest},
                    {"held_check", r.held_check},
                    {"held_check_bytes", r.held_check_bytes},
                    {"artifact_hashed_bytes", r.artifact_hashed_bytes},
                    {"current", o.dest + "/current"}};
      if (!r.stale_latest.empty()) std::cerr << "warning: " << r.stale_latest << std::endl;
      if (!r.note.empty()) out.text += "note: " + r.note + "\n";
      if (!r.changed) {
        out.text += o.dest + ": at version " + std::to_string(r.to_version) + " already\n";
        return out;
      }
      std::string path;
      for (const auto& s : r.steps) path += (path.empty() ? "" : ", ") + s;
      out.text += o.dest + ": version " + std::to_string(r.from_version) + " -> " + std::to_string(r.to_version) +
                  " via " + path + "; " + HumanBytes(r.swarm_bytes) + " from the swarm, " +
                  HumanBytes(r.downloaded_bytes) + " from the bucket, for a " +
                  HumanBytes(r.target_bytes) + " checkpoint\n";
      return out;
    };
  });
}

}  // namespace deltaswarm::cli
