#include "bucket/autoindex_listing.h"

#include <doctest/doctest.h>

#include "format/peak_rss.h"

using namespace deltaswarm;
using deltaswarm::testing::PeakRssGrowth;

namespace {

Result<std::vector<std::string>> Parse(const std::string& body) { return ParseAutoindexListing(body, "http://b/m/"); }

void ExpectBad(const std::string& body, const std::string& needle) {
  auto r = Parse(body);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == Code::kCorruption);
  CHECK_MESSAGE(r.status().message().rfind("http://b/m/: ", 0) == 0, r.status().message());
  CHECK_MESSAGE(r.status().message().find(needle) != std::string::npos, r.status().message());
  CHECK(r.status().message().size() < 400);
}

}  // namespace

TEST_CASE("nginx's listing: names in order, directories with a '/'") {
  auto r = Parse(R"([
{ "name":"refs", "type":"directory", "mtime":"Thu, 04 Dec 2026 01:44:34 GMT" },
{ "name":"a.json", "type":"file", "mtime":"Thu, 04 Dec 2026 01:44:34 GMT", "size":12 },
{ "name":"x", "type":"other", "extra":{"n":[1,2]}, "type":"directory" }
])");
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  CHECK(*r == std::vector<std::string>{"refs/", "a.json", "x/"});
  CHECK(Parse("[]")->empty());
}

TEST_CASE("anything else is a bad listing") {
  ExpectBad("{}", "not a JSON array");
  ExpectBad("7", "not a JSON array");
  ExpectBad("[1]", "an entry is not an object");
  ExpectBad("[[]]", "an entry is not an object");
  ExpectBad(R"([{"type":"file"}])", "no string \"name\"");
  ExpectBad(R"([{"name":5}])", "no string \"name\"");
  ExpectBad(R"([{"name":"a","type":1}])", "\"type\" is not a string");
  ExpectBad(R"([{"name":"a"})", "bad listing");
  ExpectBad("[{\"name\":\"" + std::string(1 << 20, 'x') + "\x01\"}]", "bad listing");
}

TEST_CASE("hostile listings are refused in memory bounded by their size") {
  const size_t n = 16u << 20;
  std::string objects = "[";
  while (objects.size() < n) objects += "{\"a\":[";
  for (const std::string& body : {std::string(n, '['), objects}) {
    CAPTURE(body.substr(0, 20));
    const int64_t growth = PeakRssGrowth([&] { (void)Parse(body); });
    ExpectBad(body, "bad listing");
    REQUIRE(growth >= 0);
    MESSAGE("peak RSS growth ", growth, " bytes for ", body.size(), " listing bytes");
    CHECK(growth < 4 * static_cast<int64_t>(body.size()));
  }
  // Many small entries: the names, not a tree of them.
  std::string many = "[";
  while (many.size() < n) many += R"({"name":"chunk-000000.dsc","type":"file","size":1},)";
  many.back() = ']';
  std::vector<std::string> names;
  const int64_t growth = PeakRssGrowth([&] { names = *Parse(many); });
  REQUIRE(growth >= 0);
  MESSAGE("peak RSS growth ", growth, " bytes for ", many.size(), " listing bytes");
  CHECK(growth < 4 * static_cast<int64_t>(many.size()));
}
