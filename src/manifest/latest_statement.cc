#include <algorithm>
#include <nlohmann/json.hpp>

#include "deltaswarm/utc_time.h"
#include "deltaswarm/latest.h"
#include "manifest/manifest_check.h"

namespace deltaswarm {

namespace {

using Json = nlohmann::json;
constexpr const char* kType = "deltaswarm-latest";

Json ToJson(const LatestStatement& s) {
  return Json{{"type", kType},
              {"format_version", s.format_version},
              {"model", s.model},
              {"version", s.version},
              {"manifest_sha256", s.manifest_sha256.Hex()},
              {"issued", FormatUtc(s.issued)},
              {"expires", FormatUtc(s.expires)},
              {"key_id", s.key_id}};
}

// The field as a T, or kCorruption naming it.
template <typename T>
Result<T> Field(const Json& j, const char* key, const std::string& name) {
  auto it = j.find(key);
  if (it == j.end()) return Corruption(name + ": " + key + ": missing");
  if constexpr (std::is_same_v<T, std::string>) {
    if (!it->is_string()) return Corruption(name + ": " + key + ": not a string");
  } else {
    if (!it->is_number_unsigned()) return Corruption(name + ": " + key + ": not a non-negative integer");
  }
  return it->get<T>();
}

}  // namespace

std::string CanonicalBytes(const LatestStatement& s) { return ToJson(s).dump(); }

std::string SerializeLatest(const LatestStatement& s) {
  Json j = ToJson(s);
  j["signature"] = s.signature;
  return j.dump() + "\n";
}

Result<LatestStatement> ParseLatest(std::span<const std::byte> bytes, const std::string& name) {
  if (bytes.size() > kMaxLatestBytes)
    return Corruption(name + ": " + std::to_string(bytes.size()) + " bytes, more than a latest statement can be");
  const auto* p = reinterpret_cast<const char*>(bytes.data());
  // Small and capped: a DOM costs a few kB at most.
  Json j = Json::parse(p, p + bytes.size(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    bool digits = !bytes.empty() && std::all_of(p, p + bytes.size(), [](char c) { return std::isdigit(c) || c == '\n'; });
    if (digits)
      return Unsupported(name + ": an unsigned version number (written before signed latest statements); "
                                "the publisher re-signs it with `deltaswarm publish --refresh-latest`");
    return Corruption(name + ": not a latest statement (JSON object)");
  }
  DS_ASSIGN_OR_RETURN(uint64_t format, Field<uint64_t>(j, "format_version", name));
  if (format != kLatestFormatVersion)
    return Unsupported(name + ": format_version " + std::to_string(format) + " not supported");
  DS_ASSIGN_OR_RETURN(std::string type, Field<std::string>(j, "type", name));
  if (type != kType) return Corruption(name + ": type \"" + type + "\", not " + kType);
  LatestStatement s;
  DS_ASSIGN_OR_RETURN(s.model, Field<std::string>(j, "model", name));
  DS_ASSIGN_OR_RETURN(s.version, Field<uint64_t>(j, "version", name));
  DS_ASSIGN_OR_RETURN(std::string sha, Field<std::string>(j, "manifest_sha256", name));
  if (!IsLowerHex(sha, 64) || !ParseHex(sha, &s.manifest_sha256))
    return Corruption(name + ": manifest_sha256: not 64 lowercase hex digits");
  DS_ASSIGN_OR_RETURN(std::string issued, Field<std::string>(j, "issued", name));
  DS_ASSIGN_OR_RETURN(s.issued, ParseUtc(issued, name + ": issued"));
  DS_ASSIGN_OR_RETURN(std::string expires, Field<std::string>(j, "expires", name));
  DS_ASSIGN_OR_RETURN(s.expires, ParseUtc(expires, name + ": expires"));
  DS_ASSIGN_OR_RETURN(s.key_id, Field<std::string>(j, "key_id", name));
  DS_ASSIGN_OR_RETURN(s.signature, Field<std::string>(j, "signature", name));
  if (j.size() != 9) return Corruption(name + ": unknown fields in a latest statement");
  if (!IsSafeName(s.model)) return Corruption(name + ": model: not a valid model name");
  if (s.version == 0) return Corruption(name + ": version: must be at least 1");
  return s;
}

}  // namespace deltaswarm
