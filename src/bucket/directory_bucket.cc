#include "bucket/directory_bucket.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <functional>
#include <vector>

#include "bucket/bucket_key.h"
#include "bucket/open_beneath.h"
#include "core/file.h"

namespace deltaswarm {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kCopyStep = 8 << 20;  // progress granularity and fallback buffer size (uploads)
// A read checks its stop and deadline between steps of this size: a step
// takes milliseconds on a local disk.
constexpr uint64_t kReadStep = 1 << 20;

// Closes a descriptor on scope exit.
class Descriptor {
 public:
  explicit Descriptor(int fd) : fd_(fd) {}
  ~Descriptor() { ::close(fd_); }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Names a writer in progress leaves behind; List must not show them.
bool IsTemporaryName(const std::string& name) { return name.find(".tmp-") != std::string::npos; }

// Copies src's bytes into dst from offset 0 (in the kernel where it can),
// in steps, so that progress moves.
Status CopyContents(const File& src, File& dst, uint64_t size, const char* phase, const ProgressFn& progress) {
  for (uint64_t done = 0; done < size;) {
    uint64_t step = std::min(kCopyStep, size - done);
    DS_RETURN_IF_ERROR(dst.CopyFrom(src, done, step));
    done += step;
    if (progress) progress(phase, done, size);
  }
  return Status::Ok();
}

// The size of the open object, refused before a byte is read when it is
// larger than max_bytes (a sparse 1 GiB file listed as 3 MB costs nothing).
Result<uint64_t> CheckedSize(int fd, const std::string& name, uint64_t max_bytes) {
  struct stat st{};
  if (::fstat(fd, &st) != 0) return ErrnoStatus(name, errno);
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    return Corruption(name + ": object is " + std::to_string(size) + " bytes, more than the " +
                      std::to_string(max_bytes) + " expected");
  }
  return size;
}

// Reads [0, size) of fd in kReadStep steps, handing each to sink; between
// steps a stop ends it (kCancelled) and so does the deadline (kIoError).
Status ReadInSteps(int fd, const std::string& name, uint64_t size, const TransferBudget& budget,
                   const StopSignal* stop, const std::function<Status(uint64_t, std::span<const std::byte>)>& sink) {
  const SteadyClock::time_point deadline = budget.DeadlineFor(size);
  std::vector<std::byte> buf(std::min(size, kReadStep));
  for (uint64_t done = 0; done < size;) {
    if (stop && stop->requested()) return Status(Code::kCancelled, name + ": stopped");
    if (SteadyClock::now() >= deadline) return IoError(name + ": " + DescribeDeadline(budget, size));
    const std::span<std::byte> step(buf.data(), std::min(kReadStep, size - done));
    ssize_t n = ::pread(fd, step.data(), step.size(), static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(name, errno);
    if (n == 0) return Corruption(name + ": truncated while reading");  // shrunk since fstat
    DS_RETURN_IF_ERROR(sink(done, step.first(static_cast<size_t>(n))));
    done += static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

// Writes to a temporary sibling of `dest`, fsyncs, moves it into place and
// fsyncs the parent. Never replacing, the move is link(2), which fails if
// dest exists even when another process created it a moment ago.
template <typename Fill>
Status WriteAtomically(const std::string& dest, bool replace, Fill fill) {
  DS_RETURN_IF_ERROR(CreateParentDirectories(dest));
  if (!replace && PathExists(dest)) return AlreadyExists(dest + ": exists, and is never replaced");
  std::string tmp = TempSibling(dest);
  TempOutputGuard guard(tmp);
  {
    DS_ASSIGN_OR_RETURN(File f, File::CreateNew(tmp));
    DS_RETURN_IF_ERROR(fill(f));
    DS_RETURN_IF_ERROR(f.Sync());
    DS_RETURN_IF_ERROR(f.Close());
  }
  if (replace) {
    DS_RETURN_IF_ERROR(Rename(tmp, dest));
    guard.Release();
  } else {
    Status linked = Link(tmp, dest);
    if (linked.code() == Code::kAlreadyExists) return AlreadyExists(dest + ": exists, and is never replaced");
    DS_RETURN_IF_ERROR(linked);
  }
  return SyncDirectory(ParentDirectory(dest));  // the guard removes tmp after a link
}

}  // namespace

DirectoryBucket::DirectoryBucket(std::string root, TransferBudget budget)
    : root_(std::move(root)), budget_(budget) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

std::string DirectoryBucket::Describe(const std::string& key) const { return PathOf(key); }

Result<std::vector<std::byte>> DirectoryBucket::Get(const std::string& key, uint64_t max_bytes) {
  DS_RETURN_IF_ERROR(CheckKey(key));
  DS_ASSIGN_OR_RETURN(int raw_fd, OpenRegularFileBeneath(root_, key));
  Descriptor fd(raw_fd);
  DS_ASSIGN_OR_RETURN(uint64_t size, CheckedSize(fd.get(), PathOf(key), max_bytes));
  std::vector<std::byte> data(size);
  DS_RETURN_IF_ERROR(ReadInSteps(fd.get(), PathOf(key), size, budget_, nullptr,
                                 [&](uint64_t offset, std::span<const std::byte> step) {
                                   std::copy(step.begin(), step.end(), data.begin() + offset);
                                   return Status::Ok();
                                 }));
  return data;
}

Result<uint64_t> DirectoryBucket::GetToFile(const std::string& key, const std::string& path, uint64_t max_bytes,
                                            const ProgressFn& progress, const StopSignal* stop) {
  DS_RETURN_IF_ERROR(CheckKey(key));
  DS_ASSIGN_OR_RETURN(int raw_fd, OpenRegularFileBeneath(root_, key));
  Descriptor src(raw_fd);
  DS_ASSIGN_OR_RETURN(uint64_t size, CheckedSize(src.get(), PathOf(key), max_bytes));
  DS_ASSIGN_OR_RETURN(File dst, File::CreateNew(path));
  TempOutputGuard guard(path);  // created by us: removed on any failure below (a stop, the deadline)
  DS_RETURN_IF_ERROR(ReadInSteps(src.get(), PathOf(key), size, budget_, stop,
                                 [&](uint64_t offset, std::span<const std::byte> step) -> Status {
                                   DS_RETURN_IF_ERROR(dst.WriteAt(offset, step));
                                   if (progress) progress("download", offset + step.size(), size);
                                   return Status::Ok();
                                 }));
  DS_RETURN_IF_ERROR(dst.Sync());
  DS_RETURN_IF_ERROR(dst.Close());
  guard.Release();
  return size;
}

Result<uint64_t> DirectoryBucket::Size(const std::string& key) {
  DS_RETURN_IF_ERROR(CheckKey(key));
  DS_ASSIGN_OR_RETURN(int raw_fd, OpenRegularFileBeneath(root_, key));  // as Get sees it: no links
  Descriptor fd(raw_fd);
  return CheckedSize(fd.get(), PathOf(key), UINT64_MAX);
}

Status DirectoryBucket::Put(const std::string& key, std::span<const std::byte> data) {
  return Write(key, data, /*replace=*/true);
}
Status DirectoryBucket::Create(const std::string& key, std::span<const std::byte> data) {
  return Write(key, data, /*replace=*/false);
}
Status DirectoryBucket::PutFile(const std::string& key, const std::string& path, const ProgressFn& progress) {
  return WriteFile(key, path, progress, /*replace=*/true);
}
Status DirectoryBucket::CreateFile(const std::string& key, const std::string& path, const ProgressFn& progress) {
  return WriteFile(key, path, progress, /*replace=*/false);
}

Status DirectoryBucket::Write(const std::string& key, std::span<const std::byte> data, bool replace) {
  DS_RETURN_IF_ERROR(CheckKey(key));
  return WriteAtomically(PathOf(key), replace,
                         [&](File& f) { return f.WriteAt(0, data); });
}

Status DirectoryBucket::WriteFile(const std::string& key, const std::string& path, const ProgressFn& progress,
                                  bool replace) {
  DS_RETURN_IF_ERROR(CheckKey(key));
  DS_ASSIGN_OR_RETURN(File src, File::OpenRead(path));
  DS_ASSIGN_OR_RETURN(uint64_t size, src.Size());
  return WriteAtomically(PathOf(key), replace,
                         [&](File& f) { return CopyContents(src, f, size, "upload", progress); });
}

Status DirectoryBucket::Delete(const std::string& key) {
  DS_RETURN_IF_ERROR(CheckKey(key, /*allow_trailing_slash=*/true));
  if (key.empty()) return InvalidArgument(root_ + ": refusing to delete the whole bucket");
  std::string path = PathOf(key);
  if (IsPrefix(key)) return RemoveAll(path);
  return Unlink(path);
}

Result<std::vector<std::string>> DirectoryBucket::List(const std::string& prefix) {
  if (!IsPrefix(prefix)) return InvalidArgument("bucket prefix \"" + prefix + "\": must end in '/'");
  DS_RETURN_IF_ERROR(CheckKey(prefix, /*allow_trailing_slash=*/true));
  std::string dir = prefix.empty() ? root_ : PathOf(prefix);
  std::vector<std::string> names;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory) return names;
  if (ec) return IoError(dir + ": cannot list: " + ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (IsTemporaryName(name)) continue;
    std::error_code type_ec;
    names.push_back(it->is_directory(type_ec) ? name + "/" : name);
  }
  if (ec) return IoError(dir + ": cannot list: " + ec.message());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace deltaswarm
