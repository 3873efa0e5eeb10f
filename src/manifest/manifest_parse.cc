// ParseManifest: strict JSON -> Manifest. Every member must be present with
// its exact type and nothing else may be there (no repeated keys either), so
// the parsed struct holds everything the stored bytes say and the signature,
// checked over CanonicalBytes(struct), covers all of it.
//
// Read with nlohmann's SAX interface straight into the struct: building a
// json tree first costs several allocations per chunk, and a manifest may
// list 100,000 chunks.
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "deltaswarm/manifest.h"
#include "format/printable.h"
#include "manifest/manifest_check.h"

namespace deltaswarm {

namespace {

using Json = nlohmann::json;

enum class Kind { kString, kUint, kInt32, kBool, kDigest, kArray, kObject };
struct Member {
  std::string_view name;
  Kind kind;
};

// The objects and arrays of format_version 1, and each object's members.
enum class Ctx { kTop, kFiles, kFile, kArtifacts, kArtifact, kChunks, kChunk, kCodec };
constexpr Member kTopMembers[] = {
    {"artifacts", Kind::kArray}, {"codec", Kind::kObject},   {"created", Kind::kString},
    {"files", Kind::kArray},     {"format_version", Kind::kUint}, {"key_id", Kind::kString},
    {"model", Kind::kString},    {"parent", Kind::kUint},    {"signature", Kind::kString},
    {"target_is_directory", Kind::kBool}, {"version", Kind::kUint}};
constexpr Member kFileMembers[] = {{"path", Kind::kString}, {"sha256", Kind::kDigest}, {"size", Kind::kUint}};
constexpr Member kChunkMembers[] = {{"name", Kind::kString}, {"sha256", Kind::kDigest}, {"size", Kind::kUint}};
constexpr Member kArtifactMembers[] = {{"base_version", Kind::kUint},   {"chunks", Kind::kArray},
                                       {"dir", Kind::kString},          {"index_sha256", Kind::kDigest},
                                       {"index_size", Kind::kUint},     {"info_hash", Kind::kDigest},
                                       {"kind", Kind::kString},         {"torrent_sha256", Kind::kDigest},
                                       {"torrent_size", Kind::kUint}};
constexpr Member kCodecMembers[] = {
    {"chunk_bytes", Kind::kUint}, {"frame_bytes", Kind::kUint}, {"zstd_level", Kind::kInt32}};

std::span<const Member> MembersOf(Ctx c) {
  switch (c) {
    case Ctx::kTop: return kTopMembers;
    case Ctx::kFile: return kFileMembers;
    case Ctx::kArtifact: return kArtifactMembers;
    case Ctx::kChunk: return kChunkMembers;
    case Ctx::kCodec: return kCodecMembers;
    default: return {};
  }
}
bool IsArray(Ctx c) { return c == Ctx::kFiles || c == Ctx::kArtifacts || c == Ctx::kChunks; }

const char* Expected(Kind k) {
  switch (k) {
    case Kind::kString: return "not a string";
    case Kind::kUint: return "not an unsigned integer";
    case Kind::kInt32: return "not an integer";
    case Kind::kBool: return "not true or false";
    case Kind::kDigest: return "not 64 lowercase hex digits";
    case Kind::kArray: return "not an array";
    case Kind::kObject: return "not a JSON object";
  }
  return "";
}

// One open object or array.
struct Frame {
  Ctx ctx;
  size_t count = 0;   // arrays: elements begun so far
  uint32_t seen = 0;  // objects: bit i set once member i was read
  int member = -1;    // objects: the member whose value comes next
};

class ManifestReader {
 public:
  static constexpr size_t kMaxDepth = 5;  // manifest, artifacts, artifact, chunks, chunk

  explicit ManifestReader(const std::string& name) : name_(name) {}
  Manifest& manifest() { return m_; }
  const Status& status() const { return status_; }

  bool null() { return Scalar(nullptr); }
  bool boolean(bool v) { return Scalar(v); }
  bool number_integer(Json::number_integer_t v) { return Scalar(v); }
  bool number_unsigned(Json::number_unsigned_t v) { return Scalar(v); }
  bool number_float(Json::number_float_t v, const std::string&) { return Scalar(v); }
  bool string(std::string& v) { return Scalar(std::move(v)); }
  bool binary(Json::binary_t&) { return Fail("binary data"); }

  bool start_object(std::size_t) {
    if (stack_.empty()) return Push(Ctx::kTop);
    Frame& f = stack_.back();
    switch (f.ctx) {
      case Ctx::kFiles:
        ++f.count;
        m_.files.emplace_back();
        return Push(Ctx::kFile);
      case Ctx::kArtifacts:
        ++f.count;
        m_.artifacts.emplace_back();
        return Push(Ctx::kArtifact);
      case Ctx::kChunks:
        ++f.count;
        m_.artifacts.back().chunks.emplace_back();
        return Push(Ctx::kChunk);
      default:
        if (ExpectedKind() == Kind::kObject) return Push(Ctx::kCodec);  // the only nested object
        return Fail(Expected(ExpectedKind()));
    }
  }
  bool start_array(std::size_t) {
    if (!stack_.empty() && !IsArray(stack_.back().ctx)) {
      std::string_view key = MemberName(stack_.back());
      if (key == "files") return Push(Ctx::kFiles);
      if (key == "artifacts") return Push(Ctx::kArtifacts);
      if (key == "chunks") return Push(Ctx::kChunks);
    }
    return Fail(Expected(ExpectedKind()));
  }
  bool key(std::string& k) {
    Frame& f = stack_.back();
    auto members = MembersOf(f.ctx);
    f.member = -1;
    for (size_t i = 0; i < members.size(); ++i)
      if (members[i].name == k) f.member = static_cast<int>(i);
    if (f.member < 0) return Fail(Prefix(false) + "unknown member \"" + Printable(k, '"') + "\"", /*whole=*/true);
    if (f.seen & (1u << f.member))
      return Fail(Prefix(false) + "member \"" + k + "\" appears twice in one object", /*whole=*/true);
    f.seen |= 1u << f.member;
    return true;
  }
  bool end_object() {
    Frame& f = stack_.back();
    f.member = -1;
    auto members = MembersOf(f.ctx);
    for (size_t i = 0; i < members.size(); ++i)
      if (!(f.seen & (1u << i))) return Fail(name_ + ": " + Join(Where(false), members[i].name) + ": missing", true);
    stack_.pop_back();
    return true;
  }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    status_ = Corruption(name_ + ": not valid JSON: " + Printable(e.what()));  // it quotes the input
    return false;
  }

 private:
  bool Push(Ctx c) {
    // The schema admits only its own nesting (at most kMaxDepth); stated here
    // too, so that no input can grow the stack with its length.
    if (stack_.size() >= kMaxDepth) return Fail("nested too deeply");
    stack_.push_back({c});
    return true;
  }
  std::string_view MemberName(const Frame& f) const {
    return f.member < 0 ? std::string_view() : MembersOf(f.ctx)[f.member].name;
  }
  // What the value being read should be; an array's elements are objects.
  Kind ExpectedKind() const {
    if (stack_.empty() || IsArray(stack_.back().ctx)) return Kind::kObject;
    return MembersOf(stack_.back().ctx)[stack_.back().member].kind;
  }

  // "artifacts[0].chunks[17].sha256": the open frames, and the current member
  // of the innermost object when with_member.
  std::string Where(bool with_member) const {
    std::string s;
    for (size_t d = 0; d < stack_.size(); ++d) {
      const Frame& f = stack_[d];
      bool inner = d + 1 < stack_.size();  // a value of this frame is open
      if (IsArray(f.ctx)) {
        if (inner) s += "[" + std::to_string(f.count - 1) + "]";
      } else if (inner || with_member) {
        s = Join(s, MemberName(f));
      }
    }
    if (!stack_.empty() && IsArray(stack_.back().ctx) && with_member)  // the element being read
      s += "[" + std::to_string(stack_.back().count) + "]";
    return s;
  }
  static std::string Join(const std::string& a, std::string_view b) {
    return a.empty() ? std::string(b) : a + "." + std::string(b);
  }
  std::string Prefix(bool with_member) const {
    std::string w = Where(with_member);
    return name_ + ": " + (w.empty() ? "" : w + ": ");
  }
  // `whole`: the message is complete; otherwise it names the value being read.
  bool Fail(const std::string& message, bool whole = false) {
    if (whole) {
      status_ = Corruption(message);
    } else if (stack_.empty()) {
      status_ = Corruption(name_ + ": not a JSON object");
    } else {
      status_ = Corruption(Prefix(true) + message);
    }
    return false;
  }

  template <typename V>
  bool Scalar(V&& v) {
    if (stack_.empty() || IsArray(stack_.back().ctx)) return Fail(Expected(Kind::kObject));
    const Frame& f = stack_.back();
    Kind kind = ExpectedKind();
    std::string_view key = MemberName(f);
    using T = std::decay_t<V>;
    if constexpr (std::is_same_v<T, std::string>) {
      if (kind == Kind::kString) return (*StringSlot(f.ctx, key) = std::move(v), true);
      if (kind == Kind::kDigest && IsLowerHex(v, 64) && ParseHex(v, DigestSlot(f.ctx, key))) return true;
    } else if constexpr (std::is_same_v<T, uint64_t>) {
      if (kind == Kind::kUint) return StoreUint(f.ctx, key, v);
      if (kind == Kind::kInt32) return v <= INT32_MAX ? (m_.zstd_level = static_cast<int32_t>(v), true)
                                                      : Fail("out of range");
    } else if constexpr (std::is_same_v<T, int64_t>) {  // negative: nlohmann stores others as unsigned
      if (kind == Kind::kInt32)
        return v >= INT32_MIN ? (m_.zstd_level = static_cast<int32_t>(v), true) : Fail("out of range");
    } else if constexpr (std::is_same_v<T, bool>) {
      if (kind == Kind::kBool) return (m_.target_is_directory = v, true);
    }
    // Anything else (null, floats such as 1.0 or 1e3, wrong types) has no place:
    // each value has one spelling.
    return Fail(Expected(kind));
  }

  std::string* StringSlot(Ctx c, std::string_view key) {
    if (c == Ctx::kFile) return &m_.files.back().path;
    if (c == Ctx::kChunk) return &m_.artifacts.back().chunks.back().name;
    if (c == Ctx::kArtifact) return key == "kind" ? &m_.artifacts.back().kind : &m_.artifacts.back().dir;
    if (key == "model") return &m_.model;
    if (key == "created") return &m_.created;
    return key == "key_id" ? &m_.key_id : &m_.signature;
  }
  Sha256* DigestSlot(Ctx c, std::string_view key) {
    if (c == Ctx::kFile) return &m_.files.back().sha256;
    if (c == Ctx::kChunk) return &m_.artifacts.back().chunks.back().sha256;
    ManifestArtifact& a = m_.artifacts.back();
    if (key == "info_hash") return &a.info_hash;
    return key == "torrent_sha256" ? &a.torrent_sha256 : &a.index_sha256;
  }
  bool StoreUint(Ctx c, std::string_view key, uint64_t v) {
    switch (c) {
      case Ctx::kFile: m_.files.back().size = v; return true;
      case Ctx::kChunk: m_.artifacts.back().chunks.back().size = v; return true;
      case Ctx::kArtifact: {
        ManifestArtifact& a = m_.artifacts.back();
        (key == "base_version" ? a.base_version : key == "torrent_size" ? a.torrent_size : a.index_size) = v;
        return true;
      }
      case Ctx::kCodec: (key == "frame_bytes" ? m_.frame_bytes : m_.chunk_bytes) = v; return true;
      default: break;
    }
    if (key == "format_version") {
      // Checked at once: a later format may differ in anything after this.
      if (v == kManifestVersion) return true;
      status_ = Unsupported(name_ + ": format_version " + std::to_string(v) + " not supported");
      return false;
    }
    (key == "version" ? m_.version : m_.parent) = v;
    return true;
  }

  const std::string& name_;
  Manifest m_;
  std::vector<Frame> stack_;
  Status status_;
};

// Finds the top-level "format_version" of a JSON object (the last, if
// repeated) and keeps nothing else: no DOM, whose nodes cost ~80 bytes per
// input byte of '[[[...' (16 MB took 1.28 GB, before any signature check).
class FormatVersionFinder {
 public:
  // Nothing deeper is needed to find a top-level member; a later format may
  // nest more than this one, but not past this.
  static constexpr size_t kMaxDepth = 64;

  std::optional<uint64_t> version() const { return version_; }

  bool null() { return Value(); }
  bool boolean(bool) { return Value(); }
  bool number_integer(Json::number_integer_t) { return Value(); }
  bool number_unsigned(Json::number_unsigned_t v) {
    if (depth_ == 1 && at_version_) version_ = v;
    return Value();
  }
  bool number_float(Json::number_float_t, const std::string&) { return Value(); }
  bool string(std::string&) { return Value(); }
  bool binary(Json::binary_t&) { return Value(); }
  bool start_object(std::size_t) { return Open(/*object=*/true); }
  bool start_array(std::size_t) { return Open(/*object=*/false); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool key(std::string& k) {
    at_version_ = depth_ == 1 && k == "format_version";
    if (at_version_) version_.reset();  // a repeated member counts as its last value
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

 private:
  bool Value() {
    at_version_ = false;
    return true;
  }
  bool Open(bool object) {
    if (depth_ == 0 && !object) return false;  // not an object: no format_version
    Value();
    return ++depth_ <= kMaxDepth;
  }
  bool Close() {
    --depth_;
    return true;
  }

  size_t depth_ = 0;
  bool at_version_ = false;  // the next value is the top-level format_version
  std::optional<uint64_t> version_;
};

// A manifest of another format_version may break the rules of this one
// before its format_version is read; report the version, not the symptom.
// Only a well-formed JSON object counts, as the symptom might be the version.
bool IsOtherFormatVersion(std::span<const std::byte> bytes, uint64_t* version) {
  const auto* p = reinterpret_cast<const char*>(bytes.data());
  FormatVersionFinder finder;
  bool parsed;
  try {
    parsed = Json::sax_parse(p, p + bytes.size(), &finder, Json::input_format_t::json, /*strict=*/true);
  } catch (const Json::exception&) {
    return false;
  }
  if (!parsed || !finder.version() || *finder.version() == kManifestVersion) return false;
  *version = *finder.version();
  return true;
}

}  // namespace

Result<Manifest> ParseManifest(std::span<const std::byte> bytes, const std::string& name) {
  ManifestReader reader(name);
  const auto* p = reinterpret_cast<const char*>(bytes.data());
  bool ok;
  try {
    ok = Json::sax_parse(p, p + bytes.size(), &reader, Json::input_format_t::json, /*strict=*/true);
  } catch (const Json::exception& e) {  // errors come through parse_error; this is belt and braces
    return Corruption(name + ": not valid JSON: " + Printable(e.what()));
  }
  if (!ok) {
    uint64_t version;
    if (reader.status().code() == Code::kCorruption && IsOtherFormatVersion(bytes, &version))
      return Unsupported(name + ": format_version " + std::to_string(version) + " not supported");
    return reader.status().ok() ? Corruption(name + ": not valid JSON") : reader.status();
  }
  Manifest m = std::move(reader.manifest());
  DS_RETURN_IF_ERROR(CheckManifest(m, name));
  return m;
}

}  // namespace deltaswarm
