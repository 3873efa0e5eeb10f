#include "deltaswarm/status.h"

namespace deltaswarm {

int ExitCodeFor(Code code) {
  switch (code) {
    case Code::kOk: return 0;
    case Code::kInvalidArgument: return 2;
    case Code::kNotFound: return 3;
    case Code::kAlreadyExists: return 4;
    case Code::kCorruption: return 5;
    case Code::kMismatch: return 6;
    case Code::kUnsupported: return 7;
    case Code::kIoError: return 8;
    case Code::kNoSpace: return 9;
    case Code::kCancelled: return 10;
  }
  return 1;
}

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kNotFound: return "not_found";
    case Code::kAlreadyExists: return "already_exists";
    case Code::kCorruption: return "corruption";
    case Code::kMismatch: return "mismatch";
    case Code::kUnsupported: return "unsupported";
    case Code::kIoError: return "io_error";
    case Code::kNoSpace: return "no_space";
    case Code::kCancelled: return "cancelled";
  }
  return "unknown";
}

}  // namespace deltaswarm
