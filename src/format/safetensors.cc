// Safetensors header parsing: u64 little-endian JSON length N, N bytes of JSON,
// then the data area. Every check here guards the codec, which later trusts the
// tensor ranges to tile the data area exactly.
#include <algorithm>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/file.h"
#include "deltaswarm/checkpoint.h"
#include "format/printable.h"

namespace deltaswarm {

namespace {

using Json = nlohmann::json;  // for its SAX interface; no DOM is built

constexpr uint64_t kLengthBytes = 8;
constexpr size_t kMaxQuoted = 200;  // names in messages are cut to keep them readable

uint64_t LoadU64Le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// 'name' with control characters, quotes and backslashes escaped, so a hostile
// tensor name cannot break the one-line error message.
std::string Quote(const std::string& s) { return "'" + Printable(s, '\'', kMaxQuoted) + "'"; }

std::string Pair(uint64_t a, uint64_t b) {
  return "[" + std::to_string(a) + ", " + std::to_string(b) + "]";
}

std::string ShapeString(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Checks the length prefix alone; returns N.
Result<uint64_t> CheckJsonLength(const std::string& name, const uint8_t* prefix, uint64_t prefix_len,
                                 uint64_t file_size) {
  if (file_size < kLengthBytes)
    return Corruption(name + ": truncated: " + std::to_string(file_size) +
                      " bytes, too short for the 8-byte header length");
  if (prefix_len < kLengthBytes)
    return InvalidArgument(name + ": need the first 8 bytes to parse the header");
  uint64_t n = LoadU64Le(prefix);
  if (n > kMaxSafetensorsHeader)
    return Corruption(name + ": header length " + std::to_string(n) + " exceeds the limit of " +
                      std::to_string(kMaxSafetensorsHeader) + " bytes");
  if (n > file_size - kLengthBytes)
    return Corruption(name + ": header length " + std::to_string(n) +
                      " runs past the end of the file (" + std::to_string(file_size) + " bytes)");
  return n;
}

// One tensor entry as read, member by member; a repeated member counts as
// its last occurrence, as a JSON object would have it.
enum class Slot { kMissing, kGood, kBad };
struct TensorEntry {
  std::string name;
  Slot dtype = Slot::kMissing;  // good: a string
  std::string dtype_name;
  Slot shape = Slot::kMissing;  // good: an array of non-negative integers
  std::vector<uint64_t> dims;
  Slot offsets = Slot::kMissing;  // good: an array of non-negative integers, of which the first two are kept
  size_t offsets_count = 0;
  uint64_t offsets_v[2] = {0, 0};
};

// Fills `t` from one tensor entry; offsets stay relative to the data area here.
Status CheckTensor(const std::string& name, TensorEntry& e, uint64_t data_size, TensorInfo* t) {
  const std::string where = name + ": tensor " + Quote(e.name);
  t->name = std::move(e.name);
  if (e.dtype != Slot::kGood) return Corruption(where + ": missing or non-string dtype");
  t->dtype_name = std::move(e.dtype_name);
  t->dtype = DTypeFromName(t->dtype_name).value_or(DType::kRaw);
  if (e.shape != Slot::kGood) return Corruption(where + ": shape must be an array of non-negative integers");
  t->shape = std::move(e.dims);
  if (e.offsets == Slot::kMissing) return Corruption(where + ": missing data_offsets");
  if (e.offsets == Slot::kBad || e.offsets_count != 2)
    return Corruption(where + ": data_offsets must be [begin, end] non-negative integers");
  t->begin = e.offsets_v[0];
  t->end = e.offsets_v[1];
  if (t->begin > t->end)
    return Corruption(where + ": data_offsets " + Pair(t->begin, t->end) + " begin after end");
  if (t->end > data_size)
    return Corruption(where + ": data_offsets " + Pair(t->begin, t->end) +
                      " run past the end of the data area (" + std::to_string(data_size) + " bytes)");

  // Unknown dtypes are opaque bytes: their element width is unknown, so no size check.
  if (t->dtype != DType::kRaw) {
    uint64_t need = Info(t->dtype).width;
    for (uint64_t d : t->shape) {
      if (__builtin_mul_overflow(need, d, &need))
        return Corruption(where + ": " + t->dtype_name + " shape " + ShapeString(t->shape) +
                          " overflows 64 bits");
    }
    if (need != t->bytes())
      return Corruption(where + ": " + t->dtype_name + " shape " + ShapeString(t->shape) + " needs " +
                        std::to_string(need) + " bytes but data_offsets " + Pair(t->begin, t->end) +
                        " hold " + std::to_string(t->bytes()));
  }
  return Status::Ok();
}

// With tensors sorted by (begin, end, name), the non-empty ranges must follow
// each other without gap or overlap from 0 to data_size (relative offsets).
Status CheckTiling(const std::string& name, const std::vector<TensorInfo>& tensors, uint64_t data_size) {
  uint64_t cursor = 0;
  const TensorInfo* prev = nullptr;
  for (const TensorInfo& t : tensors) {
    if (t.begin == t.end) continue;  // empty tensors occupy nothing, so fit anywhere
    if (t.begin < cursor)
      return Corruption(name + ": tensor " + Quote(t.name) + ": data_offsets " + Pair(t.begin, t.end) +
                        " overlap " + Quote(prev->name) + " " + Pair(prev->begin, prev->end));
    if (t.begin > cursor)
      return Corruption(name + ": data area bytes [" + std::to_string(cursor) + ", " +
                        std::to_string(t.begin) + ") belong to no tensor (hole before tensor " +
                        Quote(t.name) + ")");
    cursor = t.end;
    prev = &t;
  }
  if (cursor != data_size)
    return Corruption(name + ": data area bytes [" + std::to_string(cursor) + ", " +
                      std::to_string(data_size) + ") belong to no tensor (trailing bytes after the last tensor)");
  return Status::Ok();
}

// Reads the header JSON with nlohmann's SAX interface straight into tensors:
// a DOM of a hostile header costs up to ~80 bytes per input byte (5 MB of '['
// took 389 MB), this keeps what a valid header describes and a stack of at
// most kMaxDepth levels. The first rule broken is kept and the rest of the
// input only checked as JSON, so a syntax error anywhere wins, as with a DOM.
class HeaderReader {
 public:
  HeaderReader(const std::string& name, uint64_t data_size) : name_(name), data_size_(data_size) {}

  bool null() { return Scalar(Value::kOther); }
  bool boolean(bool) { return Scalar(Value::kOther); }
  bool number_integer(Json::number_integer_t) { return Scalar(Value::kOther); }
  bool number_unsigned(Json::number_unsigned_t v) {
    unsigned_ = v;
    return Scalar(Value::kUnsigned);
  }
  bool number_float(Json::number_float_t, const std::string&) { return Scalar(Value::kOther); }
  bool string(std::string& v) {
    string_ = &v;
    return Scalar(Value::kString);
  }
  bool binary(Json::binary_t&) { return Scalar(Value::kOther); }
  bool start_object(std::size_t) { return Open(Value::kObject); }
  bool start_array(std::size_t) { return Open(Value::kArray); }
  bool end_object() { return Close(); }
  bool end_array() { return Close(); }
  bool key(std::string& k) {
    if (!failed() && stack_.back() == Ctx::kTop) return TopKey(k);
    if (!failed() && stack_.back() == Ctx::kMetadata) {
      std::string& dump = header_.metadata_json;
      if (!metadata_keys_.empty()) dump += ",";
      const size_t start = dump.size();
      dump += Json(k).dump();
      metadata_keys_.push_back({start, dump.size() - start});
      key_ = std::move(k);  // for an error about its value
    } else if (!failed() && stack_.back() == Ctx::kTensor) {
      key_ = std::move(k);
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    syntax_ = Corruption(name_ + ": header is not valid JSON: " + Printable(e.what(), 0, kMaxQuoted));
    return false;
  }

  // The header once sax_parse returned `parsed`: tensors unsorted, offsets relative.
  Result<SafetensorsHeader> Finish(bool parsed) {
    if (too_deep_)
      return Corruption(name_ + ": header nests deeper than " + std::to_string(kMaxDepth) + " levels");
    if (!syntax_.ok()) return syntax_;
    if (!parsed) return Corruption(name_ + ": header is not valid JSON");
    if (!error_.ok()) return error_;
    return std::move(header_);
  }

 private:
  // A valid header nests 3 deep (header, tensor, shape); members the reader
  // does not know may nest a little more, nothing needs 64.
  static constexpr size_t kMaxDepth = 64;
  enum class Ctx { kTop, kTensor, kMetadata, kShape, kOffsets, kSkip };
  enum class Value { kObject, kArray, kString, kUnsigned, kOther };

  bool failed() const { return !error_.ok(); }
  bool Fail(const std::string& message) {
    if (!failed()) error_ = Corruption(name_ + ": " + message);
    return true;  // keep reading: a later syntax error is reported instead
  }
  std::string TensorWhere() const { return "tensor " + Quote(entry_.name); }

  bool TopKey(std::string& k) {
    if (k == "__metadata__") {
      if (has_metadata_) return Fail("duplicate tensor name " + Quote(k));
      has_metadata_ = true;
    } else if (HasControlCharacter(k)) {
      return Fail("tensor " + Quote(k) + ": name holds a control character");
    }
    key_ = std::move(k);
    return true;
  }

  bool Open(Value v) {
    if (stack_.size() >= kMaxDepth) {
      too_deep_ = true;
      return false;
    }
    Ctx next = Ctx::kSkip;
    if (!failed()) next = Place(v);
    stack_.push_back(next);
    return true;
  }
  bool Scalar(Value v) {
    if (!failed()) Place(v);
    return true;
  }

  // Where a value of kind `v` goes in the innermost open context; for an
  // object or array, the context it opens.
  Ctx Place(Value v) {
    if (stack_.empty()) {
      if (v == Value::kObject) return Ctx::kTop;
      Fail("header is not a JSON object");
      return Ctx::kSkip;
    }
    switch (stack_.back()) {
      case Ctx::kTop:
        if (key_ == "__metadata__") {
          if (v == Value::kObject) return (header_.metadata_json = "{", Ctx::kMetadata);
          Fail("__metadata__ is not a JSON object");
          return Ctx::kSkip;
        }
        entry_ = TensorEntry{};
        entry_.name = std::move(key_);
        if (v == Value::kObject) return Ctx::kTensor;
        Fail(TensorWhere() + ": not a JSON object");
        return Ctx::kSkip;
      case Ctx::kTensor:
        return TensorMember(v);
      case Ctx::kMetadata:
        if (v == Value::kString) {
          header_.metadata_json += ":" + Json(*string_).dump();
        } else {
          Fail("__metadata__ value " + Quote(key_) + " is not a string");
        }
        return Ctx::kSkip;
      case Ctx::kShape:
        if (v == Value::kUnsigned) {
          entry_.dims.push_back(unsigned_);
        } else {
          entry_.shape = Slot::kBad;
        }
        return Ctx::kSkip;
      case Ctx::kOffsets:
        if (v != Value::kUnsigned) {
          entry_.offsets = Slot::kBad;
        } else if (entry_.offsets_count < 2) {
          entry_.offsets_v[entry_.offsets_count] = unsigned_;
        }
        ++entry_.offsets_count;
        return Ctx::kSkip;
      case Ctx::kSkip:
        return Ctx::kSkip;
    }
    return Ctx::kSkip;
  }
  Ctx TensorMember(Value v) {
    if (key_ == "dtype") {
      entry_.dtype = v == Value::kString ? Slot::kGood : Slot::kBad;
      if (v == Value::kString) entry_.dtype_name = std::move(*string_);
    } else if (key_ == "shape" || key_ == "data_offsets") {
      const bool shape = key_ == "shape";
      (shape ? entry_.shape : entry_.offsets) = v == Value::kArray ? Slot::kGood : Slot::kBad;
      if (shape) entry_.dims.clear();
      if (!shape) entry_.offsets_count = 0;
      if (v == Value::kArray) return shape ? Ctx::kShape : Ctx::kOffsets;
    }
    return Ctx::kSkip;  // other members are not read
  }

  bool Close() {
    const Ctx closed = stack_.back();
    stack_.pop_back();
    if (failed()) return true;
    if (closed == Ctx::kTensor) {
      TensorInfo t;
      Status s = CheckTensor(name_, entry_, data_size_, &t);
      if (!s.ok()) {
        error_ = s;
      } else {
        header_.tensors.push_back(std::move(t));
      }
    } else if (closed == Ctx::kMetadata) {
      header_.metadata_json += "}";
      CheckMetadataKeys();
    }
    return true;
  }

  // nlohmann's dump spells each key one way, so equal keys are equal spans.
  void CheckMetadataKeys() {
    const std::string& dump = header_.metadata_json;
    auto view = [&](const std::pair<size_t, size_t>& k) { return std::string_view(dump).substr(k.first, k.second); };
    std::sort(metadata_keys_.begin(), metadata_keys_.end(),
              [&](const auto& a, const auto& b) { return view(a) < view(b); });
    for (size_t i = 1; i < metadata_keys_.size(); ++i)
      if (view(metadata_keys_[i]) == view(metadata_keys_[i - 1]))
        Fail("__metadata__ key " + Quote(std::string(view(metadata_keys_[i]).substr(1, metadata_keys_[i].second - 2))) +
             " appears twice");
    metadata_keys_ = {};
  }

  const std::string& name_;
  const uint64_t data_size_;
  std::vector<Ctx> stack_;
  std::string key_;           // the member whose value comes next (top level, tensor, metadata)
  TensorEntry entry_;         // the tensor being read
  std::string* string_ = nullptr;  // the string value being placed
  uint64_t unsigned_ = 0;     // the integer value being placed
  bool has_metadata_ = false;
  std::vector<std::pair<size_t, size_t>> metadata_keys_;  // spans of the quoted keys in metadata_json
  bool too_deep_ = false;
  Status syntax_;
  Status error_;
  SafetensorsHeader header_;
};

}  // namespace

Result<SafetensorsHeader> ParseSafetensorsHeader(const std::string& name, const uint8_t* prefix,
                                                 uint64_t prefix_len, uint64_t file_size) {
  if (prefix_len > file_size)
    return InvalidArgument(name + ": prefix of " + std::to_string(prefix_len) + " bytes exceeds the file size " +
                           std::to_string(file_size));
  DS_ASSIGN_OR_RETURN(uint64_t n, CheckJsonLength(name, prefix, prefix_len, file_size));
  const uint64_t header_bytes = kLengthBytes + n;
  if (prefix_len < header_bytes)
    return Corruption(name + ": header incomplete: have " + std::to_string(prefix_len) + " of " +
                      std::to_string(header_bytes) + " bytes");
  const uint64_t data_size = file_size - header_bytes;

  HeaderReader reader(name, data_size);
  const char* json = reinterpret_cast<const char*>(prefix + kLengthBytes);
  bool parsed;
  try {
    parsed = Json::sax_parse(json, json + n, &reader, Json::input_format_t::json, /*strict=*/true);
  } catch (const Json::exception& e) {  // errors come through parse_error; this is belt and braces
    return Corruption(name + ": header is not valid JSON: " + Printable(e.what(), 0, kMaxQuoted));
  }
  DS_ASSIGN_OR_RETURN(SafetensorsHeader header, reader.Finish(parsed));
  header.header_bytes = header_bytes;

  // Names are unique: sorted by name, a repeat is a neighbour.
  std::sort(header.tensors.begin(), header.tensors.end(),
            [](const TensorInfo& a, const TensorInfo& b) { return a.name < b.name; });
  for (size_t i = 1; i < header.tensors.size(); ++i)
    if (header.tensors[i].name == header.tensors[i - 1].name)
      return Corruption(name + ": duplicate tensor name " + Quote(header.tensors[i].name));
  std::sort(header.tensors.begin(), header.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  DS_RETURN_IF_ERROR(CheckTiling(name, header.tensors, data_size));
  // Both offsets are <= data_size here, so adding the header cannot overflow.
  for (TensorInfo& t : header.tensors) {
    t.begin += header.header_bytes;
    t.end += header.header_bytes;
  }
  return header;
}

Result<SafetensorsHeader> ReadSafetensorsHeader(const std::string& path) {
  DS_ASSIGN_OR_RETURN(File f, File::OpenRead(path));
  DS_ASSIGN_OR_RETURN(uint64_t size, f.Size());
  uint8_t len_bytes[kLengthBytes] = {};
  uint64_t have = std::min<uint64_t>(size, kLengthBytes);
  DS_RETURN_IF_ERROR(f.ReadAt(0, std::as_writable_bytes(std::span(len_bytes, have))));
  // Validate N before allocating N bytes for it.
  DS_ASSIGN_OR_RETURN(uint64_t n, CheckJsonLength(path, len_bytes, have, size));
  std::vector<uint8_t> prefix(kLengthBytes + n);
  DS_RETURN_IF_ERROR(f.ReadAt(0, std::as_writable_bytes(std::span(prefix))));
  return ParseSafetensorsHeader(path, prefix.data(), prefix.size(), size);
}

}  // namespace deltaswarm
