#include "bucket/s3_credentials.h"

#include <fstream>
#include <sstream>
#include <string_view>

namespace deltaswarm {

namespace {

// A credentials file is a few lines; a larger one is not read past this.
constexpr size_t kMaxCredentialsFile = 1 << 20;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The INI file's [profile] section, as the AWS CLI reads it: "key = value"
// lines, '#' and ';' comment lines.
bool ReadProfile(const std::string& text, const std::string& profile, S3Credentials& out) {
  std::istringstream lines(text);
  std::string line;
  bool in_section = false, found = false;
  while (std::getline(lines, line)) {
    std::string_view l = Trim(line);
    if (l.empty() || l.front() == '#' || l.front() == ';') continue;
    if (l.front() == '[') {
      in_section = l.back() == ']' && Trim(l.substr(1, l.size() - 2)) == profile;
      found = found || in_section;
      continue;
    }
    if (!in_section) continue;
    size_t eq = l.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = Trim(l.substr(0, eq)), value = Trim(l.substr(eq + 1));
    if (key == "aws_access_key_id") out.access_key = value;
    else if (key == "aws_secret_access_key") out.secret_key = value;
    else if (key == "aws_session_token") out.session_token = value;
  }
  return found;
}

}  // namespace

Result<S3Credentials> FindS3Credentials(const std::string& profile_asked, const Environment& env) {
  S3Credentials c;
  c.access_key = env("AWS_ACCESS_KEY_ID");
  c.secret_key = env("AWS_SECRET_ACCESS_KEY");
  if (!c.access_key.empty() || !c.secret_key.empty()) {
    if (c.access_key.empty()) return InvalidArgument("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
    if (c.secret_key.empty()) return InvalidArgument("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    c.session_token = env("AWS_SESSION_TOKEN");
    c.source = "environment";
    return c;
  }
  std::string profile = !profile_asked.empty() ? profile_asked : env("AWS_PROFILE");
  if (profile.empty()) profile = "default";
  std::string path = env("AWS_SHARED_CREDENTIALS_FILE");
  if (path.empty()) {
    std::string home = env("HOME");
    path = (home.empty() ? "~" : home) + "/.aws/credentials";
  }
  std::string looked = "no AWS credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are unset and " + path;
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(looked + " cannot be read");
  std::string text(kMaxCredentialsFile, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (!ReadProfile(text, profile, c)) return InvalidArgument(looked + " has no profile [" + profile + "]");
  if (c.access_key.empty() || c.secret_key.empty()) {
    return InvalidArgument(path + " [" + profile + "]: needs both aws_access_key_id and aws_secret_access_key");
  }
  c.source = path + " [" + profile + "]";
  return c;
}

}  // namespace deltaswarm
