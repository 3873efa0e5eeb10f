// The file-system seam's operations on names (its crash mode is exercised
// through the built program by tests/integration/crash_test.cc).
#include "core/file_system.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>

#include "core/file.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;
namespace fs = std::filesystem;

TEST_CASE("Link and Rename(kNoReplace) refuse an existing name; Rename(kExchange) swaps two") {
  TempDir tmp;
  WriteBytes(tmp / "a", {1});
  WriteBytes(tmp / "b", {2});
  CHECK(Link(tmp / "a", tmp / "b").code() == Code::kAlreadyExists);
  REQUIRE(Link(tmp / "a", tmp / "c").ok());
  CHECK(ReadBytes(tmp / "c") == std::vector<uint8_t>{1});
  Status no_replace = Rename(tmp / "a", tmp / "b", RenameMode::kNoReplace);
  CHECK((no_replace.code() == Code::kAlreadyExists || no_replace.code() == Code::kUnsupported));
  CHECK(ReadBytes(tmp / "b") == std::vector<uint8_t>{2});
  Status exchanged = Rename(tmp / "a", tmp / "b", RenameMode::kExchange);
  if (exchanged.code() != Code::kUnsupported) {
    REQUIRE(exchanged.ok());
    CHECK(ReadBytes(tmp / "a") == std::vector<uint8_t>{2});
    CHECK(ReadBytes(tmp / "b") == std::vector<uint8_t>{1});
  }
  REQUIRE(Rename(tmp / "a", tmp / "b").ok());
  CHECK(!fs::exists(tmp / "a"));
  CHECK(Rename(tmp / "a", tmp / "b").code() == Code::kNotFound);
}

TEST_CASE("Symlink, Unlink, MakeDirectory, MakeDirectories, RemoveAll") {
  TempDir tmp;
  REQUIRE(MakeDirectories(tmp / "x/y/z").ok());
  CHECK(MakeDirectories(tmp / "x/y/z").ok());
  CHECK(MakeDirectory(tmp / "x").code() == Code::kAlreadyExists);
  WriteBytes(tmp / "x/y/z/f", {3});
  REQUIRE(Symlink("y", tmp / "x/link").ok());
  CHECK(Symlink("y", tmp / "x/link").code() == Code::kAlreadyExists);
  CHECK(fs::read_symlink(tmp / "x/link") == "y");
  // A symbolic link is removed, never followed.
  REQUIRE(Unlink(tmp / "x/link").ok());
  CHECK(Unlink(tmp / "x/link").ok());  // absence is not an error
  CHECK(fs::exists(tmp / "x/y/z/f"));
  REQUIRE(Symlink(tmp / "x/y", tmp / "outside").ok());
  REQUIRE(RemoveAll(tmp / "outside").ok());
  CHECK(fs::exists(tmp / "x/y/z/f"));
  REQUIRE(RemoveAll(tmp / "x").ok());
  CHECK(!fs::exists(tmp / "x"));
  CHECK(RemoveAll(tmp / "x").ok());
  REQUIRE(SyncDirectory(tmp.path()).ok());
  CHECK(SyncDirectory(tmp / "missing").code() == Code::kNotFound);
}

TEST_CASE("File::CopyFrom copies a range to the same offsets; a short source is truncated") {
  TempDir tmp;
  auto data = RandomBytes(100000, 1);
  WriteBytes(tmp / "src", data);
  auto src = File::OpenRead(tmp / "src");
  REQUIRE(src.ok());
  auto dst = File::CreateNew(tmp / "dst", 0600);
  REQUIRE(dst.ok());
  REQUIRE(dst->CopyFrom(*src, 0, 60000).ok());
  REQUIRE(dst->CopyFrom(*src, 60000, 40000).ok());
  CHECK(dst->CopyFrom(*src, 90000, 20000).code() == Code::kCorruption);
  REQUIRE(dst->Close().ok());
  auto got = ReadBytes(tmp / "dst");
  got.resize(data.size());
  CHECK(got == data);
  struct stat st;
  REQUIRE(::stat((tmp / "dst").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}
