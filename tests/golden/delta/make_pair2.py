#!/usr/bin/env python3
"""Writes base2.safetensors and target2.safetensors: the golden pair of frame
version 2 (stdlib only, deterministic). Weights spread over many exponents and
change with a probability that falls with their magnitude, as under AdamW, so
the class-sparse coder wins and its frames are pinned by v2/; fp32 masters
that all move give a class-dense frame.

    python3 tests/golden/delta/make_pair2.py && \
      deltaswarm diff base2.safetensors target2.safetensors -o v2 --frame-size 64Ki
"""
import json
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def bf16_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0] >> 16


def write(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    rng = random.Random(2)
    n = 40000
    old, new = [], []
    for _ in range(n):
        w = rng.gauss(0, 0.02)
        bits = bf16_bits(w)
        # One ulp up or down, more likely the smaller the weight.
        exponent = (bits >> 7) & 0xFF
        p = min(0.5, 0.03 * 2.0 ** (118 - exponent))
        moved = bits
        if rng.random() < p:
            moved = (bits + (1 if rng.random() < 0.5 else -1)) & 0xFFFF
        old.append(bits)
        new.append(moved)
    # fp32 masters: every element moves by about lr / ulp(w) ulps (class-dense).
    master_old, master_new = [], []
    for _ in range(3000):
        bits = struct.unpack("<I", struct.pack("<f", rng.gauss(0, 0.02)))[0]
        exponent = (bits >> 23) & 0xFF
        ulps = max(1, int(2.0 ** max(0, 127 - exponent + 4) * rng.random()))
        magnitude = (bits & 0x7FFFFFFF) + (ulps if rng.random() < 0.5 else -ulps)
        master_old.append(bits)
        master_new.append((bits & 0x80000000) | max(0, magnitude))
    pack = lambda v: struct.pack("<%dH" % len(v), *v)
    pack32 = lambda v: struct.pack("<%dI" % len(v), *v)
    write(os.path.join(HERE, "base2.safetensors"),
          [("m", "F32", [3000], pack32(master_old)), ("w", "BF16", [200, 200], pack(old))])
    write(os.path.join(HERE, "target2.safetensors"),
          [("m", "F32", [3000], pack32(master_new)), ("w", "BF16", [200, 200], pack(new))])


if __name__ == "__main__":
    main()
