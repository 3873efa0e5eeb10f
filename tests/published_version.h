// A published version shared by the swarm integration tests: one keyframe of
// a synthetic bf16 checkpoint in a bucket, and the seed and pull processes
// that serve and fetch it.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "deltaswarm/manifest.h"
#include "deltaswarm/synth.h"
#include "roles/bucket_layout.h"
#include "test_util.h"

namespace deltaswarm::testing {

inline std::string Loopback(int port) { return "127.0.0.1:" + std::to_string(port); }

// One version (a keyframe of a synthetic bf16 checkpoint) published into a
// bucket (a directory, or an nginx URL whose files are under bucket_dir).
struct Published {
  TempDir tmp;
  std::string bucket;
  std::string bucket_dir;
  Manifest manifest;

  // publish_extra: more publish flags (e.g. --tls-ca for TLS torrents).
  Published(const std::string& bucket_url, const std::string& bucket_files, uint64_t params,
            const std::vector<std::string>& publish_extra = {}) {
    bucket = bucket_url.empty() ? tmp / "bucket" : bucket_url;
    bucket_dir = bucket_files.empty() ? tmp / "bucket" : bucket_files;
    SynthOptions s;
    s.out_dir = tmp / "ckpt";
    s.params = params;
    s.versions = 0;
    REQUIRE(Synthesize(s, nullptr).ok());
    REQUIRE(GenerateKeyPair(tmp / "key", false).ok());
    std::vector<std::string> args = {"publish", "--bucket", bucket,       "--model", "m", "--key",
                                     tmp / "key", "--state", tmp / "state", "-q",     checkpoint()};
    args.insert(args.end(), publish_extra.begin(), publish_extra.end());
    ChildProcess publish(SpawnDeltaswarmTo(args, "", tmp / "publish.err"));
    const int code = publish.Wait(60);
    INFO(ReadFileText(tmp / "publish.err"));
    REQUIRE(code == 0);
    auto bytes = ReadBytes(bucket_dir + "/" + ManifestKey("m", 1));
    auto m = ParseManifest(std::as_bytes(std::span(bytes)), "manifest.json");
    REQUIRE_MESSAGE(m.ok(), m.status().ToString());
    manifest = std::move(m).value();
    REQUIRE(manifest.artifacts.size() == 1);
  }
  std::string checkpoint() const { return tmp / "ckpt/v0/model.safetensors"; }
  std::string key_pub() const { return tmp / "key.pub"; }
  uint64_t payload_bytes() const { return manifest.artifacts[0].bytes(); }
  std::string artifact_dir() const { return bucket_dir + "/m/versions/1/" + manifest.artifacts[0].dir; }
  std::string info_hash() const { return manifest.artifacts[0].info_hash.Hex(); }
  std::string torrent_path() const { return bucket_dir + "/" + TorrentKey("m", 1, manifest.artifacts[0].dir); }

  // Deletes the chunk objects: from now on only the swarm has them.
  void RemoveChunks() {
    int removed = 0;
    for (auto& e : std::filesystem::directory_iterator(artifact_dir()))
      if (e.path().extension() == ".dsc") std::filesystem::remove(e.path()), ++removed;
    REQUIRE(removed > 0);
  }

  // A `seed` process for version 1 (its output in tmp/seed.out, .err).
  ChildProcess StartSeed(const std::vector<std::string>& extra, std::string* endpoint) {
    std::vector<std::string> args = {"seed",  "--bucket", bucket,           "--model", "m", "--trust", key_pub(),
                                     "--dir", tmp / "seed", "--listen", "127.0.0.1:0", "--ready-file",
                                     tmp / "seed.ready", "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    ChildProcess seed(SpawnDeltaswarmTo(args, tmp / "seed.out", tmp / "seed.err"));
    *endpoint = WaitForFirstLine(tmp / "seed.ready", 30);
    INFO(ReadFileText(tmp / "seed.err"));
    REQUIRE(!endpoint->empty());
    return seed;
  }

  // `pull --json` of node `name` on 127.0.0.1:port, output in tmp/<name>.out, .err.
  ChildProcess StartPull(const std::string& name, int port, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"pull",   "--bucket", bucket,        "--model", "m",       "--dest",
                                     tmp / name, "--trust", key_pub(),   "--listen", Loopback(port), "-j",
                                     "1",      "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return ChildProcess(SpawnDeltaswarmTo(args, tmp / (name + ".out"), tmp / (name + ".err")));
  }
  std::string Err(const std::string& name) const { return ReadFileText(tmp / (name + ".err")); }
  bool Holds(const std::string& name) const {
    return SameTree(tmp / (name + "/current/model.safetensors"), checkpoint());
  }
};

}  // namespace deltaswarm::testing
