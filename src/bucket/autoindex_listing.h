// ParseAutoindexListing: the body of an nginx `autoindex_format json` listing,
//   [{"name":"a","type":"file","mtime":"...","size":1},{"name":"d","type":"directory",...}]
// -> its names, a directory's with a trailing '/', in the listing's order.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "deltaswarm/status.h"

namespace deltaswarm {

// kCorruption "<what>: bad listing ..." when the body is not such a listing.
// Read with a SAX pass that keeps only the names: a DOM of a hostile
// listing costs up to ~80 bytes per byte (64 MB of '[' would take ~5 GB).
Result<std::vector<std::string>> ParseAutoindexListing(std::string_view body, const std::string& what);

}  // namespace deltaswarm
