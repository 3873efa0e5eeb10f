// deltaswarm seed: hold a version's artifacts (verified against the signed
// manifest) and serve them to the swarm until told to stop.
#include "deltaswarm/bucket.h"
#include "deltaswarm/roles.h"
#include "deltaswarm/swarm.h"
#include "deltaswarm/utc_time.h"
#include "roles/artifact_transfer.h"
#include "roles/bucket_layout.h"
#include "roles/latest_view.h"
#include "roles/swarm_fetch.h"

namespace deltaswarm {

Status Seed(const SeedOptions& o, const std::function<void(const std::string&)>& on_ready,
            const StopSignal& stop, const ProgressFn& progress) {
  DS_RETURN_IF_ERROR(CheckModelName(o.model));
  DS_ASSIGN_OR_RETURN(std::vector<TrustedKey> trusted, LoadTrustedKeys(o.trust));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<Bucket> bucket, OpenBucket(o.bucket, /*create=*/false, o.tls, &stop));
  uint64_t version = o.version;
  if (version == 0) {
    DS_ASSIGN_OR_RETURN(LatestView latest, ResolveLatest(*bucket, o.model, trusted, /*held=*/0, UnixNow()));
    version = latest.target;
    if (version == 0) return NotFound(bucket->Describe(LatestKey(o.model)) + ": no published version");
  }
  DS_ASSIGN_OR_RETURN(Manifest m, FetchManifest(*bucket, o.model, version, trusted));
  SwarmOptions so;
  so.listen = o.listen;
  so.peers = o.peers;
  so.trackers = o.trackers;
  so.upload_rate = o.upload_rate;
  so.share_seed = o.share;  // each piece leaves this seed about once
  so.tls = o.tls;
  so.aio_threads = o.aio_threads;
  so.hashing_threads = o.hashing_threads;
  DS_ASSIGN_OR_RETURN(std::unique_ptr<Swarm> swarm, Swarm::Start(so));
  std::string save = o.dir + "/" + std::to_string(version);
  uint64_t payload = 0;
  for (const auto& a : m.artifacts) {
    payload += a.bytes();
    DS_ASSIGN_OR_RETURN(auto torrent, FetchTorrent(*bucket, o.model, version, a));
    DS_RETURN_IF_ERROR(swarm->CheckAdmission(torrent));  // before a download of hours
    DS_RETURN_IF_ERROR(DownloadArtifact(*bucket, o.model, version, a, save + "/" + a.dir, progress, &stop).status());
    DS_RETURN_IF_ERROR(swarm->AddSeed(torrent, save).status());
  }
  if (on_ready) on_ready(swarm->endpoint());
  // Reports the payload uploaded so far, about once a second ("upload" phase,
  // of the artifacts' total size: past 1.0 the seed has sent duplicates).
  if (!progress) stop.Wait();
  while (progress && !stop.WaitFor(1.0)) progress("upload", swarm->UploadedBytes(), payload);
  if (progress) progress("upload", swarm->UploadedBytes(), payload);
  return Status::Ok();
}

}  // namespace deltaswarm
