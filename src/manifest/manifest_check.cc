#include "manifest/manifest_check.h"

#include <set>
#include <unordered_set>

#include "format/printable.h"

namespace deltaswarm {

bool IsSafeName(std::string_view s) {
  if (s.empty() || s == "." || s == "..") return false;
  for (char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-';
    if (!ok) return false;
  }
  return true;
}

bool IsSafeRelativePath(std::string_view s) {
  if (s.empty() || HasControlCharacter(s)) return false;  // NUL cuts a C path; the rest rewrite terminals
  size_t start = 0;
  while (true) {
    size_t slash = s.find('/', start);
    std::string_view part = s.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty() || part == "." || part == "..") return false;  // also catches a leading or doubled '/'
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

bool IsValidUtf8(std::string_view s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = cp << 6 | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF have no canonical spelling.
    static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

bool IsLowerHex(std::string_view s, size_t digits) {
  if (s.size() != digits) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

namespace {

// A refused name, quoted for the message with its control characters escaped.
std::string Quoted(std::string_view s) { return "\"" + Printable(s, '"') + "\""; }

Status CheckArtifact(const Manifest& m, size_t i, const std::string& name) {
  const ManifestArtifact& a = m.artifacts[i];
  std::string where = name + ": artifacts[" + std::to_string(i) + "]";
  if (a.kind != "delta" && a.kind != "keyframe")
    return Corruption(where + ".kind: \"" + Printable(a.kind, '"') + "\" is neither \"delta\" nor \"keyframe\"");
  if (!IsSafeName(a.dir)) return Corruption(where + ".dir: not a safe directory name: " + Quoted(a.dir));
  if (a.kind == "delta") {
    if (m.parent == 0) return Corruption(where + ": a delta needs a parent version");
    if (a.base_version != m.parent)
      return Corruption(where + ".base_version: " + std::to_string(a.base_version) + " is not the parent " +
                        std::to_string(m.parent));
  } else if (a.base_version != 0) {
    return Corruption(where + ".base_version: a keyframe's must be 0");
  }
  // Unique names: two entries for one chunk file could not both hold.
  std::unordered_set<std::string_view> seen;
  seen.reserve(a.chunks.size());
  for (size_t c = 0; c < a.chunks.size(); ++c) {
    const std::string& n = a.chunks[c].name;
    if (!IsSafeName(n))
      return Corruption(where + ".chunks[" + std::to_string(c) + "].name: not a safe file name: " + Quoted(n));
    if (!seen.insert(n).second)
      return Corruption(where + ".chunks[" + std::to_string(c) + "].name: \"" + n + "\" listed twice");
  }
  return Status::Ok();
}

}  // namespace

Status CheckManifest(const Manifest& m, const std::string& name) {
  if (m.format_version != kManifestVersion)
    return Unsupported(name + ": format_version " + std::to_string(m.format_version) + " not supported");
  if (!IsSafeName(m.model)) return Corruption(name + ": model: not a valid model name ([A-Za-z0-9._-]+)");
  if (m.version < 1) return Corruption(name + ": version: must be at least 1");
  if (m.parent >= m.version)
    return Corruption(name + ": parent: " + std::to_string(m.parent) + " is not below version " +
                      std::to_string(m.version));
  if (!m.target_is_directory && m.files.size() != 1)
    return Corruption(name + ": files: a single-file target lists " + std::to_string(m.files.size()) + " files");
  std::set<std::string_view> paths;
  for (size_t i = 0; i < m.files.size(); ++i) {
    const std::string& p = m.files[i].path;
    std::string where = name + ": files[" + std::to_string(i) + "].path";
    if (!IsValidUtf8(p) || !IsSafeRelativePath(p))
      return Corruption(where + ": not a safe relative path: " + Quoted(p));
    if (!paths.insert(p).second) return Corruption(where + ": \"" + p + "\" listed twice");
  }
  if (m.artifacts.empty()) return Corruption(name + ": artifacts: none (need a delta or a keyframe)");
  for (size_t i = 0; i < m.artifacts.size(); ++i) {
    DS_RETURN_IF_ERROR(CheckArtifact(m, i, name));
    for (size_t j = 0; j < i; ++j)
      if (m.artifacts[j].kind == m.artifacts[i].kind || m.artifacts[j].dir == m.artifacts[i].dir)
        return Corruption(name + ": artifacts: two share kind or dir (\"" + m.artifacts[i].kind + "\", \"" +
                          m.artifacts[i].dir + "\")");
  }
  if (!IsValidUtf8(m.created)) return Corruption(name + ": created: not UTF-8");
  if (!m.key_id.empty() && !IsLowerHex(m.key_id, 16)) return Corruption(name + ": key_id: not 16 lowercase hex digits");
  if (!m.signature.empty() && !IsLowerHex(m.signature, 128))
    return Corruption(name + ": signature: not 128 lowercase hex digits");
  return Status::Ok();
}

}  // namespace deltaswarm
