#include "bucket/bucket_key.h"

#include <string_view>

namespace deltaswarm {

Status CheckKey(const std::string& key, bool allow_trailing_slash) {
  auto bad = [&](const char* why) { return InvalidArgument("bucket key \"" + key + "\": " + why); };
  if (key.empty()) return allow_trailing_slash ? Status::Ok() : bad("empty");
  if (key.front() == '/') return bad("must be relative (leading '/')");
  std::string_view rest = key;
  if (rest.back() == '/') {
    if (!allow_trailing_slash) return bad("names a prefix (trailing '/'), not an object");
    rest.remove_suffix(1);
  }
  for (;;) {
    size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    if (part.empty()) return bad("empty component");
    if (part == "." || part == "..") return bad("'.' and '..' are not allowed");
    if (part.find('\0') != std::string_view::npos) return bad("NUL byte");
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return Status::Ok();
}

}  // namespace deltaswarm
