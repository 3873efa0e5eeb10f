// deltaswarm gc: drop versions that no retained version needs.
#include "deltaswarm/bucket.h"
#include "deltaswarm/roles.h"
#include "roles/bucket_layout.h"

namespace deltaswarm {

Result<GcReport> CollectGarbage(const std::string& bucket_url, const std::string& model, uint64_t keep,
                                const std::vector<std::string>& trust) {
  DS_RETURN_IF_ERROR(CheckModelName(model));
  if (keep == 0) return InvalidArgument("--keep must be at least 1");
  DS_ASSIGN_OR_RETURN(std::vector<TrustedKey> trusted, LoadTrustedKeys(trust));
  DS_ASSIGN_OR_RETURN(std::unique_ptr<Bucket> bucket, OpenBucket(bucket_url));
  DS_ASSIGN_OR_RETURN(uint64_t latest, ReadLatest(*bucket, model));
  GcReport report;
  if (latest == 0) return report;
  uint64_t oldest = latest >= keep ? latest - keep + 1 : 1;
  // The oldest retained version is built from the nearest keyframe at or below it.
  uint64_t keyframe = 0;
  for (uint64_t j = oldest; j >= 1 && keyframe == 0; --j) {
    DS_ASSIGN_OR_RETURN(Manifest m, FetchManifest(*bucket, model, j, trusted));
    if (m.Find("keyframe")) keyframe = j;
  }
  if (keyframe == 0) return Corruption(bucket->Describe(VersionPrefix(model, oldest)) + ": no keyframe below it");
  report.oldest_kept = keyframe;
  DS_ASSIGN_OR_RETURN(std::vector<uint64_t> ids, ListVersions(*bucket, model));
  for (uint64_t id : ids) {
    if (id >= keyframe) continue;
    DS_RETURN_IF_ERROR(bucket->Delete(VersionPrefix(model, id)));
    report.removed.push_back(id);
  }
  return report;
}

}  // namespace deltaswarm
