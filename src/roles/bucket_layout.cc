#include "roles/bucket_layout.h"

#include <algorithm>

namespace deltaswarm {

namespace {
}  // namespace

Status CheckModelName(const std::string& model) {
  bool ok = !model.empty() && model.size() <= 128 && model != "." && model != ".." &&
            std::all_of(model.begin(), model.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                     c == '-' || c == '_';
            });
  if (!ok) return InvalidArgument("model name '" + model + "': use letters, digits, '.', '-' and '_'");
  return Status::Ok();
}

std::string LatestKey(const std::string& model) { return model + "/refs/latest"; }
std::string PublisherLockKey(const std::string& model) { return model + "/refs/publisher.lock"; }
std::string VersionPrefix(const std::string& model, uint64_t id) {
  return model + "/versions/" + std::to_string(id) + "/";
}
std::string ManifestKey(const std::string& model, uint64_t id) { return VersionPrefix(model, id) + "manifest.json"; }
std::string TorrentKey(const std::string& model, uint64_t id, const std::string& dir) {
  return VersionPrefix(model, id) + dir + ".torrent";
}
std::string ArtifactKey(const std::string& model, uint64_t id, const std::string& dir, const std::string& name) {
  return VersionPrefix(model, id) + dir + "/" + name;
}

Result<SignedLatest> ReadSignedLatest(Bucket& bucket, const std::string& model, std::span<const TrustedKey> trusted) {
  const std::string name = bucket.Describe(LatestKey(model));
  auto bytes = bucket.Get(LatestKey(model), kMaxLatestBytes);
  if (!bytes.ok()) {
    if (bytes.status().code() == Code::kNotFound) return SignedLatest{};
    return bytes.status();
  }
  DS_ASSIGN_OR_RETURN(LatestStatement s, ParseLatest(*bytes, name));
  DS_RETURN_IF_ERROR(VerifyLatest(s, trusted, name));
  if (s.model != model) return Mismatch(name + ": signed for model " + s.model + ", not " + model);
  return SignedLatest{std::move(s), std::move(bytes).value()};
}

Status PutLatest(Bucket& bucket, const std::string& model, std::span<const std::byte> statement) {
  return bucket.Put(LatestKey(model), statement);
}

std::function<std::string(uint64_t)> VersionNamer(const Bucket& bucket, const std::string& model) {
  return [&bucket, model](uint64_t id) { return bucket.Describe(VersionPrefix(model, id)); };
}

Result<uint64_t> ReadLatestUnverified(Bucket& bucket, const std::string& model) {
  auto bytes = bucket.Get(LatestKey(model), kMaxLatestBytes);
  if (!bytes.ok()) {
    if (bytes.status().code() == Code::kNotFound) return uint64_t{0};
    return bytes.status();
  }
  auto statement = ParseLatest(*bytes, bucket.Describe(LatestKey(model)));
  if (statement.ok()) return statement->version;
  std::string text(reinterpret_cast<const char*>(bytes->data()), bytes->size());
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.empty() || text.size() > 19 || !std::all_of(text.begin(), text.end(), ::isdigit))
    return Corruption(bucket.Describe(LatestKey(model)) + ": not a version number");
  return static_cast<uint64_t>(std::stoull(text));
}

Result<std::vector<uint64_t>> ListVersions(Bucket& bucket, const std::string& model) {
  DS_ASSIGN_OR_RETURN(std::vector<std::string> names, bucket.List(model + "/versions/"));
  std::vector<uint64_t> ids;
  for (const auto& name : names) {
    if (name.size() < 2 || name.back() != '/') continue;
    std::string digits = name.substr(0, name.size() - 1);
    if (digits.size() > 19 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) continue;
    ids.push_back(std::stoull(digits));
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<Manifest> FetchManifest(Bucket& bucket, const std::string& model, uint64_t id,
                               std::span<const TrustedKey> trusted, std::vector<std::byte>* signed_bytes) {
  std::string key = ManifestKey(model, id);
  std::string name = bucket.Describe(key);
  auto bytes = bucket.Get(key, kMaxManifestBytes);
  if (!bytes.ok()) {
    if (bytes.status().code() == Code::kNotFound)
      return NotFound(name + ": version " + std::to_string(id) + " of " + model + " is not in the bucket");
    return bytes.status();
  }
  DS_ASSIGN_OR_RETURN(Manifest m, ParseManifest(*bytes, name));
  DS_RETURN_IF_ERROR(VerifyManifest(m, trusted, name));
  if (m.model != model || m.version != id)
    return Mismatch(name + ": signed for " + m.model + " version " + std::to_string(m.version) + ", not " + model +
                    " version " + std::to_string(id));
  if (signed_bytes) *signed_bytes = std::move(bytes).value();
  return m;
}

Result<std::vector<TrustedKey>> LoadTrustedKeys(const std::vector<std::string>& paths) {
  if (paths.empty()) return InvalidArgument("no trusted key given (--trust KEY.pub)");
  std::vector<TrustedKey> keys;
  for (const auto& p : paths) {
    DS_ASSIGN_OR_RETURN(TrustedKey k, TrustedKey::Load(p));
    keys.push_back(std::move(k));
  }
  return keys;
}

}  // namespace deltaswarm
