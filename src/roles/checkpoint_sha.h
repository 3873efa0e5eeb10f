// SHA-256 of a checkpoint's files: what a manifest records of the target, and
// how a node checks that its local copy is still what it was.
#pragma once

#include <string>
#include <vector>

#include "core/file_identity.h"
#include "deltaswarm/manifest.h"
#include "deltaswarm/progress.h"

namespace deltaswarm {

// SHA-256 and size of one file, streamed in bounded blocks. *identity (may
// be null) gets the file's identity if it kept it from the first byte read to
// the last (so the hash is of those very bytes), else a zero identity.
Result<Sha256> Sha256OfFile(const std::string& path, uint64_t* size, FileIdentity* identity = nullptr);

// Every file of the checkpoint at path (a file, or a directory walked
// recursively), sorted by relative path; a single file is named by its
// basename. *identities (may be null) gets each one's, as Sha256OfFile's.
Result<std::vector<ManifestFile>> HashCheckpointFiles(const std::string& path, unsigned threads,
                                                      std::vector<FileIdentity>* identities = nullptr);

// Ok if path holds exactly `files` (sizes and SHA-256); kMismatch naming the
// first file that differs.
Status CheckCheckpointFiles(const std::string& path, bool is_directory, const std::vector<ManifestFile>& files,
                            unsigned threads);

}  // namespace deltaswarm
