#include "format/printable.h"

namespace deltaswarm {

bool IsControlCharacter(char c) {
  auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

bool HasControlCharacter(std::string_view s) {
  for (char c : s)
    if (IsControlCharacter(c)) return true;
  return false;
}

std::string Printable(std::string_view s, char quote, size_t max_bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size() && i < max_bytes; ++i) {
    const char c = s[i];
    if (c == '\\' || (quote != 0 && c == quote)) {
      out += '\\';
      out += c;
    } else if (IsControlCharacter(c)) {
      const auto u = static_cast<unsigned char>(c);
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  if (s.size() > max_bytes) out += "...";
  return out;
}

}  // namespace deltaswarm
