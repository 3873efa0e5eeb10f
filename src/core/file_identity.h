// Which file a path names and whether it changed: device, inode, size and
// modification time, as stat(2) reports them. A write through any name of
// the file moves its mtime; a replacement (rename over it, a copy) changes
// its inode. What records a check of a file's bytes (a version stamp) keeps
// this, so that an unchanged identity stands for an unchanged file.
#pragma once

#include <cstdint>
#include <string>

#include "deltaswarm/status.h"

namespace deltaswarm {

struct FileIdentity {
  uint64_t dev = 0;
  uint64_t ino = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;  // nanoseconds since the epoch
  bool operator==(const FileIdentity&) const = default;
};

// The identity of the regular file at path (following symbolic links, as
// opening it would); kNotFound if there is none, kIoError if not a regular file.
Result<FileIdentity> IdentifyFile(const std::string& path);
// The same for an open descriptor.
Result<FileIdentity> IdentifyDescriptor(int fd, const std::string& path);

}  // namespace deltaswarm
