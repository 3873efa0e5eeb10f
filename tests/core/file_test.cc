#include "core/file.h"

#include <doctest/doctest.h>

#include <filesystem>

#include "test_util.h"

using namespace deltaswarm;
using deltaswarm::testing::ReadBytes;
using deltaswarm::testing::TempDir;
using deltaswarm::testing::WriteBytes;
namespace fs = std::filesystem;

TEST_CASE("ReadAt past the end names the file and says truncated") {
  TempDir tmp;
  WriteBytes(tmp / "f", {1, 2, 3});
  auto f = File::OpenRead(tmp / "f");
  REQUIRE(f.ok());
  std::vector<std::byte> buf(4);
  Status s = f->ReadAt(0, buf);
  CHECK(s.code() == Code::kCorruption);
  CHECK(s.message().find("truncated") != std::string::npos);
  CHECK(s.message().find(tmp / "f") != std::string::npos);
  CHECK(File::OpenRead(tmp / "missing").status().code() == Code::kNotFound);
}

TEST_CASE("CreateNew never overwrites") {
  TempDir tmp;
  WriteBytes(tmp / "f", {9});
  CHECK(File::CreateNew(tmp / "f").status().code() == Code::kAlreadyExists);
  CHECK(ReadBytes(tmp / "f") == std::vector<uint8_t>{9});
}

TEST_CASE("InstallOutput moves files and directories into place, replacing only when asked") {
  TempDir tmp;
  WriteBytes(tmp / "new", {1});
  WriteBytes(tmp / "out", {2});
  CHECK(InstallOutput(tmp / "new", tmp / "out", false).code() == Code::kAlreadyExists);
  CHECK(ReadBytes(tmp / "out") == std::vector<uint8_t>{2});
  REQUIRE(InstallOutput(tmp / "new", tmp / "out", true).ok());
  CHECK(ReadBytes(tmp / "out") == std::vector<uint8_t>{1});
  CHECK(!fs::exists(tmp / "new"));

  fs::create_directories(tmp / "d_old");
  WriteBytes(tmp / "d_old/a", {3});
  fs::create_directories(tmp / "d_new");
  WriteBytes(tmp / "d_new/b", {4});
  REQUIRE(InstallOutput(tmp / "d_old", tmp / "dir", false).ok());
  REQUIRE(InstallOutput(tmp / "d_new", tmp / "dir", true).ok());
  CHECK(fs::exists(tmp / "dir/b"));
  CHECK(!fs::exists(tmp / "dir/a"));
  size_t entries = 0;
  for (auto& e : fs::directory_iterator(tmp.path())) entries += e.path().filename() != "out";
  CHECK(entries == 1);  // only "dir": nothing set aside is left over
}

TEST_CASE("WriteFileDurably replaces atomically and leaves no temporary") {
  TempDir tmp;
  std::vector<std::byte> data(1000, std::byte{7});
  REQUIRE(WriteFileDurably(tmp / "x", data).ok());
  REQUIRE(WriteFileDurably(tmp / "x", std::span(data).first(10)).ok());
  CHECK(fs::file_size(tmp / "x") == 10);
  CHECK(std::distance(fs::directory_iterator(tmp.path()), fs::directory_iterator()) == 1);
}
