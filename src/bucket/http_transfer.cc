#include "bucket/http_transfer.h"

#include <fcntl.h>

#include "bucket/retry.h"
#include "bucket/s3_xml.h"
#include "core/file.h"

namespace deltaswarm {

namespace {

// FetchToFile starts writeback every this many bytes, so the disk works while
// the network does and the final fsync has little left to flush.
constexpr uint64_t kWritebackStep = 32ull << 20;
// Enough of an error body for an S3 error document's code and message.
constexpr size_t kErrorBodyBytes = 4096;

Status NotFoundAnswer(const HttpRequest& request) { return NotFound(request.Label() + ": not found"); }

}  // namespace

Result<HttpResponse> SendWithRetries(const HttpOptions& options, HttpRequest& request,
                                     const std::function<Status()>& before_attempt) {
  HttpResponse last;
  Status setup;
  int tries = RunWithRetries(options, [&](int) {
    if (before_attempt) setup = before_attempt();
    if (!setup.ok()) return AttemptOutcome::kDone;
    last = PerformHttp(options, request);
    if (!last.local.ok()) return AttemptOutcome::kDone;  // our own fault (disk, size limit): final
    return last.transient ? AttemptOutcome::kTransient : AttemptOutcome::kDone;
  });
  DS_RETURN_IF_ERROR(setup);
  DS_RETURN_IF_ERROR(last.local);
  std::string after = " (after " + std::to_string(tries) + (tries == 1 ? " attempt)" : " attempts)");
  if (!last.transport_error.empty()) return IoError(request.Label() + ": " + last.transport_error + after);
  if (last.transient) return UnexpectedAnswer(request, last, after.substr(1));
  return last;
}

void BoundRead(const HttpOptions& options, HttpRequest& request, uint64_t max_bytes, const StopSignal* stop) {
  request.max_body = max_bytes;
  request.deadline = options.budget.DeadlineFor(max_bytes);
  request.deadline_text = DescribeDeadline(options.budget, max_bytes);
  request.stop = stop ? stop : options.stop;
}

Status UnexpectedAnswer(const HttpRequest& request, const HttpResponse& response, const std::string& detail) {
  std::string why = ErrorDocumentSummary(response.error_body);
  std::string text = request.Label() + ": " + request.method + " answered HTTP " + std::to_string(response.status);
  if (!why.empty()) text += " (" + why + ")";
  if (!detail.empty()) text += " " + detail;
  return IoError(text);
}

Result<std::vector<std::byte>> FetchToMemory(const HttpOptions& options, HttpRequest request, uint64_t max_bytes) {
  std::vector<std::byte> data;
  BoundRead(options, request, max_bytes, nullptr);  // PerformHttp refuses a body past max_bytes
  request.error_body_bytes = kErrorBodyBytes;
  request.on_body = [&](uint64_t, std::span<const std::byte> chunk, int64_t total) -> Status {
    if (total >= 0 && data.empty()) data.reserve(static_cast<size_t>(total));
    data.insert(data.end(), chunk.begin(), chunk.end());
    return Status::Ok();
  };
  DS_ASSIGN_OR_RETURN(HttpResponse response, SendWithRetries(options, request, [&] {
                        data.clear();
                        return Status::Ok();
                      }));
  if (response.status == 404) return NotFoundAnswer(request);
  if (response.status != 200) return UnexpectedAnswer(request, response);
  return data;
}

Result<uint64_t> FetchToFile(const HttpOptions& options, HttpRequest request, const std::string& path,
                             uint64_t max_bytes, const ProgressFn& progress, const StopSignal* stop) {
  DS_ASSIGN_OR_RETURN(File out, File::CreateNew(path));
  TempOutputGuard guard(path);  // created by us: removed on any failure below (a stop, the bound, the deadline)
  uint64_t written = 0, flushed = 0;
  // PerformHttp aborts before a byte past max_bytes reaches on_body, so the
  // file never grows beyond it, whatever the server sends or claims.
  BoundRead(options, request, max_bytes, stop);
  request.error_body_bytes = kErrorBodyBytes;
  request.on_body = [&](uint64_t offset, std::span<const std::byte> chunk, int64_t total) -> Status {
    DS_RETURN_IF_ERROR(out.WriteAt(offset, chunk));
    written = offset + chunk.size();
    if (written - flushed >= kWritebackStep) {
      ::sync_file_range(out.fd(), static_cast<off64_t>(flushed), static_cast<off64_t>(written - flushed),
                        SYNC_FILE_RANGE_WRITE);  // a hint: errors surface in the final fsync
      flushed = written;
    }
    if (progress) progress("download", written, total >= 0 ? static_cast<uint64_t>(total) : 0);
    return Status::Ok();
  };
  // A retry starts over: drop what a broken attempt wrote.
  DS_ASSIGN_OR_RETURN(HttpResponse response, SendWithRetries(options, request, [&] {
                        written = flushed = 0;
                        return out.Truncate(0);
                      }));
  if (response.status == 404) return NotFoundAnswer(request);
  if (response.status != 200) return UnexpectedAnswer(request, response);
  if (response.content_length >= 0 && written != static_cast<uint64_t>(response.content_length)) {
    return IoError(request.Label() + ": got " + std::to_string(written) + " of " +
                   std::to_string(response.content_length) + " bytes");
  }
  DS_RETURN_IF_ERROR(out.Sync());
  DS_RETURN_IF_ERROR(out.Close());
  guard.Release();
  return written;
}

Result<uint64_t> FetchSize(const HttpOptions& options, HttpRequest request) {
  request.method = "HEAD";
  // No body (its Content-Length is the answer): the allowance alone.
  request.deadline = options.budget.DeadlineFor(0);
  request.deadline_text = DescribeDeadline(options.budget, 0);
  request.stop = options.stop;
  DS_ASSIGN_OR_RETURN(HttpResponse response, SendWithRetries(options, request));
  if (response.status == 404) return NotFoundAnswer(request);
  if (response.status != 200) return UnexpectedAnswer(request, response);
  if (response.content_length < 0) return IoError(request.Label() + ": HEAD answered without a Content-Length");
  return static_cast<uint64_t>(response.content_length);
}

Result<TextAnswer> FetchText(const HttpOptions& options, HttpRequest request, uint64_t max_bytes) {
  TextAnswer answer;
  BoundRead(options, request, max_bytes, nullptr);
  request.error_body_bytes = kErrorBodyBytes;
  request.on_body = [&](uint64_t, std::span<const std::byte> chunk, int64_t) -> Status {
    answer.body.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
    return Status::Ok();
  };
  DS_ASSIGN_OR_RETURN(answer.response, SendWithRetries(options, request, [&] {
                        answer.body.clear();
                        return Status::Ok();
                      }));
  answer.status = answer.response.status;
  return answer;
}

}  // namespace deltaswarm
