// deltaswarm seed --bucket URL --model NAME --trust KEY.pub --dir DIR [--version ID]
#include <chrono>
#include <thread>
#include <fstream>
#include <iostream>

#include "command.h"
#include "stop_signal.h"
#include "swarm_thread_flags.h"
#include "tls_flags.h"
#include "deltaswarm/roles.h"

namespace deltaswarm::cli {

namespace {

struct SeedArgs {
  SeedOptions options;
  std::string ready_file;
  double duration_s = 0;
};
}  // namespace

void AddSeedCommand(CLI::App& app, Registry& registry) {
  auto a = std::make_shared<SeedArgs>();
  SeedOptions& o = a->options;
  CLI::App* sub = app.add_subcommand(
      "seed", "Serve a version's chunks to the swarm (fetched and verified from the bucket) until SIGTERM");
  sub->add_option("--bucket", o.bucket, "Bucket URL or path")->required();
  sub->add_option("--model", o.model, "Model name")->required();
  sub->add_option("--trust", o.trust, "Trusted public key (PEM); repeatable")->required();
  sub->add_option("--dir", o.dir, "Where the artifacts are kept (reused when already there and intact)")->required();
  sub->add_option("--version", o.version, "Version to seed (default: refs/latest)");
  sub->add_option("--listen", o.listen, "TCP address to listen on, ip:port (default 0.0.0.0:0, any free port)");
  sub->add_option("--peer", o.peers, "Peer to connect to, ip:port; repeatable");
  sub->add_option("--tracker", o.trackers, "Tracker announce URL to announce the version's torrents to; repeatable");
  sub->add_option("--upload-rate", o.upload_rate, "Upload limit in bytes/s, also for local peers (0: none)");
  AddSwarmThreadOptions(sub, o, "");
  sub->add_flag("!--no-share", o.share,
                "Offer every piece to every node (libtorrent's default) instead of handing each node its share");
  sub->add_option("--ready-file", a->ready_file, "Write the ip:port peers can reach this seed at, once serving");
  sub->add_option("--duration", a->duration_s, "Stop after this many seconds (default: until SIGTERM or SIGINT)");
  AddTlsOptions(sub, o.tls);
  AddOutputFlags(sub, registry);
  sub->callback([a, &registry] {
    registry.chosen = "seed";
    registry.body = [a, &registry](ProgressFn progress) -> Result<CommandOutput> {
      const StopSignal& stop = InstallStopSignals();
      WarnIfOpenSwarm(a->options.tls, "seed");
      std::string endpoint;
      auto on_ready = [&](const std::string& ep) {
        endpoint = ep;
        if (!a->ready_file.empty()) std::ofstream(a->ready_file) << ep << "\n";
        if (!registry.output.quiet && !registry.output.json)
          std::cout << "seeding " << a->options.model << " on " << ep << std::endl;
        if (a->duration_s > 0) {
          std::thread([d = a->duration_s] {
            std::this_thread::sleep_for(std::chrono::duration<double>(d));
            RequestStop();
          }).detach();
        }
      };
      DS_RETURN_IF_ERROR(Seed(a->options, on_ready, stop, progress));
      CommandOutput out;
      out.result = {{"model", a->options.model}, {"endpoint", endpoint}};
      out.text = "stopped seeding " + a->options.model + "\n";
      return out;
    };
  });
}

}  // namespace deltaswarm::cli
