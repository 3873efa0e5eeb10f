#include "roles/latest_view.h"

#include <algorithm>

#include "deltaswarm/utc_time.h"

namespace deltaswarm {

namespace {
// Versions looked at past the statement per resolve: a replayed statement is
// usually a few versions behind; a follower far behind catches up over polls.
constexpr uint64_t kMaxLookAhead = 64;
}  // namespace

Result<LatestView> ResolveLatest(Bucket& bucket, const std::string& model, std::span<const TrustedKey> trusted,
                                 uint64_t held, int64_t now) {
  LatestView view;
  DS_ASSIGN_OR_RETURN(view.latest, ReadSignedLatest(bucket, model, trusted));
  const LatestStatement& s = view.latest.statement;
  const std::string name = bucket.Describe(LatestKey(model));
  if (s.version != 0 && s.ExpiredAt(now))
    view.stale = name + " (version " + std::to_string(s.version) + ", signed " + FormatUtc(s.issued) +
                 ") expired at " + FormatUtc(s.expires) +
                 ": the publisher has not re-signed it, so a newer version may be withheld";
  view.target = std::max(s.version, held);
  if (s.version < held)
    view.note = name + " names version " + std::to_string(s.version) + ", older than the held version " +
                std::to_string(held) + ": ignored";
  // Not before the first statement: a version is not out until one names it.
  if (s.version != 0 && (held == 0 || !view.stale.empty())) {
    const uint64_t followed = view.target;
    while (view.target < followed + kMaxLookAhead && FetchManifest(bucket, model, view.target + 1, trusted).ok())
      ++view.target;
    if (view.target > followed)
      view.note = name + " names version " + std::to_string(s.version) + ", but versions up to " +
                  std::to_string(view.target) + " are published and signed: following " +
                  std::to_string(view.target);
  }
  // The statement binds one manifest: a version id published twice is refused.
  if (view.target == s.version && s.version > held) {
    std::vector<std::byte> bytes;
    DS_RETURN_IF_ERROR(FetchManifest(bucket, model, s.version, trusted, &bytes).status());
    if (Sha256Of(bytes) != s.manifest_sha256)
      return Corruption(name + ": signed for another manifest of version " + std::to_string(s.version) + " than " +
                        bucket.Describe(ManifestKey(model, s.version)));
  }
  return view;
}

}  // namespace deltaswarm
