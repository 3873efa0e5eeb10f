#include "roles/store_scrub.h"

#include <algorithm>

#include "core/file.h"

namespace deltaswarm {

std::vector<VersionCheckResult> ScrubVersions(LocalStore& store, const std::vector<uint64_t>& versions,
                                              unsigned threads, const ProgressFn& progress) {
  std::vector<VersionCheckResult> results;
  for (uint64_t v : versions) {
    VersionCheckResult r;
    r.version = v;
    Result<Manifest> m = store.LoadManifest(v);
    Result<VersionCheck> checked =
        m.ok() ? store.CheckVersion(*m, threads, CheckDepth::kFull, progress) : Result<VersionCheck>(m.status());
    r.intact = checked.ok();
    if (checked.ok()) r.bytes = checked->bytes_read;
    else r.error = checked.status().message();
    results.push_back(std::move(r));
  }
  return results;
}

Result<std::vector<VersionCheckResult>> VerifyStore(const std::string& dir, uint64_t version, unsigned threads,
                                                    const ProgressFn& progress) {
  if (!IsDirectory(dir + "/manifests")) return NotFound(dir + ": not a deltaswarm store (no manifests/)");
  // With the store's lock, stamps are refreshed; while a node holds it, the
  // check only reads (and drops the stamp of what fails).
  Result<LocalStore> opened = LocalStore::Open(dir);
  LocalStore store = opened.ok() ? std::move(opened).value() : LocalStore::View(dir);
  std::vector<uint64_t> versions = store.Versions();
  if (version != 0) {
    if (!std::binary_search(versions.begin(), versions.end(), version))
      return NotFound(dir + ": holds no version " + std::to_string(version));
    versions = {version};
  }
  return ScrubVersions(store, versions, threads, progress);
}

}  // namespace deltaswarm
