// Safetensors header parsing: u64 little-endian JSON length N, N bytes of JSON,
// then the data area. Every check here guards the codec, which later trusts the
// tensor ranges to tile the data area exactly.
#include <algorithm>
#include <cstring>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/file.h"
#include "deltaswarm/checkpoint.h"

namespace deltaswarm {

namespace {

using Json = nlohmann::ordered_json;

constexpr uint64_t kLengthBytes = 8;
constexpr size_t kMaxQuoted = 200;  // names in messages are cut to keep them readable

uint64_t LoadU64Le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// 'name' with control characters, quotes and backslashes escaped, so a hostile
// tensor name cannot break the one-line error message.
std::string Quote(const std::string& s) {
  std::string out = "'";
  for (size_t i = 0; i < s.size() && i < kMaxQuoted; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\'' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > kMaxQuoted) out += "...";
  return out + "'";
}

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

// Non-negative integer JSON value (nlohmann stores those as number_unsigned;
// negative ones are number_integer and 1.0 or 1e3 are number_float).
bool IsCount(const Json& v) { return v.is_number_unsigned(); }

// Fills `t` from one tensor entry; offsets stay relative to the data area here.
Status ParseTensor(const std::string& name, const std::string& key, const Json& v, uint64_t data_size,
                   TensorInfo* t) {
  const std::string where = name + ": tensor " + Quote(key);
  if (!v.is_object()) return Corruption(where + ": not a JSON object");
  t->name = key;

  auto dtype = v.find("dtype");
  if (dtype == v.end() || !dtype->is_string()) return Corruption(where + ": missing or non-string dtype");
  t->dtype_name = dtype->get<std::string>();
  t->dtype = DTypeFromName(t->dtype_name).value_or(DType::kRaw);

  auto shape = v.find("shape");
  if (shape == v.end() || !shape->is_array())
    return Corruption(where + ": shape must be an array of non-negative integers");
  for (const Json& d : *shape) {
    if (!IsCount(d)) return Corruption(where + ": shape must be an array of non-negative integers");
    t->shape.push_back(d.get<uint64_t>());
  }

  auto offsets = v.find("data_offsets");
  if (offsets == v.end()) return Corruption(where + ": missing data_offsets");
  if (!offsets->is_array() || offsets->size() != 2 || !IsCount((*offsets)[0]) || !IsCount((*offsets)[1]))
    return Corruption(where + ": data_offsets must be [begin, end] non-negative integers");
  t->begin = (*offsets)[0].get<uint64_t>();
  t->end = (*offsets)[1].get<uint64_t>();
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

Status ParseMetadata(const std::string& name, const Json& v, std::string* out) {
  if (!v.is_object()) return Corruption(name + ": __metadata__ is not a JSON object");
  for (auto it = v.begin(); it != v.end(); ++it)
    if (!it.value().is_string())
      return Corruption(name + ": __metadata__ value " + Quote(it.key()) + " is not a string");
  *out = v.dump();
  return Status::Ok();
}

}  // namespace

Result<SafetensorsHeader> ParseSafetensorsHeader(const std::string& name, const uint8_t* prefix,
                                                 uint64_t prefix_len, uint64_t file_size) {
  if (prefix_len > file_size)
    return InvalidArgument(name + ": prefix of " + std::to_string(prefix_len) + " bytes exceeds the file size " +
                           std::to_string(file_size));
  DS_ASSIGN_OR_RETURN(uint64_t n, CheckJsonLength(name, prefix, prefix_len, file_size));
  SafetensorsHeader header;
  header.header_bytes = kLengthBytes + n;
  if (prefix_len < header.header_bytes)
    return Corruption(name + ": header incomplete: have " + std::to_string(prefix_len) + " of " +
                      std::to_string(header.header_bytes) + " bytes");
  const uint64_t data_size = file_size - header.header_bytes;

  // nlohmann keeps only the last of duplicate keys; the callback sees each
  // top-level key (depth 1) as it is read, so duplicates can be caught.
  std::set<std::string> seen;
  std::string duplicate;
  bool has_duplicate = false;
  auto on_event = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth == 1 && event == Json::parse_event_t::key && !has_duplicate) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!seen.insert(key).second) {
        has_duplicate = true;
        duplicate = key;
      }
    }
    return true;
  };
  Json root;
  const char* json = reinterpret_cast<const char*>(prefix + kLengthBytes);
  try {
    root = Json::parse(json, json + n, on_event);
  } catch (const Json::exception& e) {
    return Corruption(name + ": header is not valid JSON: " + e.what());
  }
  if (!root.is_object()) return Corruption(name + ": header is not a JSON object");
  if (has_duplicate) return Corruption(name + ": duplicate tensor name " + Quote(duplicate));

  for (auto it = root.begin(); it != root.end(); ++it) {
    if (it.key() == "__metadata__") {
      DS_RETURN_IF_ERROR(ParseMetadata(name, it.value(), &header.metadata_json));
      continue;
    }
    TensorInfo t;
    DS_RETURN_IF_ERROR(ParseTensor(name, it.key(), it.value(), data_size, &t));
    header.tensors.push_back(std::move(t));
  }
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
