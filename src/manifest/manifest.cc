// Manifest to JSON: the canonical bytes that are signed and the stored form.
//
// Written directly rather than through an nlohmann::json tree: a tree costs a
// std::map per chunk, and a 100,000-chunk manifest is written twice per
// verification (sign, verify). The output is byte for byte what nlohmann's
// compact dump() of the same object gives (keys in std::map order); the tests
// check exactly that.
#include "deltaswarm/manifest.h"

#include <charconv>
#include <nlohmann/json.hpp>

namespace deltaswarm {

namespace {

class JsonWriter {
 public:
  explicit JsonWriter(size_t reserve) { out_.reserve(reserve); }
  std::string Take() { return std::move(out_); }

  void Raw(std::string_view s) { out_.append(s); }
  // `"key":`; a comma first unless it opens the object.
  void Key(std::string_view key, bool first = false) {
    if (!first) out_.push_back(',');
    out_.push_back('"');
    out_.append(key);
    out_.append("\":");
  }
  void Uint(uint64_t v) { Number(v); }
  void Int(int64_t v) { Number(v); }
  void Bool(bool v) { out_.append(v ? "true" : "false"); }
  void String(const std::string& s) {
    if (IsPlain(s)) {
      out_.push_back('"');
      out_.append(s);
      out_.push_back('"');
      return;
    }
    // Escapes and non-ASCII exactly as nlohmann does; invalid UTF-8 (which
    // CheckManifest refuses to sign) becomes U+FFFD instead of throwing.
    out_.append(nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  }

 private:
  // Printable ASCII without quote or backslash: written as is.
  static bool IsPlain(const std::string& s) {
    for (char c : s)
      if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
    return true;
  }
  template <typename T>
  void Number(T v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, r.ptr);
  }
  std::string out_;
};

void WriteEntry(JsonWriter& w, const std::string& name_key, const std::string& name, const Sha256& sha,
                uint64_t size) {
  w.Raw("{");
  w.Key(name_key, true);
  w.String(name);
  w.Key("sha256");
  w.String(sha.Hex());
  w.Key("size");
  w.Uint(size);
  w.Raw("}");
}

void WriteArtifact(JsonWriter& w, const ManifestArtifact& a) {
  w.Raw("{");
  w.Key("base_version", true);
  w.Uint(a.base_version);
  w.Key("chunks");
  w.Raw("[");
  for (size_t i = 0; i < a.chunks.size(); ++i) {
    if (i > 0) w.Raw(",");
    WriteEntry(w, "name", a.chunks[i].name, a.chunks[i].sha256, a.chunks[i].size);
  }
  w.Raw("]");
  w.Key("dir");
  w.String(a.dir);
  w.Key("index_sha256");
  w.String(a.index_sha256.Hex());
  w.Key("index_size");
  w.Uint(a.index_size);
  w.Key("info_hash");
  w.String(a.info_hash.Hex());
  w.Key("kind");
  w.String(a.kind);
  w.Key("torrent_sha256");
  w.String(a.torrent_sha256.Hex());
  w.Key("torrent_size");
  w.Uint(a.torrent_size);
  w.Raw("}");
}

// Members in sorted order; "signature" only when given.
std::string Write(const Manifest& m, const std::string* signature) {
  size_t entries = m.files.size();
  for (const auto& a : m.artifacts) entries += a.chunks.size();
  JsonWriter w(512 + entries * 128);
  w.Raw("{");
  w.Key("artifacts", true);
  w.Raw("[");
  for (size_t i = 0; i < m.artifacts.size(); ++i) {
    if (i > 0) w.Raw(",");
    WriteArtifact(w, m.artifacts[i]);
  }
  w.Raw("]");
  w.Key("codec");
  w.Raw("{");
  w.Key("chunk_bytes", true);
  w.Uint(m.chunk_bytes);
  w.Key("frame_bytes");
  w.Uint(m.frame_bytes);
  w.Key("zstd_level");
  w.Int(m.zstd_level);
  w.Raw("}");
  w.Key("created");
  w.String(m.created);
  w.Key("files");
  w.Raw("[");
  for (size_t i = 0; i < m.files.size(); ++i) {
    if (i > 0) w.Raw(",");
    WriteEntry(w, "path", m.files[i].path, m.files[i].sha256, m.files[i].size);
  }
  w.Raw("]");
  w.Key("format_version");
  w.Uint(m.format_version);
  w.Key("key_id");
  w.String(m.key_id);
  w.Key("model");
  w.String(m.model);
  w.Key("parent");
  w.Uint(m.parent);
  if (signature) {
    w.Key("signature");
    w.String(*signature);
  }
  w.Key("target_is_directory");
  w.Bool(m.target_is_directory);
  w.Key("version");
  w.Uint(m.version);
  w.Raw("}");
  return w.Take();
}

}  // namespace

uint64_t ManifestArtifact::bytes() const {
  uint64_t total = index_size;
  for (const auto& c : chunks) total += c.size;
  return total;
}

const ManifestArtifact* Manifest::Find(const std::string& kind) const {
  for (const auto& a : artifacts)
    if (a.kind == kind) return &a;
  return nullptr;
}

std::string CanonicalBytes(const Manifest& m) { return Write(m, nullptr); }

std::string SerializeManifest(const Manifest& m) { return Write(m, &m.signature) + "\n"; }

}  // namespace deltaswarm
