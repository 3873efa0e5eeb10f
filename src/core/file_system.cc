#include "core/file_system.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "core/file.h"

namespace deltaswarm {

namespace fs = std::filesystem;

namespace {

// Trivially destructible on purpose: WriteCount runs at exit, after static
// destructors may have run.
struct CrashMode {
  bool counting = false;
  uint64_t crash_at = 0;             // 0: never
  const char* count_file = nullptr;  // the environment's own string, alive until exit
};

std::atomic<uint64_t> g_operations{0};

void WriteCount();

CrashMode ReadCrashMode() {
  CrashMode m;
  if (const char* at = std::getenv("DELTASWARM_CRASH_AT"); at != nullptr && *at != '\0')
    m.crash_at = std::strtoull(at, nullptr, 10);
  if (const char* file = std::getenv("DELTASWARM_CRASH_COUNT"); file != nullptr && *file != '\0') {
    m.count_file = file;
    std::atexit(WriteCount);
  }
  m.counting = m.crash_at != 0 || m.count_file != nullptr;
  return m;
}

// Read at load time, so that a run without a single operation reports 0.
const CrashMode g_mode = ReadCrashMode();

// Raw calls: reporting the count must not be an operation itself.
void WriteCount() {
  std::string text = std::to_string(g_operations.load()) + "\n";
  int fd = ::open(g_mode.count_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)!::write(fd, text.data(), text.size());
  ::close(fd);
}

}  // namespace

void CrashPoint(const char* op, std::string_view path, std::string_view other) {
  if (!g_mode.counting) return;
  const uint64_t k = g_operations.fetch_add(1) + 1;
  if (k != g_mode.crash_at) return;
  std::string msg = "deltaswarm: crash point " + std::to_string(k) + ": " + op + " " + std::string(path);
  if (!other.empty()) msg += " -> " + std::string(other);
  msg += "\n";
  (void)!::write(STDERR_FILENO, msg.data(), msg.size());
  ::kill(::getpid(), SIGKILL);
  ::_exit(128 + SIGKILL);  // not reached
}

Status Rename(const std::string& from, const std::string& to, RenameMode mode) {
  CrashPoint(mode == RenameMode::kExchange ? "exchange" : "rename", from, to);
  const unsigned flags = mode == RenameMode::kNoReplace  ? RENAME_NOREPLACE
                         : mode == RenameMode::kExchange ? RENAME_EXCHANGE
                                                         : 0;
  const int rc = flags != 0 ? ::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), flags)
                            : ::rename(from.c_str(), to.c_str());
  if (rc == 0) return Status::Ok();
  if (errno == EEXIST && mode == RenameMode::kNoReplace) return AlreadyExists(to + ": already exists");
  if (flags != 0 && (errno == EINVAL || errno == ENOSYS))
    return Unsupported(to + ": the filesystem cannot rename without replacing or exchange two names");
  return ErrnoStatus(to, errno);
}

Status Link(const std::string& existing, const std::string& link) {
  CrashPoint("link", existing, link);
  if (::link(existing.c_str(), link.c_str()) == 0) return Status::Ok();
  if (errno == EEXIST) return AlreadyExists(link + ": already exists");
  return ErrnoStatus(link, errno);
}

Status Symlink(const std::string& target, const std::string& link) {
  CrashPoint("symlink", link, target);
  if (::symlink(target.c_str(), link.c_str()) == 0) return Status::Ok();
  if (errno == EEXIST) return AlreadyExists(link + ": already exists");
  return ErrnoStatus(link, errno);
}

Status Unlink(const std::string& path) {
  CrashPoint("unlink", path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus(path, errno);
  return Status::Ok();
}

Status MakeDirectory(const std::string& path, mode_t mode) {
  CrashPoint("mkdir", path);
  if (::mkdir(path.c_str(), mode) == 0) return Status::Ok();
  if (errno == EEXIST) return AlreadyExists(path + ": already exists");
  return ErrnoStatus(path, errno);
}

Status MakeDirectories(const std::string& path) {
  if (IsDirectory(path)) return Status::Ok();  // nothing to do is no crash point
  CrashPoint("mkdirs", path);
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return IoError(path + ": cannot create directory: " + ec.message());
  return Status::Ok();
}

Status SyncDirectory(const std::string& dir) {
  CrashPoint("syncdir", dir);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(dir, err);
  return Status::Ok();
}

Status RemoveAll(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoStatus(path, errno);
  }
  if (!S_ISDIR(st.st_mode)) return Unlink(path);
  // Sorted, so that the k-th crash point is the same name on every run.
  std::vector<std::string> names;
  std::error_code ec;
  for (auto it = fs::directory_iterator(path, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    names.push_back(it->path().string());
  if (ec) return IoError(path + ": cannot remove: " + ec.message());
  std::sort(names.begin(), names.end());
  for (const auto& name : names) DS_RETURN_IF_ERROR(RemoveAll(name));
  CrashPoint("rmdir", path);
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus(path, errno);
  return Status::Ok();
}

}  // namespace deltaswarm
