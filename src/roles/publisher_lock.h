// One publisher at a time per model: a lock object in the bucket
// (<model>/refs/publisher.lock, docs/FORMAT.md), created only if absent,
// naming its holder and an expiry the holder keeps pushing forward while it
// publishes.
//
// What remains racy: taking over an expired lock is two steps (delete, then
// create-only); of two publishers that find it expired at once, both delete,
// and exactly one create wins. A holder paused past its expiry (SIGSTOP, a
// frozen VM) loses the lock without knowing; the create-only version objects
// still keep it from replacing anything the other published.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "deltaswarm/bucket.h"
#include "deltaswarm/stop_signal.h"

namespace deltaswarm {

class PublisherLock {
 public:
  // Lock lifetime; refreshed every third of it.
  static constexpr double kTtlS = 300;

  // Takes the lock of model in bucket for the publisher whose state store is
  // state_dir (which the caller holds locked). A lock left by a dead process
  // of the same host and state store is taken over at once, since its store
  // lock proves it gone; another holder's only after it expired. kAlreadyExists
  // "another publisher holds ..." otherwise.
  static Result<std::unique_ptr<PublisherLock>> Acquire(Bucket& bucket, const std::string& model,
                                                        const std::string& state_dir);
  // Stops refreshing and deletes the lock object if it is still this one's.
  ~PublisherLock();
  PublisherLock(const PublisherLock&) = delete;
  PublisherLock& operator=(const PublisherLock&) = delete;

 private:
  PublisherLock(Bucket& bucket, std::string key, std::string holder);
  std::string Body() const;  // the object's JSON with an expiry kTtlS from now
  void RefreshUntilStopped();

  Bucket& bucket_;
  const std::string key_;
  const std::string holder_;  // host, pid, state store and a random token, as JSON members
  StopSignal stop_;
  std::thread refresher_;
};

}  // namespace deltaswarm
