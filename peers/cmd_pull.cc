// deltaswarm pull --bucket URL --model NAME --dest DIR --trust KEY.pub [--version ID]
#include "command.h"
#include "deltaswarm/roles.h"
#include "progress_reporter.h"

namespace deltaswarm::cli {

void AddPullCommand(CLI::App& app, Registry& registry) {
  auto o = std::make_shared<PullOptions>();
  CLI::App* sub = app.add_subcommand(
      "pull", "Bring DIR/current to the latest (or a given) version of MODEL from a bucket, verified");
  sub->add_option("--bucket", o->bucket, "Bucket: a directory, file:///path or http://host:port/prefix")->required();
  sub->add_option("--model", o->model, "Model name in the bucket")->required();
  sub->add_option("--dest", o->dest, "Local store: DIR/current -> DIR/versions/<id>/")->required();
  sub->add_option("--trust", o->trust, "Trusted public key (PEM); repeatable")->required();
  sub->add_option("--version", o->version, "Pull this version, even if older than the held one (default: latest)");
  sub->add_option("--keep", o->keep, "Versions kept in DIR (default 3)");
  sub->add_option("-j,--threads", o->threads, "Worker threads (default: all cores)");
  sub->add_option("--peer", o->peers,
                  "Swarm peer ip:port (repeatable; a few suffice, PEX finds the rest): chunks then come from peers");
  sub->add_option("--tracker", o->trackers,
                  "Tracker announce URL (repeatable): chunks then come from the swarm it finds, with or without --peer");
  sub->add_option("--listen", o->listen, "Swarm listen address ip:port (default 0.0.0.0:0, any free port)");
  sub->add_option("--fallback-after", o->fallback_after_s,
                  "Seconds without swarm progress before an HTTP bucket serves as web seed (default 10; <0: never)");
  sub->add_option("--linger", o->linger_s, "Seconds to keep seeding after switching (default 0)");
  sub->add_option("--upload-rate", o->upload_rate, "Swarm upload limit, bytes/s, also for local peers (0: none)");
  sub->add_option("--download-rate", o->download_rate, "Swarm download limit, bytes/s (0: none)");
  AddOutputFlags(sub, registry);
  sub->callback([o, &registry] {
    registry.chosen = "pull";
    registry.body = [o, &registry](ProgressFn progress) -> Result<CommandOutput> {
      o->on_swarm_progress = registry.swarm_progress;
      DS_ASSIGN_OR_RETURN(PullReport r, Pull(*o, progress));
      CommandOutput out;
      out.result = {{"model", o->model},
                    {"from_version", r.from_version},
                    {"to_version", r.to_version},
                    {"changed", r.changed},
                    {"downloaded_bytes", r.downloaded_bytes},
                    {"swarm_bytes", r.swarm_bytes},
                    {"hash_failures", r.hash_failures},
                    {"target_bytes", r.target_bytes},
                    {"steps", r.steps},
                    {"note", r.note},
                    {"current", o->dest + "/current"}};
      if (!r.note.empty()) out.text += "note: " + r.note + "\n";
      if (!r.changed) {
        out.text += o->dest + ": at version " + std::to_string(r.to_version) + " already\n";
        return out;
      }
      std::string path;
      for (const auto& s : r.steps) path += (path.empty() ? "" : ", ") + s;
      out.text += o->dest + ": version " + std::to_string(r.from_version) + " -> " + std::to_string(r.to_version) +
                  " via " + path + "; " + HumanBytes(r.swarm_bytes) + " from the swarm, " +
                  HumanBytes(r.downloaded_bytes) + " from the bucket, for a " +
                  HumanBytes(r.target_bytes) + " checkpoint\n";
      return out;
    };
  });
}

}  // namespace deltaswarm::cli
