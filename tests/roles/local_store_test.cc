// The node store's kept chunks: which survive a prune, and what status reports.
#include <doctest/doctest.h>

#include <filesystem>

#include "core/file.h"
#include "deltaswarm/roles.h"
#include "roles/local_store.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;
namespace fs = std::filesystem;

namespace {
// A held version, as far as listing goes: its manifest file exists.
void FakeVersion(const LocalStore& store, uint64_t id, bool with_chunks) {
  WriteBytes(store.dir() + "/manifests/" + std::to_string(id) + ".json", {'{', '}'});
  fs::create_directories(store.VersionDir(id));
  if (with_chunks) {
    fs::create_directories(store.ChunksDir(id) + "/delta");
    WriteBytes(store.ChunksDir(id) + "/delta/chunk-000000.dsc", {1, 2, 3});
  }
}
}  // namespace

TEST_CASE("kept chunks: listed, pruned to the seeded versions, removed with their version") {
  TempDir tmp;
  auto opened = LocalStore::Open(tmp / "node");
  REQUIRE(opened.ok());
  LocalStore& store = *opened;
  CHECK(IsDirectory(tmp / "node/chunks"));
  for (uint64_t id = 1; id <= 4; ++id) FakeVersion(store, id, true);
  fs::create_directories(store.ChunksDir(6) + "/delta");  // a download to resume: newer than any held version
  CHECK(store.ChunkVersions() == std::vector<uint64_t>{1, 2, 3, 4, 6});

  CHECK(store.Survivors(2) == std::vector<uint64_t>{3, 4});
  REQUIRE(store.PruneChunks({3, 4}).ok());
  CHECK(store.ChunkVersions() == std::vector<uint64_t>{3, 4, 6});
  CHECK(store.Versions() == std::vector<uint64_t>{1, 2, 3, 4});  // the checkpoints stay

  REQUIRE(store.Prune(1).ok());
  CHECK(store.Versions() == std::vector<uint64_t>{4});
  CHECK(store.ChunkVersions() == std::vector<uint64_t>{4, 6});

  auto status = ReadStoreStatus(tmp / "node");
  REQUIRE(status.ok());
  CHECK(status->versions == std::vector<uint64_t>{4});
  CHECK(status->seeding == std::vector<uint64_t>{4});  // 6 is not held
}
