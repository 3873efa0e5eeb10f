#include "roles/version_stamp.h"

#include <nlohmann/json.hpp>

namespace deltaswarm {

std::string StampedPath(const Manifest& m, const std::string& checkpoint_path, const ManifestFile& f) {
  return m.target_is_directory ? checkpoint_path + "/" + f.path : checkpoint_path;
}

Result<VersionStamp> IdentifyVersion(const Manifest& m, const std::string& checkpoint_path) {
  VersionStamp stamp;
  stamp.version = m.version;
  for (const ManifestFile& f : m.files) {
    DS_ASSIGN_OR_RETURN(FileIdentity id, IdentifyFile(StampedPath(m, checkpoint_path, f)));
    stamp.files.push_back({f.path, id});
  }
  return stamp;
}

Status MatchStamp(const VersionStamp& stamp, const Manifest& m, const Sha256& manifest_sha256,
                  const std::string& checkpoint_path) {
  const std::string what = "version " + std::to_string(m.version) + "'s stamp";
  if (stamp.version != m.version || stamp.manifest_sha256 != manifest_sha256)
    return Mismatch(what + " is for another manifest");
  if (stamp.files.size() != m.files.size()) return Mismatch(what + " lists other files");
  for (size_t i = 0; i < m.files.size(); ++i) {
    const std::string path = StampedPath(m, checkpoint_path, m.files[i]);
    if (stamp.files[i].path != m.files[i].path) return Mismatch(what + " lists other files");
    auto now = IdentifyFile(path);
    if (!now.ok()) return Mismatch(path + ": " + now.status().message());
    const FileIdentity& then = stamp.files[i].identity;
    if (now->dev != then.dev || now->ino != then.ino) return Mismatch(path + ": replaced since it was checked");
    if (now->size != then.size || now->mtime_ns != then.mtime_ns)
      return Mismatch(path + ": modified since it was checked (size or mtime)");
  }
  return Status::Ok();
}

std::string SerializeStamp(const VersionStamp& s) {
  nlohmann::json files = nlohmann::json::array();
  for (const StampedFile& f : s.files)
    files.push_back({{"path", f.path},
                     {"dev", f.identity.dev},
                     {"ino", f.identity.ino},
                     {"size", f.identity.size},
                     {"mtime_ns", f.identity.mtime_ns}});
  nlohmann::json j = {{"format_version", kStampVersion}, {"type", "deltaswarm-stamp"},
                      {"version", s.version},            {"manifest_sha256", s.manifest_sha256.Hex()},
                      {"checked", s.checked},            {"files", files}};
  return j.dump() + "\n";
}

Result<VersionStamp> ParseStamp(std::span<const std::byte> bytes, const std::string& where) {
  const auto* p = reinterpret_cast<const char*>(bytes.data());
  nlohmann::json j = nlohmann::json::parse(p, p + bytes.size(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("type", "") != "deltaswarm-stamp") return Corruption(where + ": not a version stamp");
  if (!j.contains("format_version") || !j["format_version"].is_number_unsigned())
    return Corruption(where + ": no format_version");
  if (j["format_version"].get<uint64_t>() != kStampVersion)
    return Unsupported(where + ": stamp format_version " + j["format_version"].dump());
  // Reads every member with its type; a wrong one is reported, not thrown.
  try {
    VersionStamp s;
    s.version = j.at("version").get<uint64_t>();
    if (!ParseHex(j.at("manifest_sha256").get<std::string>(), &s.manifest_sha256))
      return Corruption(where + ": bad manifest_sha256");
    s.checked = j.at("checked").get<std::string>();
    for (const auto& f : j.at("files")) {
      StampedFile sf;
      sf.path = f.at("path").get<std::string>();
      sf.identity.dev = f.at("dev").get<uint64_t>();
      sf.identity.ino = f.at("ino").get<uint64_t>();
      sf.identity.size = f.at("size").get<uint64_t>();
      sf.identity.mtime_ns = f.at("mtime_ns").get<int64_t>();
      s.files.push_back(std::move(sf));
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    return Corruption(where + ": malformed stamp (" + std::string(e.what()) + ")");
  }
}

}  // namespace deltaswarm
