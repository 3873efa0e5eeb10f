// Little-endian encoding helpers and a bounds-checked reader for the binary
// formats (frame headers, delta index). Every read past the end is an error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

namespace deltaswarm {

class ByteWriter {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<std::byte>(v)); }
  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      U8(static_cast<uint8_t>(v | 0x80));
      v >>= 7;
    }
    U8(static_cast<uint8_t>(v));
  }
  void Bytes(std::span<const std::byte> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void Bytes(std::span<const uint8_t> b) { Bytes(std::as_bytes(b)); }
  void String(const std::string& s) {
    Varint(s.size());
    Bytes(std::as_bytes(std::span(s.data(), s.size())));
  }
  std::vector<std::byte>& data() { return out_; }

 private:
  // The formats are little-endian and so are the supported hosts (x86-64, aarch64).
  void Raw(const void* p, size_t n) {
    auto b = static_cast<const std::byte*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  std::vector<std::byte> out_;
};

class ByteReader {
 public:
  explicit ByteReader(std::span<const std::byte> in) : in_(in) {}
  bool ok() const { return ok_; }
  size_t remaining() const { return in_.size() - pos_; }
  size_t position() const { return pos_; }

  uint8_t U8() {
    uint8_t v = 0;
    Raw(&v, 1);
    return v;
  }
  uint32_t U32() {
    uint32_t v = 0;
    Raw(&v, 4);
    return v;
  }
  uint64_t U64() {
    uint64_t v = 0;
    Raw(&v, 8);
    return v;
  }
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = U8();
      if (!ok_) return 0;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    ok_ = false;
    return 0;
  }
  void Bytes(std::span<uint8_t> out) { Raw(out.data(), out.size()); }
  std::span<const std::byte> Take(size_t n) {
    if (!ok_ || n > remaining()) {
      ok_ = false;
      return {};
    }
    auto s = in_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  std::string String(size_t max_len = 1 << 20) {
    uint64_t n = Varint();
    if (!ok_ || n > max_len || n > remaining()) {
      ok_ = false;
      return {};
    }
    auto s = Take(n);
    return std::string(reinterpret_cast<const char*>(s.data()), s.size());
  }

 private:
  void Raw(void* p, size_t n) {
    if (!ok_ || n > remaining()) {
      ok_ = false;
      std::memset(p, 0, n);
      return;
    }
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
  }
  std::span<const std::byte> in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace deltaswarm
