#include "core/file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace deltaswarm {

namespace fs = std::filesystem;

namespace {
Status WriteAll(int fd, uint64_t offset, std::span<const std::byte> data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}
}  // namespace

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

Result<File> File::CreateNew(const std::string& path, mode_t mode) {
  CrashPoint("create", path);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
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
  CrashPoint("write", path_);
  return WriteAll(fd_, offset, data, path_);
}

Status File::CopyFrom(const File& src, uint64_t offset, uint64_t len) {
  CrashPoint("write", path_, src.path());
  uint64_t done = 0;
  bool in_kernel = true;
  std::vector<std::byte> buf;
  while (done < len) {
    if (in_kernel) {
      loff_t in_off = static_cast<loff_t>(offset + done), out_off = in_off;
      ssize_t n = ::copy_file_range(src.fd_, &in_off, fd_, &out_off, len - done, 0);
      if (n > 0) {
        done += static_cast<uint64_t>(n);
        continue;
      }
      if (n == 0) return Corruption(src.path() + ": truncated while copying");
      if (errno == EINTR) continue;
      // Filesystems that refuse it (EXDEV on old kernels, EINVAL, ENOSYS) get read/write.
      if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
        return ErrnoStatus(path_, errno);
      in_kernel = false;
    }
    buf.resize(std::min<uint64_t>(len - done, 8 << 20));
    DS_RETURN_IF_ERROR(src.ReadAt(offset + done, buf));
    DS_RETURN_IF_ERROR(WriteAll(fd_, offset + done, buf, path_));
    done += buf.size();
  }
  return Status::Ok();
}

Status File::Truncate(uint64_t size) {
  CrashPoint("truncate", path_);
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) return ErrnoStatus(path_, errno);
  return Status::Ok();
}

Status File::Allocate(uint64_t size) {
  if (size == 0) return Status::Ok();
  CrashPoint("allocate", path_);
  int rc = ::posix_fallocate(fd_, 0, static_cast<off_t>(size));
  // Filesystems without fallocate still get a sized (sparse) file (one
  // crash point: this is still the same operation).
  if (rc == EOPNOTSUPP || rc == EINVAL) rc = ::ftruncate(fd_, static_cast<off_t>(size)) == 0 ? 0 : errno;
  if (rc != 0) return ErrnoStatus(path_, rc);
  return Status::Ok();
}

Status File::Sync() {
  CrashPoint("fsync", path_);
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

std::string ParentDirectory(const std::string& path) {
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  fs::path p = fs::path(trimmed).parent_path();
  return p.empty() ? "." : p.string();
}

Status CreateFileDurably(const std::string& path, std::string_view data, mode_t mode) {
  Result<File> created = File::CreateNew(path, mode);
  if (!created.ok() && created.status().code() == Code::kAlreadyExists)
    return AlreadyExists(path + ": already exists (use --force to replace it)");
  DS_ASSIGN_OR_RETURN(File f, std::move(created));
  Status s = f.WriteAt(0, std::as_bytes(std::span(data.data(), data.size())));
  if (s.ok()) s = f.Sync();
  if (s.ok()) s = f.Close();
  if (!s.ok()) (void)Unlink(path);
  return s;
}

Status WriteFileDurably(const std::string& path, std::span<const std::byte> data) {
  std::string tmp = TempSibling(path);
  {
    DS_ASSIGN_OR_RETURN(File f, File::CreateNew(tmp));
    Status s = f.WriteAt(0, data);
    if (s.ok()) s = f.Sync();
    if (s.ok()) s = f.Close();
    if (!s.ok()) {
      (void)Unlink(tmp);
      return s;
    }
  }
  Status renamed = Rename(tmp, path);
  if (!renamed.ok()) {
    (void)Unlink(tmp);
    return renamed;
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

std::string TempSibling(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  std::string base = path;
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  for (;;) {
    std::string candidate = base + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    if (!PathExists(candidate)) return candidate;
  }
}

Status CreateParentDirectories(const std::string& path) { return MakeDirectories(ParentDirectory(path)); }

Status InstallOutput(const std::string& tmp, const std::string& out, bool replace) {
  // Where the kernel can, swap or refuse in one step: no moment without OUT,
  // and no race between "does it exist" and the rename.
  const bool exchange = replace && IsDirectory(out);
  if (!replace || exchange) {
    Status moved = Rename(tmp, out, exchange ? RenameMode::kExchange : RenameMode::kNoReplace);
    if (moved.ok()) {
      DS_RETURN_IF_ERROR(SyncDirectory(ParentDirectory(out)));
      return exchange ? RemoveAll(tmp) : Status::Ok();  // tmp now holds the old tree
    }
    if (moved.code() == Code::kAlreadyExists) return AlreadyExists(out + ": already exists (use --force to replace it)");
    if (moved.code() != Code::kUnsupported) return moved;
    // A filesystem without renameat2 flags: move the old one aside first.
  }
  std::string aside;
  if (PathExists(out)) {
    if (!replace) return AlreadyExists(out + ": already exists (use --force to replace it)");
    if (IsDirectory(out)) {
      aside = TempSibling(out);
      DS_RETURN_IF_ERROR(Rename(out, aside));
    }
  }
  Status moved = Rename(tmp, out);
  if (!moved.ok()) {
    if (!aside.empty()) (void)Rename(aside, out);  // put the old one back
    return moved;
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
  DS_RETURN_IF_ERROR(out.CopyFrom(in, 0, size));
  return out.Sync();
}
}  // namespace

Status CopyTreeDurably(const std::string& src, const std::string& dst, bool hard_link) {
  auto copy_file = [hard_link](const std::string& from, const std::string& to) {
    if (hard_link && Link(from, to).ok()) return Status::Ok();
    return CopyFileData(from, to);
  };
  DS_RETURN_IF_ERROR(CreateParentDirectories(dst));
  std::string tmp = TempSibling(dst);
  TempOutputGuard guard(tmp);
  if (IsDirectory(src)) {
    DS_RETURN_IF_ERROR(MakeDirectory(tmp));
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(src, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      fs::path to = fs::path(tmp) / fs::relative(it->path(), src);
      if (it->is_directory()) {
        DS_RETURN_IF_ERROR(MakeDirectories(to.string()));
      } else {
        DS_RETURN_IF_ERROR(copy_file(it->path().string(), to.string()));
      }
    }
    if (ec) return IoError(src + ": cannot copy: " + ec.message());
    DS_RETURN_IF_ERROR(SyncDirectory(tmp));
  } else {
    DS_RETURN_IF_ERROR(copy_file(src, tmp));
  }
  DS_RETURN_IF_ERROR(Rename(tmp, dst));
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
