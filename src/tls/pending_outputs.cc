#include "tls/pending_outputs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "core/file.h"

namespace deltaswarm::tls {

namespace {

Status WriteNewFile(const std::string& path, const std::string& data, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus(path, errno);
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

}  // namespace

PendingOutputs::~PendingOutputs() {
  for (const Entry& e : entries_)
    if (!e.tmp.empty()) ::unlink(e.tmp.c_str());
}

Status PendingOutputs::Refuse(const std::string& path) const {
  if (!replace_ && PathExists(path)) return AlreadyExists(path + ": already exists (use --force to replace it)");
  return Status::Ok();
}

Status PendingOutputs::Add(const std::string& path, const std::string& data, mode_t mode) {
  DS_RETURN_IF_ERROR(Refuse(path));
  std::string tmp = TempSibling(path);
  DS_RETURN_IF_ERROR(WriteNewFile(tmp, data, mode));
  entries_.push_back({path, tmp});
  return Status::Ok();
}

Status PendingOutputs::Commit() {
  for (size_t i = 0; i < entries_.size(); ++i) {
    Status s = InstallOutput(entries_[i].tmp, entries_[i].path, replace_);
    if (!s.ok()) {
      if (!replace_)
        for (size_t j = 0; j < i; ++j) ::unlink(entries_[j].path.c_str());
      return s;
    }
    entries_[i].tmp.clear();
  }
  return Status::Ok();
}

}  // namespace deltaswarm::tls
