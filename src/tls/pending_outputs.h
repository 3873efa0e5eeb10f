// Files a tls command writes together (a key and its certificate; a CA's
// three files). Not thread-safe.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "deltaswarm/status.h"

namespace deltaswarm::tls {

// Each file goes to a temporary sibling first, created with its final mode
// (a private key is never readable by others, not even for an instant) and
// fsynced; Commit renames them into place in the order added. Without
// replace, an existing output fails with kAlreadyExists and nothing is left
// behind. Uncommitted temporaries are removed on destruction.
class PendingOutputs {
 public:
  explicit PendingOutputs(bool replace) : replace_(replace) {}
  ~PendingOutputs();
  PendingOutputs(const PendingOutputs&) = delete;
  PendingOutputs& operator=(const PendingOutputs&) = delete;

  // Fails at once if path exists (without replace), before any work is done.
  Status Refuse(const std::string& path) const;
  Status Add(const std::string& path, const std::string& data, mode_t mode);
  // With replace, a failure part-way leaves the files renamed so far new
  // and the rest old; without, the ones renamed so far are removed again.
  Status Commit();

 private:
  struct Entry {
    std::string path;
    std::string tmp;
  };
  bool replace_;
  std::vector<Entry> entries_;
};

}  // namespace deltaswarm::tls
