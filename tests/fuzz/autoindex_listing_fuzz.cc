// libFuzzer target: the input is the body of a bucket's directory listing
// (nginx `autoindex_format json`), as HttpBucket::List reads it. The SAX
// parser must return names or a one-line Status for anything.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "bucket/autoindex_listing.h"

using namespace deltaswarm;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto names = ParseAutoindexListing(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz/");
  if (!names.ok() && names.status().message().find('\n') != std::string::npos) std::abort();
  return 0;
}
