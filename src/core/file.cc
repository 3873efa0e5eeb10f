#include "core/file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace deltaswarm {

namespace fs = std::filesystem;

Status ErrnoStatus(const std::string& path, int err) {
  std::string msg = path + ": " + std::strerror(err);
  if (err == ENOENT) return NotFound(msg);
  if (err == ENOSPC || err == EDQUOT) return NoSpace(msg);
  return IoError(msg);
}

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}
File::File(File&& other) noexcept : fd_(other.fd_), path_(std::move(other.path_)) { other.fd_ = -1; }
File& File::operator=(File&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
  }
  return *this;
}

Result<File> File::OpenRead(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(path, errno);
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(path + ": is a directory, expected a file");
  }
  return File(fd, path);
}

Result<File> File::CreateNew(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST) return AlreadyExists(path + ": already exists");
    return ErrnoStatus(path, errno);
  }
  return File(fd, path);
}

Result<uint64_t> File::Size() const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return ErrnoStatus(path_, errno);
  return static_cast<uint64_t>(st.st_size);
}

Status File::ReadAt(uint64_t offset, std::span<std::byte> out) const {
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(path_, errno);
    }
    if (n == 0)
      return Corruption(path_ + ": truncated (wanted " + std::to_string(out.size()) + " bytes at offset " +
                        std::to_string(offset) + ")");
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status File::WriteAt(uint64_t offset, std::span<const std::byte> data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(path_, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status File::Truncate(uint64_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return ErrnoStatus(path_, errno);
  return Status::Ok();
}

Status File::Allocate(uint64_t size) {
  if (size == 0) return Status::Ok();
  int rc = ::posix_fallocate(fd_, 0, static_cast<off_t>(size));
  // Filesystems without fallocate still get a sized (sparse) file.
  if (rc == EOPNOTSUPP || rc == EINVAL) return Truncate(size);
  if (rc != 0) return ErrnoStatus(path_, rc);
  return Status::Ok();
}

Status File::Sync() {
  if (::fsync(fd_) != 0) return ErrnoStatus(path_, errno);
  return Status::Ok();
}

Status File::Close() {
  if (fd_ < 0) return Status::Ok();
  int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) return ErrnoStatus(path_, errno);
  return Status::Ok();
}

void File::DropCache(uint64_t offset, uint64_t len) const {
  // Advisory only: failure changes nothing but memory use.
  (void)::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(len), POSIX_FADV_DONTNEED);
}

Result<std::vector<std::byte>> ReadWholeFile(const std::string& path, uint64_t max_size) {
  DS_ASSIGN_OR_RETURN(File f, File::OpenRead(path));
  DS_ASSIGN_OR_RETURN(uint64_t size, f.Size());
  if (size > max_size)
    return Corruption(path + ": " + std::to_string(size) + " bytes, more than the limit of " +
                      std::to_string(max_size));
  std::vector<std::byte> data(size);
  DS_RETURN_IF_ERROR(f.ReadAt(0, data));
  return data;
}

Status SyncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(dir, err);
  return Status::Ok();
}

std::string ParentDirectory(const std::string& path) {
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  fs::path p = fs::path(trimmed).parent_path();
  return p.empty() ? "." : p.string();
}

Status CreateFileDurably(const std::string& path, std::string_view data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) return AlreadyExists(path + ": already exists (use --force to replace it)");
    return ErrnoStatus(path, errno);
  }
  size_t done = 0;
  int err = 0;
  while (done < data.size() && err == 0) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno != EINTR) err = errno;
    if (n > 0) done += static_cast<size_t>(n);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(path.c_str());
    return ErrnoStatus(path, err);
  }
  return Status::Ok();
}

Status WriteFileDurably(const std::string& path, std::span<const std::byte> data) {
  std::string tmp = TempSibling(path);
  {
    DS_ASSIGN_OR_RETURN(File f, File::CreateNew(tmp));
    Status s = f.WriteAt(0, data);
    if (s.ok()) s = f.Sync();
    if (s.ok()) s = f.Close();
    if (!s.ok()) {
      ::unlink(tmp.c_str());
      return s;
    }
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(path, err);
  }
  return SyncDirectory(ParentDirectory(path));
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Status RemoveAll(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return IoError(path + ": cannot remove: " + ec.message());
  return Status::Ok();
}

std::string TempSibling(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  std::string base = path;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  for (;;) {
    std::string candidate = base + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    if (!PathExists(candidate)) return candidate;
  }
}

Status CreateParentDirectories(const std::string& path) {
  std::error_code ec;
  std::string parent = ParentDirectory(path);
  fs::create_directories(parent, ec);
  if (ec) return IoError(parent + ": cannot create directory: " + ec.message());
  return Status::Ok();
}

Status InstallOutput(const std::string& tmp, const std::string& out, bool replace) {
  // Where the kernel can, swap or refuse in one step: no moment without OUT,
  // and no race between "does it exist" and the rename.
  unsigned flags = !replace ? RENAME_NOREPLACE : (IsDirectory(out) ? RENAME_EXCHANGE : 0);
  if (flags != 0) {
    if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, out.c_str(), flags) == 0) {
      DS_RETURN_IF_ERROR(SyncDirectory(ParentDirectory(out)));
      return flags == RENAME_EXCHANGE ? RemoveAll(tmp) : Status::Ok();  // tmp now holds the old tree
    }
    if (errno == EEXIST) return AlreadyExists(out + ": already exists (use --force to replace it)");
    if (errno != EINVAL && errno != ENOSYS) return ErrnoStatus(out, errno);
    // A filesystem without renameat2 flags: move the old one aside first.
  }
  std::string aside;
  if (PathExists(out)) {
    if (!replace) return AlreadyExists(out + ": already exists (use --force to replace it)");
    if (IsDirectory(out)) {
      aside = TempSibling(out);
      if (::rename(out.c_str(), aside.c_str()) != 0) return ErrnoStatus(out, errno);
    }
  }
  if (::rename(tmp.c_str(), out.c_str()) != 0) {
    int err = errno;
    if (!aside.empty()) (void)::rename(aside.c_str(), out.c_str());  // put the old one back
    return ErrnoStatus(out, err);
  }
  DS_RETURN_IF_ERROR(SyncDirectory(ParentDirectory(out)));
  if (!aside.empty()) return RemoveAll(aside);
  return Status::Ok();
}

namespace {
// In-kernel copy where possible (reflinks on filesystems that have them).
Status CopyFileData(const std::string& src, const std::string& dst) {
  DS_ASSIGN_OR_RETURN(File in, File::OpenRead(src));
  DS_ASSIGN_OR_RETURN(uint64_t size, in.Size());
  DS_ASSIGN_OR_RETURN(File out, File::CreateNew(dst));
  Status status;
  uint64_t done = 0;
  while (status.ok() && done < size) {
    ssize_t n = ::copy_file_range(in.fd(), nullptr, out.fd(), nullptr, size - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) status = n == 0 ? Corruption(src + ": shrank while being copied") : ErrnoStatus(dst, errno);
    else done += static_cast<uint64_t>(n);
  }
  if (status.ok()) status = out.Sync();
  return status;
}
}  // namespace

Status CopyTreeDurably(const std::string& src, const std::string& dst, bool hard_link) {
  auto copy_file = [hard_link](const std::string& from, const std::string& to) {
    if (hard_link && ::link(from.c_str(), to.c_str()) == 0) return Status::Ok();
    return CopyFileData(from, to);
  };
  DS_RETURN_IF_ERROR(CreateParentDirectories(dst));
  std::string tmp = TempSibling(dst);
  TempOutputGuard guard(tmp);
  if (IsDirectory(src)) {
    std::error_code ec;
    fs::create_directories(tmp, ec);
    for (auto it = fs::recursive_directory_iterator(src, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      fs::path to = fs::path(tmp) / fs::relative(it->path(), src);
      if (it->is_directory()) {
        fs::create_directories(to, ec);
      } else {
        DS_RETURN_IF_ERROR(copy_file(it->path().string(), to.string()));
      }
    }
    if (ec) return IoError(src + ": cannot copy: " + ec.message());
    DS_RETURN_IF_ERROR(SyncDirectory(tmp));
  } else {
    DS_RETURN_IF_ERROR(copy_file(src, tmp));
  }
  if (::rename(tmp.c_str(), dst.c_str()) != 0) return ErrnoStatus(dst, errno);
  guard.Release();
  return SyncDirectory(ParentDirectory(dst));
}

Result<uint64_t> FreeSpace(const std::string& path) {
  fs::path p = fs::absolute(path);
  while (!p.empty() && !PathExists(p.string())) p = p.parent_path();
  struct statvfs st;
  if (::statvfs(p.string().c_str(), &st) != 0) return ErrnoStatus(p.string(), errno);
  return static_cast<uint64_t>(st.f_bavail) * st.f_frsize;
}

Result<int> LockExclusively(const std::string& lock_path, const std::string& owner) {
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(lock_path, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return IoError(owner + ": in use by another deltaswarm process (" + lock_path + " is locked)");
  }
  return fd;
}

}  // namespace deltaswarm
