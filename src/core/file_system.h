// The file-system seam: every operation by which deltaswarm changes what is
// on disk passes through here, so that a test can end the process at any one
// of them and check what a crash at that point leaves behind. These functions
// are the operations on names; File's CreateNew, WriteAt, CopyFrom, Allocate,
// Truncate and Sync (core/file.h) are the operations on contents, and each is
// one crash point too. Reads do not pass here. Nothing outside src/core calls
// rename(2), link(2), unlink(2), symlink(2), mkdir(2) or fsync(2) itself.
//
// Crash mode, for tests. The environment is read once per process; unset,
// a crash point costs one well-predicted branch.
//   DELTASWARM_CRASH_AT=k        the k-th operation of the process (counted
//                                from 1 over all threads) names itself on
//                                stderr ("crash point k: rename A -> B") and
//                                SIGKILLs the process before it happens. With
//                                several threads writing, a later operation of
//                                another thread may slip in before the signal
//                                lands: run with -j 1 for an exact point.
//   DELTASWARM_CRASH_COUNT=FILE  at a normal exit, writes the number of
//                                operations the process did to FILE ("N\n"):
//                                a complete run's range of k.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "deltaswarm/status.h"

namespace deltaswarm {

// One operation of the seam: counted, and the end of the process if it is
// the crash mode's k-th. `op` and `path` only name it in that message.
void CrashPoint(const char* op, std::string_view path, std::string_view other = {});

enum class RenameMode {
  kReplace,    // rename(2): replaces an existing `to` (a file, or an empty directory)
  kNoReplace,  // kAlreadyExists if `to` exists
  kExchange,   // swaps two existing names in one step
};
// kUnsupported when the filesystem lacks kNoReplace or kExchange (renameat2 flags).
Status Rename(const std::string& from, const std::string& to, RenameMode mode = RenameMode::kReplace);
// A hard link; kAlreadyExists if `link` exists, also when another process
// made it a moment ago (the create-only primitive of the directory bucket).
Status Link(const std::string& existing, const std::string& link);
Status Symlink(const std::string& target, const std::string& link);
// Removes one file or symbolic link; absence is not an error.
Status Unlink(const std::string& path);
// kAlreadyExists if path exists.
Status MakeDirectory(const std::string& path, mode_t mode = 0755);
// mkdir -p: every missing directory of path; existing ones are fine.
Status MakeDirectories(const std::string& path);
// fsync of a directory: makes the names created or renamed in it durable.
Status SyncDirectory(const std::string& dir);
// Removes a file or a directory tree, one name at a time (each a crash
// point, as a real crash can stop it half-way); absence is not an error.
Status RemoveAll(const std::string& path);

}  // namespace deltaswarm
