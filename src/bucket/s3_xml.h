// The XML documents an S3 server answers with, read by one linear scan that
// keeps only the few leaf texts asked for: ListObjectsV2 pages, the upload id
// of a new multipart upload, and error documents. A hostile server costs at
// most the body's size (itself bounded by the request) plus what is kept;
// nesting is limited (kMaxXmlDepth) and nothing is recursive.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "deltaswarm/status.h"

namespace deltaswarm {

inline constexpr size_t kMaxXmlDepth = 16;

// Calls on_text(path, text) for each element that holds only text, with its
// path from the root ("ListBucketResult/Contents/Key") and its text with the
// five named entities and numeric references decoded; an empty element gives
// "". kCorruption "<what>: bad XML ..." on malformed input (mismatched tags,
// too deep, an unterminated tag, a bad reference).
Status ScanXml(std::string_view body, const std::string& what,
               const std::function<Status(std::string_view path, std::string&& text)>& on_text);

// One page of ListObjectsV2: keys and common prefixes as full keys, in the page's order.
struct S3ListPage {
  std::vector<std::string> keys;
  std::vector<std::string> prefixes;
  bool truncated = false;
  std::string next_token;
};
Result<S3ListPage> ParseListObjectsV2(std::string_view body, const std::string& what);

// InitiateMultipartUploadResult -> UploadId; kCorruption when absent.
Result<std::string> ParseUploadId(std::string_view body, const std::string& what);

// "NoSuchKey: The specified key does not exist." from an S3 error document;
// empty for anything else (nginx's HTML page, nothing).
std::string ErrorDocumentSummary(std::string_view body);

}  // namespace deltaswarm
