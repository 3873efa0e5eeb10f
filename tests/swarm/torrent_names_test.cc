// CheckTorrentNames: control characters in a torrent's names are refused.
#include "swarm/torrent_names.h"

#include <doctest/doctest.h>

#include <filesystem>

#include "deltaswarm/swarm.h"
#include "test_util.h"

using namespace deltaswarm;
using namespace deltaswarm::testing;

namespace {

// A torrent of one directory holding `file`, named `name`, checked.
Status CheckOf(const std::string& file, const std::string& name = "delta") {
  TempDir tmp;
  const std::string dir = tmp / "delta";
  std::filesystem::create_directories(dir);
  WriteBytes(dir + "/index.dsi", RandomBytes(100, 1));
  WriteBytes(dir + "/" + file, RandomBytes(5000, 2));
  auto t = MakeTorrent(dir, name, {});
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  lt::torrent_info ti(lt::span<const char>(reinterpret_cast<const char*>(t->bytes.data()),
                                           static_cast<std::ptrdiff_t>(t->bytes.size())),
                      lt::from_span);
  return CheckTorrentNames(ti);
}

}  // namespace

TEST_CASE("a torrent's file names and name hold no control character") {
  CHECK(CheckOf("chunk-000000.dsc").ok());
  CHECK(CheckOf("gr\xc3\xbc\xc3\x9f.dsc").ok());
  for (const auto& [bad, escaped] : {std::pair<std::string, std::string>{"a\nb", "\"a\\x0ab\""},
                                     {"\x1b[31mred", "\"\\x1b[31mred\""}, {"tab\t", "\"tab\\x09\""},
                                     {"del\x7f", "\"del\\x7f\""}}) {
    CAPTURE(escaped);
    Status s = CheckOf(bad);
    CHECK(s.code() == Code::kCorruption);
    CHECK_MESSAGE(s.message().find("file name " + escaped + " holds a control character") != std::string::npos,
                  s.message());
    for (char c : s.message()) CHECK((static_cast<unsigned char>(c) >= 0x20 && c != 0x7f));
    s = CheckOf("chunk-000000.dsc", "delta" + bad);
    CHECK(s.code() == Code::kCorruption);
    CHECK_MESSAGE(s.message().find("holds a control character") != std::string::npos, s.message());
    for (char c : s.message()) CHECK((static_cast<unsigned char>(c) >= 0x20 && c != 0x7f));
  }
}
