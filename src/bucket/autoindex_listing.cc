#include "bucket/autoindex_listing.h"

#include <nlohmann/json.hpp>

#include <optional>

namespace deltaswarm {

namespace {

using Json = nlohmann::json;

// nlohmann's message quotes the input it stopped at: keep it short and on one line.
std::string Printable(std::string_view s) {
  constexpr size_t kMax = 200;
  std::string out(s.substr(0, kMax));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return s.size() > kMax ? out + "..." : out;
}

// Depth 1 is the array, 2 an entry; nginx writes nothing deeper, but an
// unknown member's value is skipped up to kMaxDepth.
class ListingReader {
 public:
  static constexpr size_t kMaxDepth = 16;

  std::vector<std::string>& names() { return names_; }
  const std::string& error() const { return error_; }

  bool null() { return Value(nullptr); }
  bool boolean(bool) { return Value(nullptr); }
  bool number_integer(Json::number_integer_t) { return Value(nullptr); }
  bool number_unsigned(Json::number_unsigned_t) { return Value(nullptr); }
  bool number_float(Json::number_float_t, const std::string&) { return Value(nullptr); }
  bool string(std::string& v) { return Value(&v); }
  bool binary(Json::binary_t&) { return Value(nullptr); }
  bool start_object(std::size_t) {
    if (depth_ == 0) return Fail("listing is not a JSON array (autoindex_format json?)");
    if (depth_ == 1) {
      name_.reset();
      directory_ = false;
    }
    return Open();
  }
  bool start_array(std::size_t) {
    if (depth_ == 1) return Fail("bad listing (autoindex_format json?): an entry is not an object");
    return Open();
  }
  bool end_object() {
    if (--depth_ != 1) return true;
    if (!name_) return Fail("bad listing (autoindex_format json?): an entry has no string \"name\"");
    names_.push_back(directory_ ? std::move(*name_) + "/" : std::move(*name_));
    return true;
  }
  bool end_array() {
    --depth_;
    return true;
  }
  bool key(std::string& k) {
    member_ = depth_ == 2 ? (k == "name" ? Member::kName : k == "type" ? Member::kType : Member::kOther)
                          : Member::kOther;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    return Fail(std::string("bad listing (autoindex_format json?): ") + Printable(e.what()));
  }

 private:
  enum class Member { kName, kType, kOther };

  bool Open() {
    if (++depth_ > kMaxDepth) return Fail("bad listing (autoindex_format json?): nested too deeply");
    member_ = Member::kOther;  // a container is neither a name nor a type
    return true;
  }
  // A scalar; `s` is set for a string. A repeated member counts as its last.
  bool Value(std::string* s) {
    if (depth_ == 0) return Fail("listing is not a JSON array (autoindex_format json?)");
    if (depth_ == 1) return Fail("bad listing (autoindex_format json?): an entry is not an object");
    if (depth_ == 2 && member_ == Member::kName) {
      if (s == nullptr) return Fail("bad listing (autoindex_format json?): an entry has no string \"name\"");
      name_ = std::move(*s);
    } else if (depth_ == 2 && member_ == Member::kType) {
      if (s == nullptr) return Fail("bad listing (autoindex_format json?): an entry's \"type\" is not a string");
      directory_ = *s == "directory";
    }
    return true;
  }
  bool Fail(const std::string& message) {
    if (error_.empty()) error_ = message;
    return false;
  }

  size_t depth_ = 0;
  Member member_ = Member::kOther;
  std::optional<std::string> name_;
  bool directory_ = false;
  std::vector<std::string> names_;
  std::string error_;
};

}  // namespace

Result<std::vector<std::string>> ParseAutoindexListing(std::string_view body, const std::string& what) {
  ListingReader reader;
  bool parsed;
  try {
    parsed = Json::sax_parse(body.begin(), body.end(), &reader, Json::input_format_t::json, /*strict=*/true);
  } catch (const Json::exception& e) {  // errors come through parse_error; this is belt and braces
    return Corruption(what + ": bad listing (autoindex_format json?): " + Printable(e.what()));
  }
  if (!parsed) return Corruption(what + ": " + (reader.error().empty() ? "bad listing" : reader.error()));
  return std::move(reader.names());
}

}  // namespace deltaswarm
