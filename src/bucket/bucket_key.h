// Bucket keys: '/'-separated relative names. Both backends check them the same
// way, so a key that escapes the root (or names nothing) fails before any I/O.
#pragma once

#include <string>

#include "deltaswarm/status.h"

namespace deltaswarm {

// Ok for "a", "a/b/c"; with allow_trailing_slash also "a/" and "" (the root),
// as List and Delete take prefixes. kInvalidArgument for an empty key, a
// leading '/', empty components ("a//b"), "." or "..".
Status CheckKey(const std::string& key, bool allow_trailing_slash = false);

// True when key names a prefix ("x/") rather than an object.
inline bool IsPrefix(const std::string& key) { return key.empty() || key.back() == '/'; }

}  // namespace deltaswarm
