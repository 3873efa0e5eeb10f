// A small valid manifest for the manifest and signing tests.
#pragma once

#include <cstdio>
#include <string>

#include "deltaswarm/manifest.h"

namespace deltaswarm::testing {

inline Sha256 FakeSha(uint8_t seed) {
  Sha256 s;
  for (size_t i = 0; i < s.bytes.size(); ++i) s.bytes[i] = static_cast<uint8_t>(seed * 31 + i * 7);
  return s;
}

// Version 5 of "llama": a delta from 4 and a keyframe, `chunks` chunks each.
inline Manifest SampleManifest(size_t chunks = 2) {
  Manifest m;
  m.model = "llama";
  m.version = 5;
  m.parent = 4;
  m.target_is_directory = true;
  m.files = {{"model-00001.safetensors", 1000, FakeSha(1)}, {"sub/config.json", 77, FakeSha(2)}};
  for (const char* kind : {"delta", "keyframe"}) {
    ManifestArtifact a;
    a.kind = kind;
    a.dir = kind;
    a.base_version = a.kind == "delta" ? 4 : 0;
    a.index_size = 3600;
    a.index_sha256 = FakeSha(3);
    for (size_t i = 0; i < chunks; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "chunk-%06zu.dsc", i);
      a.chunks.push_back({name, 1000 + i, FakeSha(static_cast<uint8_t>(i))});
    }
    m.artifacts.push_back(std::move(a));
  }
  m.frame_bytes = 4 << 20;
  m.chunk_bytes = 32 << 20;
  m.zstd_level = -3;
  m.created = "2026-11-28T20:30:00Z";
  return m;
}

}  // namespace deltaswarm::testing
