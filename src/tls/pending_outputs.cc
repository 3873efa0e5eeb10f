#include "tls/pending_outputs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "core/file.h"

namespace deltaswarm::tls {

PendingOutputs::~PendingOutputs() {
  for (const Entry& e : entries_)
    if (!e.tmp.empty()) (void)Unlink(e.tmp);
}

Status PendingOutputs::Refuse(const std::string& path) const {
  if (!replace_ && PathExists(path)) return AlreadyExists(path + ": already exists (use --force to replace it)");
  return Status::Ok();
}

Status PendingOutputs::Add(const std::string& path, const std::string& data, mode_t mode) {
  DS_RETURN_IF_ERROR(Refuse(path));
  std::string tmp = TempSibling(path);
  DS_RETURN_IF_ERROR(CreateFileDurably(tmp, data, mode));
  entries_.push_back({path, tmp});
  return Status::Ok();
}

Status PendingOutputs::Commit() {
  for (size_t i = 0; i < entries_.size(); ++i) {
    Status s = InstallOutput(entries_[i].tmp, entries_[i].path, replace_);
    if (!s.ok()) {
      if (!replace_)
        for (size_t j = 0; j < i; ++j) (void)Unlink(entries_[j].path);
      return s;
    }
    entries_[i].tmp.clear();
  }
  return Status::Ok();
}

}  // namespace deltaswarm::tls
