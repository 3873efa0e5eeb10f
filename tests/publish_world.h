// Five synthetic versions, a key pair (and a second, untrusted one), a bucket
// of either kind: the world of the publish and pull tests.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "deltaswarm/bucket.h"
#include "deltaswarm/manifest.h"
#include "deltaswarm/roles.h"
#include "deltaswarm/synth.h"
#include "nginx_server.h"
#include "s3_server.h"
#include "roles/bucket_layout.h"
#include "test_util.h"

namespace deltaswarm::testing {

constexpr int kVersions = 5;

enum class BucketKind { kDirectory, kNginx, kS3 };

struct PublishWorld {
  TempDir tmp;
  std::unique_ptr<NginxServer> nginx;
  std::unique_ptr<S3Server> s3;  // its credentials exported to this process and its children
  std::string bucket;

  explicit PublishWorld(bool http) : PublishWorld(http ? BucketKind::kNginx : BucketKind::kDirectory) {}
  explicit PublishWorld(BucketKind kind) {
    SynthOptions s;
    s.out_dir = tmp / "ckpt";
    s.params = 200000;
    s.versions = kVersions - 1;
    s.lr = 1e-5;
    REQUIRE(Synthesize(s, nullptr).ok());
    REQUIRE(GenerateKeyPair(tmp / "key", false).ok());
    REQUIRE(GenerateKeyPair(tmp / "other", false).ok());
    if (kind == BucketKind::kNginx) {
      nginx = std::make_unique<NginxServer>();
      bucket = nginx->url() + "/hub";
    } else if (kind == BucketKind::kS3) {
      s3 = std::make_unique<S3Server>();
      S3Server::ExportCredentials();
      bucket = s3->url("hub");
    } else {
      bucket = tmp / "bucket";
    }
  }
  std::string Checkpoint(int version) const { return tmp / "ckpt/v" + std::to_string(version - 1) + "/model.safetensors"; }
  // The bucket's directory on disk (not for S3, whose server has its own layout).
  std::string BucketDir() const { return nginx ? nginx->bucket_dir() + "/hub" : bucket; }

  PublishOptions PublishOptionsFor(int version, const std::string& state = "state") const {
    PublishOptions o;
    o.bucket = bucket;
    o.model = "m";
    o.key = tmp / "key";
    o.checkpoint = Checkpoint(version);
    o.state = tmp / state;
    o.keyframe_every = 3;
    o.diff.frame_bytes = 64 << 10;
    return o;
  }
  Result<PublishReport> PublishVersion(int version) { return Publish(PublishOptionsFor(version), nullptr); }
  PullOptions PullOptionsFor(const std::string& dest, uint64_t version = 0, const std::string& trust = "key.pub") const {
    PullOptions o;
    o.bucket = bucket;
    o.model = "m";
    o.dest = tmp / dest;
    o.trust = {tmp / trust};
    o.version = version;
    return o;
  }
  Result<PullReport> PullTo(const std::string& dest, uint64_t version = 0, const std::string& trust = "key.pub") {
    return Pull(PullOptionsFor(dest, version, trust), nullptr);
  }
  // Version v's manifest as the bucket holds it, its signature checked.
  Manifest PublishedManifest(uint64_t v) const {
    auto b = OpenBucket(bucket);
    REQUIRE(b.ok());
    auto key = TrustedKey::Load(tmp / "key.pub");
    REQUIRE(key.ok());
    auto m = FetchManifest(**b, "m", v, std::span(&key.value(), 1));
    REQUIRE_MESSAGE(m.ok(), m.status().message());
    return std::move(m).value();
  }
  std::string LatestPath() const { return BucketDir() + "/m/refs/latest"; }
  std::string ManifestPath(int version) const {
    return BucketDir() + "/m/versions/" + std::to_string(version) + "/manifest.json";
  }
  std::string Current(const std::string& dest) const { return tmp / dest + "/current/model.safetensors"; }
};

}  // namespace deltaswarm::testing
