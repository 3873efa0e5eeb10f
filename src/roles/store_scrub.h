// Full re-checks of a store's held versions, trusting no stamp: what
// `deltaswarm verify --dest` and `node --scrub` run (VerifyStore, roles.h).
#pragma once

#include <cstdint>
#include <vector>

#include "deltaswarm/roles.h"
#include "roles/local_store.h"

namespace deltaswarm {

// Checks each of `versions` in full, in order; never fails as a whole: each
// result says whether that version is intact.
std::vector<VersionCheckResult> ScrubVersions(LocalStore& store, const std::vector<uint64_t>& versions,
                                              unsigned threads, const ProgressFn& progress);

}  // namespace deltaswarm
