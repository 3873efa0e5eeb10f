#include "bucket/open_beneath.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

namespace deltaswarm {

namespace {

// O_NONBLOCK: opening a FIFO someone placed in the mirror must not block the
// server's only thread (it is refused by fstat right after). O_NOCTTY: a
// terminal never becomes ours.
constexpr int kFileFlags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW;

// Closes fd on scope exit unless released.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// The errno of a failed open, as the server must answer it: what is not
// there, a link, or a path leaving root is "not found"; the rest may pass.
Status OpenError(const std::string& root, const std::string& key, int err) {
  const std::string what = root + "/" + key + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ELOOP:   // a symbolic link under O_NOFOLLOW or RESOLVE_NO_SYMLINKS
    case EXDEV:   // RESOLVE_BENEATH: the path would leave root
    case EISDIR:
    case ENXIO:   // a socket or a FIFO without a writer
      return NotFound(what);
    default:
      return IoError(what);
  }
}

// Set once openat2 answered ENOSYS (an old kernel) or EPERM (a seccomp
// filter that does not know it), so later opens go straight to the walk.
std::atomic<bool> g_no_openat2{false};

// Result: the descriptor, or -1 with errno; -2 when openat2 is unavailable.
int OpenWithOpenat2(int root_fd, const std::string& key) {
  open_how how{};
  how.flags = static_cast<uint64_t>(kFileFlags);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  long fd = -1;
  // EAGAIN: a rename raced the lookup; a few tries, then it is an I/O error.
  for (int attempt = 0; attempt < 8; ++attempt) {
    fd = ::syscall(SYS_openat2, root_fd, key.c_str(), &how, sizeof how);
    if (fd >= 0 || (errno != EINTR && errno != EAGAIN)) break;
  }
  if (fd < 0 && (errno == ENOSYS || errno == EPERM)) return -2;
  return static_cast<int>(fd);
}

// Walks key one component at a time, each opened relative to the last with
// O_NOFOLLOW, so no link is followed anywhere on the way. CheckKey already
// refused "." and ".." and empty components. Result as OpenWithOpenat2.
int OpenPerComponent(int root_fd, const std::string& key) {
  FdGuard dir(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
  if (dir.get() < 0) return -1;
  size_t start = 0;
  while (true) {
    const size_t slash = key.find('/', start);
    const std::string name = key.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (name.empty() || name == "." || name == "..") {
      errno = ENOENT;
      return -1;
    }
    if (slash == std::string::npos) {
      int fd;
      do {
        fd = ::openat(dir.get(), name.c_str(), kFileFlags);
      } while (fd < 0 && errno == EINTR);
      return fd;
    }
    int next = ::openat(dir.get(), name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) return -1;
    dir.reset(next);
    start = slash + 1;
  }
}

}  // namespace

Result<int> OpenRegularFileBeneath(const std::string& root, const std::string& key, BeneathResolve how) {
  FdGuard root_fd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (root_fd.get() < 0) return OpenError(root, "", errno);
  int fd = -2;
  if (how == BeneathResolve::kOpenat2 || (how == BeneathResolve::kAuto && !g_no_openat2.load())) {
    fd = OpenWithOpenat2(root_fd.get(), key);
    if (fd == -2 && how == BeneathResolve::kOpenat2) return Unsupported("openat2: not available on this kernel");
    if (fd == -2) g_no_openat2.store(true);
  }
  if (fd == -2) fd = OpenPerComponent(root_fd.get(), key);
  if (fd < 0) return OpenError(root, key, errno);
  FdGuard file(fd);
  struct stat st{};
  if (::fstat(file.get(), &st) != 0) return OpenError(root, key, errno);
  if (!S_ISREG(st.st_mode)) return NotFound(root + "/" + key + ": not a regular file");
  // Back to blocking reads: a regular file never blocks on them anyway, but
  // the descriptor goes to code that does not expect EAGAIN.
  const int flags = ::fcntl(file.get(), F_GETFL);
  if (flags >= 0) ::fcntl(file.get(), F_SETFL, flags & ~O_NONBLOCK);
  return file.release();
}

}  // namespace deltaswarm
