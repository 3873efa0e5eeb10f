#!/usr/bin/env python3
"""Writes the golden safetensors files under tests/golden/safetensors.

One valid file and one corrupt file per fault the header parser checks; the
expected errors are listed in tests/golden/README.md and asserted by
tests/format/safetensors_test.cc. Deterministic: rerunning rewrites identical
bytes. Usage: python3 tests/golden/make_golden.py
"""
import json
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "safetensors")


def header(obj_or_text):
    """Length-prefixed JSON header, space-padded to 8 bytes like the reference writer."""
    text = obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text)
    raw = text.encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw


def tensor(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def data(n, seed=1):
    return bytes((seed * 31 + i * 7) & 0xFF for i in range(n))


def write(name, content):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(content)


def main():
    os.makedirs(OUT, exist_ok=True)
    # Valid: keys out of offset order, metadata, an unknown dtype, an empty tensor.
    valid = {
        "__metadata__": {"format": "pt", "note": "golden"},
        "b.bias": tensor("BF16", [4], 24, 32),
        "a.weight": tensor("F32", [2, 3], 0, 24),
        "c.scale": tensor("F8_E8M0", [5], 32, 37),
        "d.empty": tensor("F16", [0, 3], 37, 37),
    }
    write("valid.safetensors", header(valid) + data(37))

    write("truncated.safetensors", b"\x10\x00\x00\x00\x00")
    write("header_past_end.safetensors", struct.pack("<Q", 1000) + b'{"a": 1}' + b" " * 24)
    write("header_too_large.safetensors", struct.pack("<Q", 200_000_000) + b"{}      ")
    write("bad_json.safetensors", header('{"w": {"dtype": "F32", "shape": [2]') + data(8))
    write("not_object.safetensors", header("[1, 2, 3]"))
    write("missing_offsets.safetensors", header({"w": {"dtype": "F32", "shape": [2]}}) + data(8))
    write("offsets_reversed.safetensors", header({"w": tensor("U8", [8], 8, 0)}) + data(8))
    write("size_mismatch.safetensors", header({"w": tensor("F32", [2, 3], 0, 20)}) + data(20))
    write("hole.safetensors",
          header({"v": tensor("U8", [8], 0, 8), "w": tensor("U8", [8], 16, 24)}) + data(24))
    write("overlap.safetensors",
          header({"v": tensor("U8", [16], 0, 16), "w": tensor("U8", [10], 10, 20)}) + data(20))
    write("past_end.safetensors", header({"w": tensor("U8", [16], 0, 16)}) + data(8))
    write("trailing.safetensors", header({"w": tensor("U8", [8], 0, 8)}) + data(12))
    # json.dumps cannot write a duplicate key, so this header is written by hand.
    dup = ('{"w": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}, '
           '"w": {"dtype": "U8", "shape": [4], "data_offsets": [4, 8]}}')
    write("duplicate_name.safetensors", header(dup) + data(8))
    write("negative_shape.safetensors", header({"w": tensor("U8", [-4], 0, 4)}) + data(4))
    write("float_shape.safetensors", header({"w": tensor("U8", [4.0], 0, 4)}) + data(4))
    write("bad_metadata.safetensors",
          header({"__metadata__": {"epoch": 3}, "w": tensor("U8", [4], 0, 4)}) + data(4))


if __name__ == "__main__":
    main()
