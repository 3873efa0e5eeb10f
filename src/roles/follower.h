// What the roles that follow a bucket until stopped (node, gateway) share:
// their option checks and the stalled-download restart.
#pragma once

#include <string>

#include "deltaswarm/status.h"
#include "roles/bucket_layout.h"

namespace deltaswarm {

// A swarm download without progress is re-added after this long (then 2x,
// up to 30 s): libtorrent re-dials a peer that refused it only after minutes.
inline constexpr double kRestartStalledS = 2;

// Options has bucket, model, trust, poll_interval_s, keep, upload_rate and
// download_rate; store (named store_name) is the role's own directory.
template <typename Options>
Status CheckFollowerOptions(const Options& o, const std::string& store, const char* store_name) {
  for (auto [value, name] : {std::pair{&o.bucket, "bucket"}, {&o.model, "model"}, {&store, store_name}})
    if (value->empty())
      return InvalidArgument(std::string(name) + " is required (config key or --" + name + ")");
  if (o.trust.empty()) return InvalidArgument("at least one trusted key is required (config key trust or --trust)");
  if (!(o.poll_interval_s > 0)) return InvalidArgument("the poll interval must be > 0");
  if (o.keep == 0) return InvalidArgument("keep must be at least 1");
  if (o.upload_rate < 0 || o.download_rate < 0) return InvalidArgument("rate limits must be >= 0");
  return CheckModelName(o.model);
}

}  // namespace deltaswarm
