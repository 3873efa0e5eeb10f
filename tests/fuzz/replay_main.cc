// A stand-in for libFuzzer's main, so that every fuzz target also builds with
// the normal compiler as <name>_replay: it calls LLVMFuzzerTestOneInput once
// for each file given, and for each regular file under each directory given
// (recursively, in sorted order). A crash, a sanitizer report or an abort in
// the target ends the process, naming the input on stderr first; otherwise it
// prints how many inputs it ran and exits 0. This is how ctest replays the
// committed corpora (tests/fuzz/corpus) on every build, without clang.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace fs = std::filesystem;

namespace {

bool ReadFile(const fs::path& path, std::vector<uint8_t>& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return !f.bad();
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
    return 2;
  }
  std::vector<fs::path> inputs;
  for (int i = 1; i < argc; ++i) {
    std::error_code ec;
    const fs::path arg(argv[i]);
    if (fs::is_directory(arg, ec)) {
      std::vector<fs::path> found;
      for (const auto& e : fs::recursive_directory_iterator(arg, ec))
        if (e.is_regular_file()) found.push_back(e.path());
      if (ec) {
        std::fprintf(stderr, "%s: cannot list: %s\n", argv[i], ec.message().c_str());
        return 2;
      }
      std::sort(found.begin(), found.end());
      inputs.insert(inputs.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(arg, ec)) {
      inputs.push_back(arg);
    } else {
      std::fprintf(stderr, "%s: no such file or directory\n", argv[i]);
      return 2;
    }
  }
  std::vector<uint8_t> data;
  for (const fs::path& p : inputs) {
    if (!ReadFile(p, data)) {
      std::fprintf(stderr, "%s: cannot read\n", p.c_str());
      return 2;
    }
    // Named before the run, so that a crash says which input it was.
    std::fprintf(stderr, "replay %s (%zu bytes)\n", p.c_str(), data.size());
    // A copy of exactly size bytes, as libFuzzer passes: reads past the end
    // are caught by ASan in a sanitized build.
    // (libFuzzer passes a valid pointer even for an empty input.)
    std::vector<uint8_t> input(data);
    static uint8_t empty;
    LLVMFuzzerTestOneInput(input.empty() ? &empty : input.data(), input.size());
  }
  std::printf("%s: %zu inputs, no crash\n", argv[0], inputs.size());
  return 0;
}
