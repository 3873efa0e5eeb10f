// fuzz_frame_seeds DELTA_DIR BASE OUT_DIR [PER_MODE]: writes seeds for
// frame_decode_fuzz from a real delta (or keyframe) directory: for each frame
// mode, the first PER_MODE (default 2) frames whose base range fits the
// target's u16 length prefix, as u16 little-endian base length | base range |
// stored frame, to OUT_DIR/<mode>-<k>. BASE is the base checkpoint (a file
// for a single-file delta, a directory otherwise; "-" for a keyframe).
// Used by scripts/make_fuzz_corpus.sh.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "codec/frame_codec.h"
#include "core/file.h"
#include "deltaswarm/delta_index.h"

using namespace deltaswarm;

namespace {

std::vector<std::byte> ReadAll(const std::string& path) {
  auto bytes = ReadWholeFile(path, 1ull << 30);
  if (!bytes.ok()) {
    std::fprintf(stderr, "%s\n", bytes.status().message().c_str());
    std::exit(1);
  }
  return std::move(*bytes);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s DELTA_DIR BASE|- OUT_DIR [PER_MODE]\n", argv[0]);
    return 2;
  }
  const std::string delta = argv[1], base = argv[2], out = argv[3];
  const int per_mode = argc > 4 ? std::atoi(argv[4]) : 2;
  auto index = ReadDeltaIndex(delta);
  if (!index.ok()) {
    std::fprintf(stderr, "%s\n", index.status().message().c_str());
    return 1;
  }
  std::filesystem::create_directories(out);
  std::map<uint32_t, std::vector<std::byte>> chunks, bases;
  std::map<int, int> written;
  for (const DeltaFrame& f : index->frames) {
    const DeltaSegment& s = index->segments[f.segment];
    if (f.base_len > 0xffff || written[f.mode] >= per_mode) continue;
    if (!chunks.count(f.chunk)) chunks[f.chunk] = ReadAll(delta + "/" + index->chunks[f.chunk].name);
    std::vector<std::byte> seed;
    seed.push_back(std::byte(f.base_len & 0xff));
    seed.push_back(std::byte(f.base_len >> 8));
    if (f.base_len > 0) {
      if (base == "-") continue;
      if (!bases.count(s.base_file)) {
        const std::string path = index->target_is_directory ? base + "/" + index->base_files[s.base_file].path : base;
        bases[s.base_file] = ReadAll(path);
      }
      const auto& b = bases[s.base_file];
      seed.insert(seed.end(), b.begin() + f.base_offset, b.begin() + f.base_offset + f.base_len);
    }
    const auto& c = chunks[f.chunk];
    seed.insert(seed.end(), c.begin() + f.chunk_offset, c.begin() + f.chunk_offset + f.stored_len);
    const std::string name = std::string(FrameModeName(static_cast<FrameMode>(f.mode))) + "-" +
                             std::to_string(written[f.mode]++);
    std::ofstream(out + "/" + name, std::ios::binary)
        .write(reinterpret_cast<const char*>(seed.data()), static_cast<std::streamsize>(seed.size()));
  }
  for (const auto& [mode, n] : written)
    std::printf("%s: %d\n", FrameModeName(static_cast<FrameMode>(mode)), n);
  return 0;
}
