// deltaswarm gc: drop versions that no retained version needs.
#include "deltaswarm/bucket.h"
#include "deltaswarm/roles.h"
#include "roles/bucket_layout.h"
#include "roles/version_graph.h"

namespace deltaswarm {

Result<GcReport> CollectGarbage(const std::string& bucket_url, const std::string& model, uint64_t keep,
                                const std::vector<std::string>& trust) {
  DS_RETURN_IF_ERROR(CheckModelName(model));
  if (keep == 0) return InvalidArgument("--keep must be at least 1");
  DS_ASSIGN_OR_RETURN(std::vector<TrustedKey> trusted, LoadTrustedKeys(trust));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<Bucket> bucket, OpenBucket(bucket_url));
  DS_ASSIGN_OR_RETURN(SignedLatest signed_latest, ReadSignedLatest(*bucket, model, trusted));
  const uint64_t latest = signed_latest.statement.version;
  GcReport report;
  if (latest == 0) return report;
  // Keep what a fresh node needs to reach the oldest of the newest `keep`.
  const uint64_t first_kept = FirstOfNewest(latest, keep);
  VersionGraph graph(VersionNamer(*bucket, model));
  while (std::optional<uint64_t> id = graph.NextToFetch(0, first_kept)) {
    DS_ASSIGN_OR_RETURN(Manifest m, FetchManifest(*bucket, model, *id, trusted));
    graph.Add(std::move(m));
  }
  DS_ASSIGN_OR_RETURN(std::vector<uint64_t> ids, ListVersions(*bucket, model));
  DS_ASSIGN_OR_RETURN(GcPlan plan, graph.PlanGc(ids, latest, keep));
  report.oldest_kept = plan.oldest_kept;
  for (uint64_t id : plan.removable) {
    DS_RETURN_IF_ERROR(bucket->Delete(VersionPrefix(model, id)));
    report.removed.push_back(id);
  }
  return report;
}

}  // namespace deltaswarm
