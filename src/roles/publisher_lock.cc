#include "roles/publisher_lock.h"

#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "deltaswarm/utc_time.h"
#include "format/printable.h"
#include "roles/bucket_layout.h"

namespace deltaswarm {

namespace {

constexpr uint64_t kMaxLockBytes = 4096;

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

std::string RandomToken() {
  std::random_device rd;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
  return buf;
}

std::span<const std::byte> AsBytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

// The lock object found in the bucket, as far as it can be read.
struct FoundLock {
  std::string host, state, token, expires_text;
  int64_t pid = 0, expires = 0;
  // Unsigned bytes from the bucket: escaped before they reach a terminal.
  std::string Describe() const {
    return "host " + Printable(host) + ", pid " + std::to_string(pid) + ", state " + Printable(state) + ", until " +
           Printable(expires_text);
  }
};

Result<FoundLock> ReadLock(Bucket& bucket, const std::string& key) {
  DS_ASSIGN_OR_RETURN(std::vector<std::byte> bytes, bucket.Get(key, kMaxLockBytes));
  const auto* p = reinterpret_cast<const char*>(bytes.data());
  nlohmann::json j = nlohmann::json::parse(p, p + bytes.size(), nullptr, /*allow_exceptions=*/false);
  FoundLock f;
  if (!j.is_object()) return f;  // unreadable: treated as expired long ago
  f.host = j.value("host", "");
  f.state = j.value("state", "");
  f.token = j.value("token", "");
  f.pid = j.value("pid", int64_t{0});
  f.expires_text = j.value("expires", "");
  auto expires = ParseUtc(f.expires_text, key);
  f.expires = expires.ok() ? *expires : 0;
  return f;
}

}  // namespace

PublisherLock::PublisherLock(Bucket& bucket, std::string key, std::string holder)
    : bucket_(bucket), key_(std::move(key)), holder_(std::move(holder)) {}

std::string PublisherLock::Body() const {
  nlohmann::json j = nlohmann::json::parse(holder_);
  j["expires"] = FormatUtc(UnixNow() + static_cast<int64_t>(kTtlS));
  return j.dump() + "\n";
}

Result<std::unique_ptr<PublisherLock>> PublisherLock::Acquire(Bucket& bucket, const std::string& model,
                                                              const std::string& state_dir) {
  std::error_code ec;
  std::string state = std::filesystem::absolute(state_dir, ec).lexically_normal().string();
  nlohmann::json holder = {{"host", HostName()}, {"pid", static_cast<int64_t>(::getpid())}, {"state", state},
                           {"token", RandomToken()}};
  std::unique_ptr<PublisherLock> lock(new PublisherLock(bucket, PublisherLockKey(model), holder.dump()));
  Status created = bucket.Create(lock->key_, AsBytes(lock->Body()));
  if (created.code() == Code::kAlreadyExists) {
    auto found = ReadLock(bucket, lock->key_);
    if (!found.ok() && found.status().code() != Code::kNotFound) return found.status();
    bool ours_dead = found.ok() && found->host == holder["host"] && found->state == state;
    bool expired = !found.ok() || found->expires <= UnixNow();
    if (!ours_dead && !expired)
      return AlreadyExists(bucket.Describe(lock->key_) + ": another publisher holds the lock (" + found->Describe() +
                           ")");
    DS_RETURN_IF_ERROR(bucket.Delete(lock->key_));
    created = bucket.Create(lock->key_, AsBytes(lock->Body()));
    if (created.code() == Code::kAlreadyExists)
      return AlreadyExists(bucket.Describe(lock->key_) + ": another publisher took the expired lock first");
  }
  DS_RETURN_IF_ERROR(created);
  lock->refresher_ = std::thread([l = lock.get()] { l->RefreshUntilStopped(); });
  return lock;
}

void PublisherLock::RefreshUntilStopped() {
  // A failed refresh is retried at the next turn: the lock is good for two more.
  while (!stop_.WaitFor(kTtlS / 3)) (void)bucket_.Put(key_, AsBytes(Body()));
}

PublisherLock::~PublisherLock() {
  stop_.Request();
  if (refresher_.joinable()) refresher_.join();
  auto found = ReadLock(bucket_, key_);
  if (found.ok() && found->token == nlohmann::json::parse(holder_).value("token", "")) (void)bucket_.Delete(key_);
}

}  // namespace deltaswarm
