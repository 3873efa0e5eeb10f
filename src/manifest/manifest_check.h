// The rules a manifest must satisfy beyond its JSON shape (safe names, version
// links, digest spelling). ParseManifest applies them to what it reads and
// SignManifest to what it signs, so nothing is signed that would not parse.
#pragma once

#include <string>
#include <string_view>

#include "deltaswarm/manifest.h"
#include "deltaswarm/status.h"

namespace deltaswarm {

// kCorruption "<name>: <field>: <problem>" for the first rule broken.
Status CheckManifest(const Manifest& m, const std::string& name);

// [A-Za-z0-9._-]+ and neither "." nor "..": a chunk, artifact directory or model name.
bool IsSafeName(std::string_view s);
// Relative, '/'-separated, every component non-empty and not "." or "..", no
// control character (0x00-0x1f, 0x7f).
bool IsSafeRelativePath(std::string_view s);
bool IsValidUtf8(std::string_view s);
// Exactly `digits` characters of [0-9a-f]: one spelling per value, so a
// stored manifest has no case variants that verify.
bool IsLowerHex(std::string_view s, size_t digits);

}  // namespace deltaswarm
