// Status and Result: the one error style of the library. Every fallible
// function returns one of them; the CLI maps codes to documented exit codes.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace deltaswarm {

// A small closed set; each has a fixed exit code (see ExitCodeFor).
enum class Code {
  kOk = 0,
  kInvalidArgument,  // bad command line or option value
  kNotFound,         // a file, chunk or tensor that should exist does not
  kAlreadyExists,    // an output exists and --force was not given
  kCorruption,       // malformed or tampered input (hash mismatch, bad header)
  kMismatch,         // well-formed input that does not belong here (wrong base)
  kUnsupported,      // an unknown format version or feature
  kIoError,          // the operating system refused a read, write or rename
  kNoSpace,          // the output's filesystem is full
  kCancelled,
};

// Process exit code for a status code; documented in README.md.
int ExitCodeFor(Code code);
const char* CodeName(Code code);

// Holds Ok or an error code with a message that names the thing and the fault,
// e.g. "chunk-000017.dsc: sha256 mismatch". Cheap to copy when Ok.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "message" for errors, "ok" otherwise.
  std::string ToString() const { return ok() ? "ok" : message_; }
  // Returns a copy with "prefix: " in front of the message.
  Status Prefixed(const std::string& prefix) const {
    return ok() ? *this : Status(code_, prefix + ": " + message_);
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
inline Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
inline Status Mismatch(std::string m) { return {Code::kMismatch, std::move(m)}; }
inline Status Unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }
inline Status IoError(std::string m) { return {Code::kIoError, std::move(m)}; }
inline Status NoSpace(std::string m) { return {Code::kNoSpace, std::move(m)}; }

// A value or an error Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Status status) : v_(std::move(status)) { assert(!std::get<Status>(v_).ok()); }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace deltaswarm

#define DS_CONCAT_INNER(a, b) a##b
#define DS_CONCAT(a, b) DS_CONCAT_INNER(a, b)

// Returns the status from the enclosing function when it is an error.
#define DS_RETURN_IF_ERROR(expr)                      \
  do {                                                \
    ::deltaswarm::Status ds_status_ = (expr);         \
    if (!ds_status_.ok()) return ds_status_;          \
  } while (0)

// `DS_ASSIGN_OR_RETURN(auto x, F())` declares x from F()'s value or returns its error.
#define DS_ASSIGN_OR_RETURN(lhs, expr) \
  DS_ASSIGN_OR_RETURN_IMPL(DS_CONCAT(ds_result_, __LINE__), lhs, expr)
#define DS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                             \
  if (!tmp.ok()) return tmp.status();            \
  lhs = std::move(tmp).value()
