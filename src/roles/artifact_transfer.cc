#include "roles/artifact_transfer.h"

#include <filesystem>

#include "codec/checkpoint_files.h"
#include "core/file.h"
#include "core/file_identity.h"
#include "roles/bucket_layout.h"
#include "roles/checkpoint_sha.h"

namespace deltaswarm {

namespace {

// One object of an artifact: the index or a chunk.
struct Object {
  std::string name;
  uint64_t size;
  Sha256 sha256;
};

std::vector<Object> ObjectsOf(const ManifestArtifact& a) {
  std::vector<Object> objects = {{kIndexFileName, a.index_size, a.index_sha256}};
  for (const auto& c : a.chunks) objects.push_back({c.name, c.size, c.sha256});
  return objects;
}
}  // namespace

Result<ManifestArtifact> DescribeArtifact(const std::string& delta_dir, const std::string& kind,
                                          uint64_t base_version) {
  DS_ASSIGN_OR_RETURN(DeltaIndex index, ReadDeltaIndex(delta_dir));
  ManifestArtifact a;
  a.kind = kind;
  a.dir = kind;
  a.base_version = base_version;
  DS_ASSIGN_OR_RETURN(a.index_sha256, Sha256OfFile(delta_dir + "/" + kIndexFileName, &a.index_size));
  for (const auto& c : index.chunks) a.chunks.push_back({c.name, c.size, c.sha256});
  return a;
}

Result<uint64_t> UploadArtifact(Bucket& bucket, const std::string& model, uint64_t id,
                                const ManifestArtifact& artifact, const std::string& delta_dir,
                                const ProgressFn& progress) {
  uint64_t total = artifact.bytes(), done = 0;
  // Chunks first, the index last: a reader that finds the index finds its chunks.
  std::vector<Object> objects = ObjectsOf(artifact);
  std::rotate(objects.begin(), objects.begin() + 1, objects.end());
  for (const auto& o : objects) {
    DS_RETURN_IF_ERROR(
        bucket.CreateFile(ArtifactKey(model, id, artifact.dir, o.name), delta_dir + "/" + o.name, nullptr));
    done += o.size;
    if (progress) progress("upload", done, total);
  }
  return done;
}

Result<uint64_t> DownloadArtifact(Bucket& bucket, const std::string& model, uint64_t id,
                                  const ManifestArtifact& artifact, const std::string& local_dir,
                                  const ProgressFn& progress, const StopSignal* stop, uint64_t* hashed) {
  DS_RETURN_IF_ERROR(MakeDirectories(local_dir));
  uint64_t total = artifact.bytes(), done = 0, downloaded = 0, hashed_here = 0;
  if (hashed == nullptr) hashed = &hashed_here;
  for (const auto& o : ObjectsOf(artifact)) {
    std::string path = local_dir + "/" + o.name;
    uint64_t size = 0;
    if (PathExists(path)) {
      auto have = Sha256OfFile(path, &size);
      *hashed += size;
      if (have.ok() && size == o.size && *have == o.sha256) {
        done += o.size;
        continue;
      }
      DS_RETURN_IF_ERROR(RemoveAll(path));
    }
    std::string key = ArtifactKey(model, id, artifact.dir, o.name);
    if (stop && stop->requested()) return Status(Code::kCancelled, bucket.Describe(key) + ": stopped");
    std::string tmp = TempSibling(path);
    uint64_t before = done;
    // Bounded by the signed size: a larger object fails before the disk fills,
    // a stop ends even this object (the bucket removes tmp either way).
    auto got = bucket.GetToFile(
        key, tmp, o.size,
        [&](const char*, uint64_t d, uint64_t) {
          if (progress) progress("download", before + d, total);
        },
        stop);
    if (!got.ok()) {
      (void)RemoveAll(tmp);
      if (got.status().code() == Code::kCorruption)
        return Corruption(got.status().message() + " by the signed manifest (tampered?)");
      return got.status();
    }
    if (*got != o.size) {
      (void)RemoveAll(tmp);
      return Corruption(bucket.Describe(key) + ": object is " + std::to_string(*got) +
                        " bytes, the signed manifest lists " + std::to_string(o.size) + " (tampered?)");
    }
    DS_ASSIGN_OR_RETURN(Sha256 sha, Sha256OfFile(tmp, &size));
    *hashed += size;
    if (size != o.size || sha != o.sha256) {
      (void)RemoveAll(tmp);
      return Corruption(bucket.Describe(key) + ": size or sha256 differs from the signed manifest (tampered?)");
    }
    DS_RETURN_IF_ERROR(Rename(tmp, path));
    done += o.size;
    downloaded += o.size;
    if (progress) progress("download", done, total);
  }
  return downloaded;
}

Status CheckSwarmArtifact(const ManifestArtifact& artifact, const std::string& local_dir, uint64_t* hashed) {
  for (const auto& o : ObjectsOf(artifact)) {
    const std::string path = local_dir + "/" + o.name;
    DS_ASSIGN_OR_RETURN(FileIdentity id, IdentifyFile(path));
    if (id.size != o.size)
      return Corruption(path + ": " + std::to_string(id.size) + " bytes, the signed manifest lists " +
                        std::to_string(o.size));
  }
  uint64_t size = 0;
  const std::string index = local_dir + "/" + kIndexFileName;
  DS_ASSIGN_OR_RETURN(Sha256 sha, Sha256OfFile(index, &size));
  *hashed += size;
  if (size != artifact.index_size || sha != artifact.index_sha256)
    return Corruption(index + ": differs from the signed manifest");
  return Status::Ok();
}

std::vector<DeltaChunk> ChunksOf(const ManifestArtifact& artifact) {
  std::vector<DeltaChunk> chunks;
  for (const auto& c : artifact.chunks) chunks.push_back({c.name, c.size, c.sha256});
  return chunks;
}

}  // namespace deltaswarm
