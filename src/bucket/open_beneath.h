// Opens a bucket object under a served root without following symbolic
// links: a link in the mirror (to /etc/passwd, or to another object) must not
// turn the server into a reader of whatever it points at.
#pragma once

#include <string>

#include "deltaswarm/status.h"

namespace deltaswarm {

// How the path is resolved. kAuto uses openat2(RESOLVE_BENEATH |
// RESOLVE_NO_SYMLINKS) where the kernel has it (Linux 5.6+) and walks the
// components with openat(O_NOFOLLOW) where it does not; the other two force
// one way (tests run both).
enum class BeneathResolve { kAuto, kOpenat2, kPerComponent };

// A read-only descriptor (O_CLOEXEC; the caller closes it) of the regular
// file root/key. key is a checked bucket key (CheckKey). kNotFound when any
// component is missing or a symbolic link, a component leaves root, or the
// object is not a regular file (directory, FIFO, device, socket); kIoError
// for other failures (out of descriptors, permissions), so a server can tell
// a client to retry rather than that the object is gone. root itself is
// opened as given (an operator may place the mirror behind a link).
Result<int> OpenRegularFileBeneath(const std::string& root, const std::string& key,
                                   BeneathResolve how = BeneathResolve::kAuto);

}  // namespace deltaswarm
