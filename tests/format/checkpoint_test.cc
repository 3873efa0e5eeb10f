#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "deltaswarm/checkpoint.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;

namespace fs = std::filesystem;

namespace {

TestTensor U8Tensor(const std::string& name, size_t n, uint64_t seed) {
  return {name, "U8", {n}, RandomBytes(n, seed)};
}

std::vector<std::string> RelPaths(const Checkpoint& c) {
  std::vector<std::string> out;
  for (const auto& f : c.files) out.push_back(f.rel_path);
  return out;
}

void CheckError(const Result<Checkpoint>& r, Code code, const std::string& what) {
  REQUIRE_FALSE(r.ok());
  INFO("message: " << r.status().message());
  CHECK(r.status().code() == code);
  CHECK(r.status().message().find(what) != std::string::npos);
}

// Two shards and an index mapping tensors a, b to shard 1 and c to shard 2.
void WriteSharded(const TempDir& dir, const std::string& index_json) {
  WriteSafetensors(dir / "model-00001-of-00002.safetensors", {U8Tensor("a", 16, 1), U8Tensor("b", 8, 2)});
  WriteSafetensors(dir / "model-00002-of-00002.safetensors", {U8Tensor("c", 32, 3)});
  std::string s = index_json;
  WriteBytes(dir / "model.safetensors.index.json", std::vector<uint8_t>(s.begin(), s.end()));
}

const char kIndex[] = R"({"metadata":{"total_size":56},"weight_map":{)"
                      R"("a":"model-00001-of-00002.safetensors",)"
                      R"("b":"model-00001-of-00002.safetensors",)"
                      R"("c":"model-00002-of-00002.safetensors"}})";

}  // namespace

TEST_CASE("a single safetensors file") {
  TempDir dir;
  WriteSafetensors(dir / "model.safetensors", {U8Tensor("w", 10, 1)}, R"({"format":"pt"})");
  auto r = OpenCheckpoint(dir / "model.safetensors");
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  CHECK_FALSE(r->is_directory);
  CHECK(r->root == dir / "model.safetensors");
  REQUIRE(r->files.size() == 1);
  const CheckpointFile& f = r->files[0];
  CHECK(f.rel_path == "model.safetensors");
  CHECK(fs::path(f.abs_path).is_absolute());
  CHECK(fs::equivalent(f.abs_path, dir / "model.safetensors"));
  CHECK(f.size == fs::file_size(dir / "model.safetensors"));
  CHECK(f.is_safetensors);
  REQUIRE(f.header.tensors.size() == 1);
  CHECK(f.header.tensors[0].name == "w");
  CHECK(f.header.tensors[0].end == f.size);
  CHECK(f.header.metadata_json == R"({"format":"pt"})");
  CHECK(r->total_bytes() == f.size);
}

TEST_CASE("a single file of another kind is opaque") {
  TempDir dir;
  WriteBytes(dir / "config.json", {'{', '}'});
  auto r = OpenCheckpoint(dir / "config.json");
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  REQUIRE(r->files.size() == 1);
  CHECK(r->files[0].rel_path == "config.json");
  CHECK_FALSE(r->files[0].is_safetensors);
  CHECK(r->files[0].header.tensors.empty());
  CHECK(r->total_bytes() == 2);
}

TEST_CASE("a directory: recursive, sorted, hidden files included") {
  TempDir dir;
  fs::create_directories(dir / "sub/deeper");
  fs::create_directories(dir / "empty_dir");
  WriteSafetensors(dir / "b.safetensors", {U8Tensor("x", 4, 1)});
  WriteSafetensors(dir / "sub/deeper/c.safetensors", {U8Tensor("y", 12, 2)});
  WriteBytes(dir / "a.txt", {1, 2, 3});
  WriteBytes(dir / ".hidden", {4});
  WriteBytes(dir / "sub/z.bin", {});
  auto r = OpenCheckpoint(dir.path());
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  CHECK(r->is_directory);
  CHECK(RelPaths(*r) ==
        std::vector<std::string>{".hidden", "a.txt", "b.safetensors", "sub/deeper/c.safetensors", "sub/z.bin"});
  uint64_t total = 0;
  for (const auto& f : r->files) {
    CAPTURE(f.rel_path);
    CHECK(fs::equivalent(f.abs_path, dir / f.rel_path));
    CHECK(f.size == fs::file_size(dir / f.rel_path));
    total += f.size;
  }
  CHECK(r->total_bytes() == total);
  CHECK(r->files[3].is_safetensors);
  REQUIRE(r->files[3].header.tensors.size() == 1);
  CHECK(r->files[3].header.tensors[0].name == "y");
  CHECK_FALSE(r->files[4].is_safetensors);
}

TEST_CASE("symlinks and special files") {
  TempDir dir;
  TempDir outside;
  WriteSafetensors(outside / "real.safetensors", {U8Tensor("w", 6, 1)});
  fs::create_directories(dir / "d");
  WriteBytes(dir / "d/plain", {1});
  fs::create_symlink(outside / "real.safetensors", dir / "link.safetensors");

  SUBCASE("a symlink to a regular file is followed") {
    auto r = OpenCheckpoint(dir.path());
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    CHECK(RelPaths(*r) == std::vector<std::string>{"d/plain", "link.safetensors"});
    CHECK(r->files[1].is_safetensors);
    CHECK(r->files[1].size == fs::file_size(outside / "real.safetensors"));
    CHECK(r->files[1].header.tensors.size() == 1);
  }
  SUBCASE("a symlink to a directory is an error") {
    fs::create_directory_symlink(outside.path(), dir / "dirlink");
    CheckError(OpenCheckpoint(dir.path()), Code::kUnsupported, "dirlink: symbolic link to a directory");
  }
  SUBCASE("a dangling symlink is an error") {
    fs::create_symlink(outside / "gone", dir / "dangling");
    CheckError(OpenCheckpoint(dir.path()), Code::kNotFound, "dangling: dangling symbolic link");
  }
  SUBCASE("a FIFO is an error") {
    REQUIRE(::mkfifo((dir / "d/fifo").c_str(), 0600) == 0);
    CheckError(OpenCheckpoint(dir.path()), Code::kUnsupported, "fifo: not a regular file");
  }
}

TEST_CASE("paths that are not checkpoints") {
  TempDir dir;
  SUBCASE("missing") {
    CheckError(OpenCheckpoint(dir / "nope"), Code::kNotFound, dir / "nope" + ": no such file or directory");
  }
  SUBCASE("a directory with no files, only empty directories") {
    fs::create_directories(dir / "a/b");
    CheckError(OpenCheckpoint(dir.path()), Code::kNotFound, ": no files");
  }
  SUBCASE("a corrupt safetensors file inside a directory names the file") {
    fs::copy_file(std::string(DS_GOLDEN_DIR) + "/safetensors/overlap.safetensors", dir / "m.safetensors");
    CheckError(OpenCheckpoint(dir.path()), Code::kCorruption, "m.safetensors: tensor 'w'");
  }
}

TEST_CASE("sharded checkpoint with an index") {
  TempDir dir;
  SUBCASE("all shards present") {
    WriteSharded(dir, kIndex);
    auto r = OpenCheckpoint(dir.path());
    REQUIRE_MESSAGE(r.ok(), r.status().message());
    CHECK(RelPaths(*r) == std::vector<std::string>{"model-00001-of-00002.safetensors",
                                                   "model-00002-of-00002.safetensors",
                                                   "model.safetensors.index.json"});
    CHECK(r->files[0].header.tensors.size() == 2);
    CHECK_FALSE(r->files[2].is_safetensors);
  }
  SUBCASE("a missing shard") {
    WriteSharded(dir, kIndex);
    fs::remove(dir / "model-00002-of-00002.safetensors");
    CheckError(OpenCheckpoint(dir.path()), Code::kNotFound, "shard 'model-00002-of-00002.safetensors' is missing");
  }
  SUBCASE("a tensor not in its shard") {
    std::string index = kIndex;
    index.replace(index.find(R"("c":)"), 4, R"("q":)");
    WriteSharded(dir, index);
    CheckError(OpenCheckpoint(dir.path()), Code::kCorruption,
               "tensor 'q' is not in shard 'model-00002-of-00002.safetensors'");
  }
  SUBCASE("an index that is not JSON") {
    WriteSharded(dir, "{\"weight_map\": ");
    CheckError(OpenCheckpoint(dir.path()), Code::kCorruption, "model.safetensors.index.json: not valid JSON");
  }
  SUBCASE("an index without weight_map") {
    WriteSharded(dir, R"({"metadata":{}})");
    CheckError(OpenCheckpoint(dir.path()), Code::kCorruption, "missing or non-object weight_map");
  }
  SUBCASE("a shard given with ./ is still found") {
    std::string index = kIndex;
    index.replace(index.find(R"("model-00002)"), 1, "\"./");
    WriteSharded(dir, index);
    auto r = OpenCheckpoint(dir.path());
    CHECK_MESSAGE(r.ok(), r.status().message());
  }
  SUBCASE("an index in a subdirectory is just a file") {
    fs::create_directories(dir / "sub");
    std::string s = kIndex;
    WriteBytes(dir / "sub/model.safetensors.index.json", std::vector<uint8_t>(s.begin(), s.end()));
    auto r = OpenCheckpoint(dir.path());
    CHECK_MESSAGE(r.ok(), r.status().message());
  }
}
