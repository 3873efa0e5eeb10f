#include "core/file_identity.h"

#include <sys/stat.h>

#include <cerrno>

#include "core/file.h"

namespace deltaswarm {

namespace {
Result<FileIdentity> FromStat(const struct stat& st, const std::string& path) {
  if (!S_ISREG(st.st_mode)) return IoError(path + ": not a regular file");
  FileIdentity id;
  id.dev = static_cast<uint64_t>(st.st_dev);
  id.ino = static_cast<uint64_t>(st.st_ino);
  id.size = static_cast<uint64_t>(st.st_size);
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return id;
}
}  // namespace

Result<FileIdentity> IdentifyFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(path, errno);
  return FromStat(st, path);
}

Result<FileIdentity> IdentifyDescriptor(int fd, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus(path, errno);
  return FromStat(st, path);
}

}  // namespace deltaswarm
