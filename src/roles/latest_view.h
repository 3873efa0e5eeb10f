// Where a follower (a node's pull, a gateway) goes from the signed latest
// statement: never backwards, and not stuck on a replayed or frozen one.
//
// The statement is followed unless it names a version older than the held
// one (ignored). A follower with nothing held, or facing an expired
// statement, also looks past it (once there is a statement at all): validly
// signed manifests of the versions after it mean the statement was replayed
// (or a publish stopped before going live); it follows them. What it cannot
// see is a newer version a bucket writer deleted: the expiry bounds how long
// that passes unnoticed.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "deltaswarm/bucket.h"
#include "deltaswarm/manifest.h"
#include "roles/bucket_layout.h"

namespace deltaswarm {

struct LatestView {
  SignedLatest latest;  // what refs/latest says, verified; version 0: nothing published
  uint64_t target = 0;  // the version to be at: >= held
  std::string stale;    // why the statement is not fresh (expired); empty if it is
  std::string note;     // why target differs from the statement's version
};

Result<LatestView> ResolveLatest(Bucket& bucket, const std::string& model, std::span<const TrustedKey> trusted,
                                 uint64_t held, int64_t now);

}  // namespace deltaswarm
