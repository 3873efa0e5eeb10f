// `deltaswarm ca` end to end: the built program makes a CA, issues, shows and
// revokes certificates, and refuses with the documented exit codes and one
// line on stderr. Needs the deltaswarm target built.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "deltaswarm/tls.h"
#include "test_util.h"
#include "tls/openssl_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;

namespace {

RunResult Ok(const std::vector<std::string>& args) {
  RunResult r = RunDeltaswarm(args);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  return r;
}

nlohmann::json Summary(const RunResult& r) {
  size_t end = r.out.find_last_not_of('\n');
  size_t start = r.out.rfind('\n', end);
  return nlohmann::json::parse(r.out.substr(start == std::string::npos ? 0 : start + 1, end + 1));
}

bool IsOneLine(const std::string& text) { return !text.empty() && text.find('\n') == text.size() - 1; }

}  // namespace

TEST_CASE("ca init, issue, show and revoke") {
  TempDir tmp;
  std::string ca = tmp / "ca";
  RunResult init = Ok({"ca", "init", "-o", ca, "--name", "test cluster", "--days", "30"});
  CHECK(init.out.find(ca + "/ca.pem: new cluster CA \"test cluster\"") == 0);

  RunResult again = RunDeltaswarm({"ca", "init", "-o", ca});
  CHECK(again.exit_code == ExitCodeFor(Code::kAlreadyExists));
  CHECK(IsOneLine(again.err));
  CHECK(again.err.find("already exists") != std::string::npos);

  std::string node = tmp / "node.pem";
  RunResult issue =
      Ok({"ca", "issue", "--ca", ca, "--name", "node-1", "--host", "127.0.0.1", "-o", node, "--json"});
  nlohmann::json issued = Summary(issue)["result"];
  CHECK(issued["cert"] == node);
  CHECK(issued["key"] == tmp / "node.key");
  CHECK(issued["subject"] == "node-1");
  std::string serial = issued["serial"];
  CHECK(serial.size() == 32);
  CHECK(CheckIdentity({node, tmp / "node.key", ca + "/ca.pem"}).ok());
  // --days 365 does not outlive the 30-day CA.
  auto ca_info = InspectCertificate(ca + "/ca.pem");
  REQUIRE(ca_info.ok());
  CHECK(issued["not_after"].get<int64_t>() <= ca_info->not_after);

  RunResult refused = RunDeltaswarm({"ca", "issue", "--ca", ca, "--name", "node-1", "-o", node});
  CHECK(refused.exit_code == ExitCodeFor(Code::kAlreadyExists));
  Ok({"ca", "issue", "--ca", ca, "--name", "node-1", "-o", node, "--force", "-q"});

  RunResult show = Ok({"ca", "show", node});
  CHECK(show.out.find("subject  node-1\nserial   ") == 0);
  CHECK(show.out.find(" UTC to ") != std::string::npos);

  RunResult revoke = Ok({"ca", "revoke", "--ca", ca, node});
  CHECK(revoke.out.find(node + ": serial ") == 0);
  auto crl = tls::LoadCrl(ca + "/crl.pem");
  REQUIRE(crl.ok());
  CHECK(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl->get())) == 1);
  Ok({"ca", "revoke", "--ca", ca, node, "-q"});  // twice: not an error

  RunResult not_cert = RunDeltaswarm({"ca", "show", tmp / "node.key"});
  CHECK(not_cert.exit_code == ExitCodeFor(Code::kInvalidArgument));
  CHECK(not_cert.err == "deltaswarm ca show: error: " + tmp / "node.key" + ": not a PEM certificate\n");
}

TEST_CASE("ca show exits non-zero with one line for an expired certificate") {
  TempDir tmp;
  Ok({"ca", "init", "-o", tmp / "ca", "-q"});
  IssueOptions options;
  options.ca_dir = tmp / "ca";
  options.name = "old";
  options.out = tmp / "old.pem";
  options.days = 1;
  options.backdate_s = 3 * 86400;
  REQUIRE(IssueCertificate(options).ok());
  RunResult show = RunDeltaswarm({"ca", "show", tmp / "old.pem"});
  CHECK(show.exit_code == ExitCodeFor(Code::kInvalidArgument));
  CHECK(IsOneLine(show.err));
  CHECK(show.err.find(tmp / "old.pem" + ": certificate expired on ") != std::string::npos);
  CHECK(show.out.empty());
}

TEST_CASE("ca --help lists its subcommands") {
  RunResult help = Ok({"ca", "--help"});
  for (const char* sub : {"init", "issue", "revoke", "show"}) CHECK(help.out.find(sub) != std::string::npos);
  CHECK(RunDeltaswarm({"ca"}).exit_code == ExitCodeFor(Code::kInvalidArgument));
  CHECK(RunDeltaswarm({"ca", "issue", "--ca", "x"}).exit_code == ExitCodeFor(Code::kInvalidArgument));
}
