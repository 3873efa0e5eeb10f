#include "bucket/s3_xml.h"

#include <array>
#include <cstdint>

namespace deltaswarm {

namespace {

bool IsNameEnd(char c) { return c == '>' || c == '/' || c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Decodes raw (text between tags); false on an unknown or malformed reference.
bool DecodeText(std::string_view raw, std::string& out) {
  out.clear();
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '&') {
      out.push_back(raw[i]);
      continue;
    }
    size_t semi = raw.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) return false;
    std::string_view ref = raw.substr(i + 1, semi - i - 1);
    if (ref == "amp") out.push_back('&');
    else if (ref == "lt") out.push_back('<');
    else if (ref == "gt") out.push_back('>');
    else if (ref == "quot") out.push_back('"');
    else if (ref == "apos") out.push_back('\'');
    else if (ref.size() >= 2 && ref[0] == '#') {
      bool hex = ref[1] == 'x';
      std::string_view digits = ref.substr(hex ? 2 : 1);
      if (digits.empty()) return false;
      uint32_t cp = 0;
      for (char c : digits) {
        int d = (c >= '0' && c <= '9') ? c - '0'
                : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                              : -1;
        if (d < 0) return false;
        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
        if (cp > 0x10FFFF) return false;
      }
      if (cp == 0) return false;
      AppendUtf8(out, cp);
    } else {
      return false;
    }
    i = semi;
  }
  return true;
}

}  // namespace

Status ScanXml(std::string_view body, const std::string& what,
               const std::function<Status(std::string_view path, std::string&& text)>& on_text) {
  auto bad = [&](const std::string& why) { return Corruption(what + ": bad XML answer: " + why); };
  std::string path;                       // "A/B/C"
  std::array<size_t, kMaxXmlDepth> starts{};  // where each open element's name starts in path
  size_t depth = 0;
  bool leaf = false;     // the innermost open element has no child yet
  size_t text_from = 0;  // where its text starts in body
  std::string text;
  size_t i = 0;
  while (i < body.size()) {
    size_t lt = body.find('<', i);
    if (lt == std::string_view::npos) break;
    if (body.compare(lt, 4, "<!--") == 0) {
      size_t end = body.find("-->", lt + 4);
      if (end == std::string_view::npos) return bad("unterminated comment");
      i = end + 3;
      continue;
    }
    size_t gt = body.find('>', lt);
    if (gt == std::string_view::npos) return bad("unterminated tag");
    std::string_view tag = body.substr(lt + 1, gt - lt - 1);
    i = gt + 1;
    if (tag.empty()) return bad("empty tag");
    if (tag[0] == '?' || tag[0] == '!') continue;  // the declaration, a doctype
    if (tag[0] == '/') {
      std::string_view name = tag.substr(1);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\n' || name.back() == '\r')) name.remove_suffix(1);
      if (depth == 0 || std::string_view(path).substr(starts[depth - 1]) != name)
        return bad("</" + std::string(name.substr(0, 64)) + "> closes nothing open");
      if (leaf) {
        if (!DecodeText(body.substr(text_from, lt - text_from), text)) return bad("a bad character reference");
        Status s = on_text(path, std::move(text));
        if (!s.ok()) return s;
      }
      --depth;
      path.resize(depth == 0 ? 0 : starts[depth] - 1);
      leaf = false;
      continue;
    }
    size_t name_len = 0;
    while (name_len < tag.size() && !IsNameEnd(tag[name_len])) ++name_len;
    if (name_len == 0) return bad("a tag without a name");
    bool self_closing = tag.back() == '/';
    if (depth == kMaxXmlDepth) return bad("nested too deeply");
    if (depth > 0) path.push_back('/');
    starts[depth++] = path.size();
    path.append(tag.substr(0, name_len));
    if (self_closing) {
      Status s = on_text(path, std::string());
      if (!s.ok()) return s;
      --depth;
      path.resize(depth == 0 ? 0 : starts[depth] - 1);
      leaf = false;
      continue;
    }
    leaf = true;
    text_from = i;
  }
  if (depth != 0) return bad("<" + path.substr(starts[depth - 1], 64) + "> is never closed");
  return Status::Ok();
}

Result<S3ListPage> ParseListObjectsV2(std::string_view body, const std::string& what) {
  S3ListPage page;
  bool seen_root = false;
  Status s = ScanXml(body, what, [&](std::string_view path, std::string&& text) -> Status {
    if (!path.starts_with("ListBucketResult")) return Status::Ok();
    seen_root = true;
    if (path == "ListBucketResult/Contents/Key") {
      page.keys.push_back(std::move(text));
    } else if (path == "ListBucketResult/CommonPrefixes/Prefix") {
      page.prefixes.push_back(std::move(text));
    } else if (path == "ListBucketResult/IsTruncated") {
      page.truncated = text == "true";
    } else if (path == "ListBucketResult/NextContinuationToken") {
      page.next_token = std::move(text);
    }
    return Status::Ok();
  });
  if (!s.ok()) return s;
  if (!seen_root && body.find("<ListBucketResult") == std::string_view::npos)
    return Corruption(what + ": the answer is not a ListBucketResult");
  if (page.truncated && page.next_token.empty())
    return Corruption(what + ": a truncated listing without a NextContinuationToken");
  return page;
}

Result<std::string> ParseUploadId(std::string_view body, const std::string& what) {
  std::string id;
  Status s = ScanXml(body, what, [&](std::string_view path, std::string&& text) -> Status {
    if (path == "InitiateMultipartUploadResult/UploadId") id = std::move(text);
    return Status::Ok();
  });
  if (!s.ok()) return s;
  if (id.empty()) return Corruption(what + ": no UploadId in the answer to a new multipart upload");
  return id;
}

std::string ErrorDocumentSummary(std::string_view body) {
  std::string code, message;
  Status s = ScanXml(body, "error", [&](std::string_view path, std::string&& text) -> Status {
    if (path == "Error/Code") code = std::move(text);
    if (path == "Error/Message") message = std::move(text);
    return Status::Ok();
  });
  if (!s.ok() || code.empty()) return {};
  std::string out = code + (message.empty() ? "" : ": " + message);
  constexpr size_t kMax = 300;
  if (out.size() > kMax) out = out.substr(0, kMax) + "...";
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

}  // namespace deltaswarm
