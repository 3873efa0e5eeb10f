// A published version shared by the swarm integration tests: one keyframe of
// a synthetic bf16 checkpoint in a bucket, and the seed and pull processes
// that serve and fetch it. Closed by default: a TLS torrent of a cluster CA,
// with seed and pulls presenting its certificates.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "cluster_certificates.h"
#include "deltaswarm/manifest.h"
#include "deltaswarm/synth.h"
#include "roles/bucket_layout.h"
#include "test_util.h"

namespace deltaswarm::testing {

inline std::string Loopback(int port) { return "127.0.0.1:" + std::to_string(port); }

// One version (a keyframe of a synthetic bf16 checkpoint) published into a
// bucket (a directory, or an nginx URL whose files are under bucket_dir).
enum class SwarmAccess { kClosed, kOpen };

struct Published {
  ClusterCertificates certs;
  SwarmAccess access;
  TempDir tmp;
  std::string bucket;
  std::string bucket_dir;
  Manifest manifest;

  Published(const std::string& bucket_url, const std::string& bucket_files, uint64_t params,
            SwarmAccess swarm_access = SwarmAccess::kClosed)
      : access(swarm_access) {
    bucket = bucket_url.empty() ? tmp / "bucket" : bucket_url;
    bucket_dir = bucket_files.empty() ? tmp / "bucket" : bucket_files;
    SynthOptions s;
    s.out_dir = tmp / "ckpt";
    s.params = params;
    s.versions = 0;
    REQUIRE(Synthesize(s, nullptr).ok());
    REQUIRE(GenerateKeyPair(tmp / "key", false).ok());
    manifest = Publish(checkpoint(), 1);
    REQUIRE(manifest.artifacts.size() == 1);
  }
  // Publishes path as version `version` (the next one), with the current
  // revocation list in a closed swarm; its manifest.
  Manifest Publish(const std::string& path, uint64_t version) {
    std::vector<std::string> args = {"publish", "--bucket", bucket,       "--model", "m", "--key",
                                     tmp / "key", "--state", tmp / "state", "-q",     path};
    if (access == SwarmAccess::kClosed) args = Concat(args, certs.PublishFlags());
    ChildProcess publish(SpawnDeltaswarmTo(args, "", tmp / "publish.err"));
    const int code = publish.Wait(60);
    INFO(ReadFileText(tmp / "publish.err"));
    REQUIRE(code == 0);
    auto bytes = ReadBytes(bucket_dir + "/" + ManifestKey("m", version));
    auto m = ParseManifest(std::as_bytes(std::span(bytes)), "manifest.json");
    REQUIRE_MESSAGE(m.ok(), m.status().ToString());
    return std::move(m).value();
  }
  std::string checkpoint() const { return tmp / "ckpt/v0/model.safetensors"; }
  std::string key_pub() const { return tmp / "key.pub"; }
  uint64_t payload_bytes() const { return manifest.artifacts[0].bytes(); }
  std::string artifact_dir() const { return bucket_dir + "/m/versions/1/" + manifest.artifacts[0].dir; }
  std::string info_hash() const { return manifest.artifacts[0].info_hash.Hex(); }
  std::string torrent_path() const { return TorrentPath(manifest); }
  std::string TorrentPath(const Manifest& m) const {
    return bucket_dir + "/" + TorrentKey("m", m.version, m.artifacts[0].dir);
  }

  // Deletes the chunk objects: from now on only the swarm has them.
  void RemoveChunks() {
    int removed = 0;
    for (auto& e : std::filesystem::directory_iterator(artifact_dir()))
      if (e.path().extension() == ".dsc") std::filesystem::remove(e.path()), ++removed;
    REQUIRE(removed > 0);
  }

  // A `seed` process for version 1, or another (its output in
  // tmp/seed[-<version>].out, .err).
  ChildProcess StartSeed(const std::vector<std::string>& extra, std::string* endpoint, uint64_t version = 1) {
    const std::string name = version == 1 ? "seed" : "seed-" + std::to_string(version);
    std::vector<std::string> args = {"seed",  "--bucket", bucket, "--model", "m", "--trust", key_pub(),
                                     "--dir", tmp / name, "--listen", "127.0.0.1:0", "--ready-file",
                                     tmp / (name + ".ready"), "--version", std::to_string(version), "-q"};
    if (access == SwarmAccess::kClosed) args = Concat(args, certs.Flags(certs.seed));
    args.insert(args.end(), extra.begin(), extra.end());
    ChildProcess seed(SpawnDeltaswarmTo(args, tmp / (name + ".out"), tmp / (name + ".err")));
    *endpoint = WaitForFirstLine(tmp / (name + ".ready"), 30);
    INFO(ReadFileText(tmp / (name + ".err")));
    REQUIRE(!endpoint->empty());
    return seed;
  }

  // `pull --json` of node `name` on 127.0.0.1:port, output in tmp/<name>.out,
  // .err, presenting the node certificate in a closed swarm.
  ChildProcess StartPull(const std::string& name, int port, const std::vector<std::string>& extra) {
    const auto tls = access == SwarmAccess::kClosed ? certs.Flags(certs.node) : std::vector<std::string>{};
    return StartPullAs(name, port, Concat(tls, extra));
  }
  // The same with only the flags given (e.g. another certificate, or none).
  ChildProcess StartPullAs(const std::string& name, int port, const std::vector<std::string>& extra) {
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
