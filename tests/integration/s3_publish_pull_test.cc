// End to end through an S3-compatible server (s3rver): the built program
// publishes five versions to s3://BUCKET/hub (keyframes and deltas, create-
// only objects, a replaced latest), and pulls them back, byte-exact, first
// the latest and then one version after another as a following node does.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

#include "publish_world.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;
namespace fs = std::filesystem;

namespace {

RunResult PublishCli(const PublishWorld& w, int version) {
  return RunDeltaswarm({"publish", "--bucket", w.bucket, "--model", "m", "--key", w.tmp / "key", "--state",
                        w.tmp / "state", "--keyframe-every", "3", "-q", w.Checkpoint(version)});
}

RunResult PullCli(const PublishWorld& w, const std::string& dest, int version = 0) {
  std::vector<std::string> args = {"pull", "--bucket", w.bucket, "--model", "m", "--trust", w.tmp / "key.pub",
                                   "--dest", w.tmp / dest, "-q"};
  if (version) args.insert(args.end(), {"--version", std::to_string(version)});
  return RunDeltaswarm(args);
}

}  // namespace

TEST_CASE("publish to s3:// and pull from it, byte-exact") {
  PublishWorld w(BucketKind::kS3);
  for (int v = 1; v <= kVersions; ++v) {
    RunResult pub = PublishCli(w, v);
    REQUIRE_MESSAGE(pub.exit_code == 0, pub.err);
  }
  // Every version's objects are in the store, under the URL's prefix.
  CHECK(fs::exists(w.s3->ObjectPath("hub/m/versions/5/manifest.json")));
  CHECK(fs::exists(w.s3->ObjectPath("hub/m/refs/latest")));
  CHECK(w.PublishedManifest(5).version == 5);

  RunResult latest = PullCli(w, "fresh");
  REQUIRE_MESSAGE(latest.exit_code == 0, latest.err);
  CHECK(SameTree(w.Current("fresh"), w.Checkpoint(kVersions)));

  for (int v = 1; v <= kVersions; ++v) {
    CAPTURE(v);
    RunResult step = PullCli(w, "follower", v);
    REQUIRE_MESSAGE(step.exit_code == 0, step.err);
    CHECK(SameTree(w.Current("follower"), w.Checkpoint(v)));
  }
  // Publishing a version again never replaces its objects.
  RunResult again = RunDeltaswarm({"publish", "--bucket", w.bucket, "--model", "m", "--key", w.tmp / "key",
                                   "--state", w.tmp / "state2", "-q", w.Checkpoint(1)});
  const bool refused_or_kept = again.exit_code != 0 || w.PublishedManifest(1).version == 1;
  CHECK(refused_or_kept);
}

TEST_CASE("s3:// without credentials fails at once, in one line naming where it looked") {
  PublishWorld w(BucketKind::kS3);
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ::setenv("AWS_SHARED_CREDENTIALS_FILE", (w.tmp / "no-such-credentials").c_str(), 1);
  RunResult pub = PublishCli(w, 1);
  CHECK(pub.exit_code != 0);
  CHECK(pub.err.find("AWS_ACCESS_KEY_ID") != std::string::npos);
  CHECK(pub.err.find(w.tmp / "no-such-credentials") != std::string::npos);
  CHECK(std::count(pub.err.begin(), pub.err.end(), '\n') == 1);
  ::unsetenv("AWS_SHARED_CREDENTIALS_FILE");
}
