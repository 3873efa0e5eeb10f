// deltaswarm publish [--config publisher.yaml] --bucket URL --model NAME --key KEY CHECKPOINT [--seed]
// deltaswarm publish [--config publisher.yaml] --bucket URL --model NAME --key KEY --refresh-latest
// Every config key has a flag; flags win. The --seed settings are flags only.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <thread>

#include "command.h"
#include "config_flags.h"
#include "deltaswarm/roles.h"
#include "deltaswarm/utc_time.h"
#include "progress_reporter.h"
#include "stop_signal.h"
#include "swarm_thread_flags.h"
#include "tls_flags.h"

namespace deltaswarm::cli {

namespace {
struct PublishArgs {
  explicit PublishArgs(CLI::App* sub) : config(sub, "configs/publisher.yaml") {}
  ConfigFlags<PublishOptions> config;
  // --seed: serve the published version's artifacts afterwards.
  bool seed = false;
  bool refresh_latest = false;
  SeedOptions seed_options;
  std::string ready_file;
  double seed_duration_s = 0;
};

// publish --seed: serves the version being published from STATE/chunks/
// (kept by the publish; anything missing or damaged is fetched from the
// bucket, verified) on a thread started inside Publish, before refs/latest
// names the version, until SIGTERM/SIGINT or --seed-duration.
class PublishedSeed {
 public:
  ~PublishedSeed() {
    if (thread_.joinable() || refresher_.joinable()) RequestStop();
    if (thread_.joinable()) thread_.join();
    if (refresher_.joinable()) refresher_.join();
  }

  // Starts serving version; returns once it serves (Ok) or has failed.
  Status Start(const PublishArgs& args, const PublishOptions& o, uint64_t version, const OutputOptions& output,
               const ProgressFn& progress) {
    const StopSignal& stop = InstallStopSignals();
    SeedOptions so = args.seed_options;
    so.bucket = o.bucket;
    so.model = o.model;
    so.trust = {o.key + ".pub"};
    so.dir = o.state + "/chunks";
    so.version = version;
    so.tls = o.tls;  // the publisher's identity serves its TLS torrents
    auto on_ready = [this, &args, o, version, output](const std::string& ep) {
      if (!args.ready_file.empty()) std::ofstream(args.ready_file) << ep << "\n";
      if (output.json) {
        nlohmann::json event = {{"event", "seeding"}, {"command", "publish"}, {"version", version}, {"endpoint", ep}};
        std::cout << event.dump() << std::endl;
      }
      else if (!output.quiet)
        std::cout << "seeding " << o.model << " version " << version << " on " << ep << std::endl;
      if (args.seed_duration_s > 0)
        std::thread([d = args.seed_duration_s] {
          std::this_thread::sleep_for(std::chrono::duration<double>(d));
          RequestStop();
        }).detach();
      std::lock_guard lock(mu_);
      endpoint_ = ep;
      changed_.notify_all();
    };
    thread_ = std::thread([this, so, on_ready, &stop, progress] {
      Status st = Seed(so, on_ready, stop, progress);
      std::lock_guard lock(mu_);
      status_ = st;
      done_ = true;
      changed_.notify_all();
    });
    std::unique_lock lock(mu_);
    changed_.wait(lock, [this] { return done_ || !endpoint_.empty(); });
    return endpoint_.empty() ? status_ : Status::Ok();
  }

  // Until the seed stops, re-signs the bucket's latest statement at half its
  // validity, so that nodes never see it stale while the publisher runs.
  void KeepLatestFresh(const PublishOptions& o, const OutputOptions& output) {
    refresher_ = std::thread([this, o, output] {
      const StopSignal& stop = InstallStopSignals();
      while (!stop.WaitFor(o.latest_valid_s / 2)) {
        {
          std::lock_guard lock(mu_);
          if (done_) return;
        }
        Result<LatestStatement> s = RefreshLatest(o);
        std::lock_guard lock(mu_);  // one writer of stdout/stderr lines at a time
        if (!s.ok()) std::cerr << "warning: re-signing refs/latest: " << s.status().message() << std::endl;
        else if (output.json)
          std::cout << nlohmann::json{{"event", "latest_signed"}, {"command", "publish"}, {"version", s->version},
                                      {"expires", FormatUtc(s->expires)}}
                           .dump()
                    << std::endl;
      }
    });
  }

  bool started() const { return thread_.joinable(); }

  // Waits until the seed stops; the endpoint it served on.
  Result<std::string> Wait() {
    thread_.join();
    if (refresher_.joinable()) refresher_.join();
    std::lock_guard lock(mu_);
    if (!status_.ok()) return status_;
    return endpoint_;
  }

 private:
  std::thread thread_;
  std::thread refresher_;
  std::mutex mu_;
  std::condition_variable changed_;
  bool done_ = false;
  Status status_;
  std::string endpoint_;
};

// Serialises the progress callback: the seed reports from its thread while
// the publish finishes on the caller's.
ProgressFn Serialised(const ProgressFn& progress) {
  if (!progress) return progress;
  auto mu = std::make_shared<std::mutex>();
  return [mu, progress](const char* phase, uint64_t done, uint64_t total) {
    std::lock_guard lock(*mu);
    progress(phase, done, total);
  };
}

std::string DefaultState(const std::string& model) {
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.cache/deltaswarm/publish/" + model;
}
}  // namespace

void AddPublishCommand(CLI::App& app, Registry& registry) {
  CLI::App* sub = app.add_subcommand(
      "publish", "Publish CHECKPOINT as the next version of MODEL in a bucket: delta, keyframe, signed manifest");
  auto args = std::make_shared<PublishArgs>(sub);
  ConfigFlags<PublishOptions>& c = args->config;
  c.Bind("checkpoint", &PublishOptions::checkpoint, "checkpoint", "Checkpoint file or directory");
  c.Bind("--bucket", &PublishOptions::bucket, "bucket", "Bucket: a directory, file:///path, http://host:port/prefix or s3://bucket/prefix");
  c.Bind("--model", &PublishOptions::model, "model", "Model name in the bucket ([A-Za-z0-9._-]+)");
  c.Bind("--key", &PublishOptions::key, "key",
         "Ed25519 private key (from deltaswarm keygen); KEY.pub must sit beside it");
  c.Bind("--state", &PublishOptions::state, "state",
         "Local store of the last published version (empty: ~/.cache/deltaswarm/publish/MODEL)");
  c.Bind("--keyframe-every", &PublishOptions::keyframe_every, "keyframe_every",
         "Also publish a keyframe for versions 1, 1+K, 1+2K, ...");
  c.Bind("--keep", &PublishOptions::keep, "keep", "Versions kept in the state store");
  c.Bind("-j,--threads", &PublishOptions::diff, &DiffOptions::threads, "threads", "Worker threads (0: all cores)");
  c.BindParsed("--frame-size", &PublishOptions::diff, &DiffOptions::frame_bytes, "frame_bytes",
               "Raw bytes per frame, e.g. 4Mi", ParseCount);
  c.BindParsed("--chunk-size", &PublishOptions::diff, &DiffOptions::chunk_bytes, "chunk_bytes",
               "Target chunk file size, e.g. 32Mi", ParseCount);
  c.Bind("--level", &PublishOptions::diff, &DiffOptions::zstd_level, "zstd_level",
         "zstd level for dense and full frames");
  BindTlsFlags(c, &PublishOptions::tls,
               "The cluster CA certificate (PEM): the torrents become TLS torrents only its certificate holders join");
  c.Bind("--tls-crl", &PublishOptions::tls_crl, "tls_crl",
         "The CA's revocation list (PEM, CA_DIR/crl.pem) each torrent carries (needs --tls-ca)");
  c.Bind("--latest-valid", &PublishOptions::latest_valid_s, "latest_valid_s",
         "Seconds the signed refs/latest stays fresh; nodes warn (stale_latest) after. --seed re-signs at half");
  sub->add_flag("--refresh-latest", args->refresh_latest,
                "Only re-sign the bucket's refs/latest (same version, fresh expiry), e.g. from cron; no CHECKPOINT");
  sub->add_flag("--seed", args->seed, "After publishing, seed the new version's chunks until SIGTERM or SIGINT");
  sub->add_option("--listen", args->seed_options.listen, "With --seed: TCP address ip:port (default 0.0.0.0:0)");
  sub->add_option("--peer", args->seed_options.peers, "With --seed: peer ip:port to connect to; repeatable");
  sub->add_option("--tracker", args->seed_options.trackers, "With --seed: tracker announce URL; repeatable");
  sub->add_option("--upload-rate", args->seed_options.upload_rate, "With --seed: upload limit, bytes/s (0: none)");
  AddSwarmThreadOptions(sub, args->seed_options, "With --seed: ");
  sub->add_option("--seed-duration", args->seed_duration_s,
                  "With --seed: stop after this many seconds (default: until SIGTERM or SIGINT)");
  sub->add_option("--ready-file", args->ready_file, "With --seed: write the ip:port peers reach the seed at");
  AddOutputFlags(sub, registry);
  sub->callback([args, &registry] {
    registry.chosen = "publish";
    registry.body = [args, &registry](ProgressFn progress) -> Result<CommandOutput> {
      std::set<std::string> waived;
      if (args->refresh_latest) waived.insert("checkpoint");
      DS_ASSIGN_OR_RETURN(PublishOptions o, args->config.Resolve(waived));
      if (o.state.empty()) o.state = DefaultState(o.model);
      if (args->refresh_latest) {
        if (!o.checkpoint.empty() || args->seed)
          return InvalidArgument("--refresh-latest only re-signs refs/latest: give no CHECKPOINT and no --seed");
        DS_ASSIGN_OR_RETURN(LatestStatement s, RefreshLatest(o));
        CommandOutput out;
        out.result = {{"model", o.model}, {"version", s.version}, {"issued", FormatUtc(s.issued)}, {"expires", FormatUtc(s.expires)}};
        out.text = o.model + ": refs/latest re-signed for version " + std::to_string(s.version) + ", fresh until " +
                   FormatUtc(s.expires) + "\n";
        return out;
      }
      o.keep_chunks = args->seed;
      if (args->seed) WarnIfOpenSwarm(o.tls, "publish --seed");
      if (args->seed && !o.tls.ca.empty() && !o.tls.has_certificate())
        return InvalidArgument("publish --seed with tls_ca: the seed of a closed swarm needs tls_cert and tls_key");
      PublishedSeed seed;
      if (args->seed) {
        progress = Serialised(progress);
        o.before_live = [&](uint64_t version) { return seed.Start(*args, o, version, registry.output, progress); };
      }
      DS_ASSIGN_OR_RETURN(PublishReport r, Publish(o, progress));
      // A checkpoint already live publishes nothing, so nothing started its seed.
      if (args->seed && !seed.started())
        DS_RETURN_IF_ERROR(seed.Start(*args, o, r.version, registry.output, progress));
      CommandOutput out;
      out.result = {{"model", o.model},           {"version", r.version},
                    {"target_bytes", r.target_bytes}, {"delta_bytes", r.delta_bytes},
                    {"keyframe_bytes", r.keyframe_bytes}, {"uploaded_bytes", r.uploaded_bytes},
                    {"note", r.note},
                    {"ratio", r.delta_bytes ? static_cast<double>(r.target_bytes) / r.delta_bytes : 0.0}};
      char line[512];
      std::snprintf(line, sizeof line, "%s version %llu: %s checkpoint", o.model.c_str(),
                    static_cast<unsigned long long>(r.version), HumanBytes(r.target_bytes).c_str());
      out.text = line;
      if (r.delta_bytes) {
        std::snprintf(line, sizeof line, ", delta %s (ratio %.1f)", HumanBytes(r.delta_bytes).c_str(),
                      static_cast<double>(r.target_bytes) / r.delta_bytes);
        out.text += line;
      }
      if (r.keyframe_bytes) out.text += ", keyframe " + HumanBytes(r.keyframe_bytes);
      out.text += "; uploaded " + HumanBytes(r.uploaded_bytes) + " to " + o.bucket + "\n";
      if (!r.note.empty()) out.text += "note: " + r.note + "\n";
      if (args->seed) {
        // The publish is done and live (the seed serves already); say so
        // before seeding for hours.
        if (!registry.output.json && !registry.output.quiet) std::cout << out.text << std::flush;
        seed.KeepLatestFresh(o, registry.output);
        DS_ASSIGN_OR_RETURN(std::string endpoint, seed.Wait());
        out.result["endpoint"] = endpoint;
        out.text = "stopped seeding " + o.model + " version " + std::to_string(r.version) + "\n";
      }
      return out;
    };
  });
}

}  // namespace deltaswarm::cli
