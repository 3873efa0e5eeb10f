// Names read from hostile input (manifests, indexes, torrents, headers), made
// safe to refuse and to print: a control character in a name could rewrite a
// terminal or split a log line, so names holding one are refused, and a
// message that quotes one escapes it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace deltaswarm {

// A C0 control character (0x00-0x1f) or DEL (0x7f).
bool IsControlCharacter(char c);
bool HasControlCharacter(std::string_view s);

// `s` for a one-line message: control characters and DEL as \xNN, the
// backslash and `quote` (when not 0) escaped with a backslash, cut after
// `max_bytes` bytes with "...".
std::string Printable(std::string_view s, char quote = 0, size_t max_bytes = 200);

}  // namespace deltaswarm
