#include "codec/zstd_codec.h"

#include <zstd.h>

#include <algorithm>
#include <bit>
#include <memory>
#include <string>

namespace deltaswarm {
namespace {

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};
using CCtxPtr = std::unique_ptr<ZSTD_CCtx, CCtxFree>;
using DCtxPtr = std::unique_ptr<ZSTD_DCtx, DCtxFree>;

constexpr int kMinWindowLog = 10;  // ZSTD_WINDOWLOG_MIN, outside the stable API

Status ZstdError(const char* what, size_t code) {
  return Corruption(std::string(what) + ": " + ZSTD_getErrorName(code));
}

Status Compress(ZSTD_CCtx* cctx, std::span<const std::byte> in, std::vector<std::byte>* out) {
  const size_t start = out->size();
  out->resize(start + ZSTD_compressBound(in.size()));
  size_t n = ZSTD_compress2(cctx, out->data() + start, out->size() - start, in.data(), in.size());
  if (ZSTD_isError(n)) {
    out->resize(start);
    // Compression fails only on allocation or parameter errors, never on data.
    return InvalidArgument(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  }
  out->resize(start + n);
  return Status::Ok();
}

Status Decompress(ZSTD_DCtx* dctx, std::span<const std::byte> in, std::span<std::byte> out) {
  if (in.empty()) return Corruption("zstd payload is empty");
  // The header's content size, when present, must be exactly what we expect;
  // checking first rejects garbage before any work.
  unsigned long long declared = ZSTD_getFrameContentSize(in.data(), in.size());
  if (declared == ZSTD_CONTENTSIZE_ERROR) return Corruption("zstd payload is not a zstd frame");
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != out.size())
    return Corruption("zstd payload declares " + std::to_string(declared) + " bytes, expected " +
                      std::to_string(out.size()));
  size_t n = ZSTD_decompressDCtx(dctx, out.data(), out.size(), in.data(), in.size());
  if (ZSTD_isError(n)) return ZstdError("zstd payload is corrupt", n);
  if (n != out.size())
    return Corruption("zstd payload decodes to " + std::to_string(n) + " bytes, expected " +
                      std::to_string(out.size()));
  return Status::Ok();
}

}  // namespace

Status ZstdCompress(std::span<const std::byte> in, int level, std::vector<std::byte>* out) {
  CCtxPtr cctx(ZSTD_createCCtx());
  if (!cctx) return InvalidArgument("zstd: out of memory");
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
  return Compress(cctx.get(), in, out);
}

Status ZstdDecompress(std::span<const std::byte> in, std::span<std::byte> out) {
  DCtxPtr dctx(ZSTD_createDCtx());
  if (!dctx) return InvalidArgument("zstd: out of memory");
  ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kZstdMaxWindowLog);
  return Decompress(dctx.get(), in, out);
}

Status ZstdCompressWithPrefix(std::span<const std::byte> in, std::span<const std::byte> prefix,
                              int level, std::vector<std::byte>* out) {
  CCtxPtr cctx(ZSTD_createCCtx());
  if (!cctx) return InvalidArgument("zstd: out of memory");
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level);
  // The window must reach from the end of the target back into the whole
  // prefix, or the base is useless; the decoder allows up to the same cap.
  const uint64_t span = static_cast<uint64_t>(prefix.size()) + in.size();
  const int window_log =
      std::clamp(static_cast<int>(std::bit_width(span)), kMinWindowLog, kZstdMaxWindowLog);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_windowLog, window_log);
  if (!prefix.empty()) {
    size_t r = ZSTD_CCtx_refPrefix(cctx.get(), prefix.data(), prefix.size());
    if (ZSTD_isError(r)) return InvalidArgument(std::string("zstd prefix: ") + ZSTD_getErrorName(r));
  }
  return Compress(cctx.get(), in, out);
}

Status ZstdDecompressWithPrefix(std::span<const std::byte> in, std::span<const std::byte> prefix,
                                std::span<std::byte> out) {
  DCtxPtr dctx(ZSTD_createDCtx());
  if (!dctx) return InvalidArgument("zstd: out of memory");
  ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kZstdMaxWindowLog);
  if (!prefix.empty()) {
    size_t r = ZSTD_DCtx_refPrefix(dctx.get(), prefix.data(), prefix.size());
    if (ZSTD_isError(r)) return ZstdError("zstd prefix", r);
  }
  return Decompress(dctx.get(), in, out);
}

}  // namespace deltaswarm
