"""A small safetensors writer and reader (the safetensors package is not in Debian 12).

File layout (https://github.com/huggingface/safetensors, docs/FORMAT.md "Safetensors, as read"):

    8 bytes   N, the header length, unsigned little-endian
    N bytes   UTF-8 JSON: {"__metadata__": {str: str}, NAME: {"dtype": "BF16", "shape": [..],
              "data_offsets": [begin, end]}, ...}, padded with spaces so that 8 + N is a
              multiple of 8
    ...       the data area: each tensor's bytes, little-endian, row-major, back to back
              (offsets relative to the start of the data area, tiling it with no hole)

The writer streams one tensor at a time straight from its memory (a contiguous CPU
tensor is written through a uint8 view of it, no copy; a non-contiguous or GPU
tensor is copied alone, never the whole model), orders tensors by element width
(widest first, then by name) so that every tensor starts at an offset aligned to its
element size, and writes a temporary file beside the target that it renames into
place: a reader sees the old file or the new one, never a partial one.

The reader maps the file (mmap, copy-on-write: nothing is read until used and the
file is never written) and returns tensors that are views of the mapping.
"""
from __future__ import annotations

import json
import mmap
import os
import struct
import sys
import tempfile
from typing import Dict, Iterable, Iterator, Mapping, Optional, Tuple

import torch

if sys.byteorder != "little":  # pragma: no cover - the data area is little-endian
    raise ImportError("deltaswarm.safetensors supports little-endian hosts only")

# torch dtype <-> safetensors dtype name (torch 1.13 has no uint16/32/64 or float8).
DTYPES: Dict[torch.dtype, str] = {
    torch.bool: "BOOL",
    torch.uint8: "U8",
    torch.int8: "I8",
    torch.int16: "I16",
    torch.int32: "I32",
    torch.int64: "I64",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.float32: "F32",
    torch.float64: "F64",
}
for _name in ("float8_e4m3fn", "float8_e5m2", "uint16", "uint32", "uint64"):  # newer torch versions
    if hasattr(torch, _name):
        DTYPES[getattr(torch, _name)] = {"float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2", "uint16": "U16",
                                         "uint32": "U32", "uint64": "U64"}[_name]
NAMES: Dict[str, torch.dtype] = {v: k for k, v in DTYPES.items()}

MAX_HEADER_BYTES = 100 * 1000 * 1000  # what deltaswarm itself accepts


class SafetensorsError(ValueError):
    """A malformed safetensors file, or a tensor the format cannot hold."""


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()


def _numel(shape: Iterable[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _as_bytes(t: torch.Tensor):
    """A buffer of t's bytes (row-major), without a copy when t is a contiguous CPU tensor."""
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    if not t.is_contiguous():
        t = t.contiguous()
    if t.numel() == 0:
        return b""
    # A 1-D uint8 view of the same memory; numpy exposes it through the buffer protocol.
    return memoryview(t.reshape(-1).view(torch.uint8).numpy())


def _plan(tensors: Mapping[str, torch.Tensor], metadata: Optional[Mapping[str, str]]) -> Tuple[bytes, list]:
    """The padded header bytes (with its length prefix) and the tensors in data order."""
    entries = []
    for name, t in tensors.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise SafetensorsError(f"invalid tensor name {name!r}")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
            raise SafetensorsError(f"tensor name {name!r} has a control character")
        if not isinstance(t, torch.Tensor):
            raise SafetensorsError(f"{name}: not a tensor ({type(t).__name__})")
        if t.dtype not in DTYPES:
            raise SafetensorsError(f"{name}: dtype {t.dtype} has no safetensors name")
        if t.is_sparse or t.layout != torch.strided:
            raise SafetensorsError(f"{name}: only dense (strided) tensors can be written")
        entries.append((name, t))
    # Widest elements first: every tensor then starts aligned to its element size.
    entries.sort(key=lambda e: (-e[1].element_size(), e[0]))
    header: Dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for name, t in entries:
        size = t.numel() * t.element_size()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-(8 + len(raw)) % 8)  # the format allows trailing spaces
    return struct.pack("<Q", len(raw)) + raw, entries


def save(tensors: Mapping[str, torch.Tensor], path: str, metadata: Optional[Mapping[str, str]] = None,
         fsync: bool = False) -> int:
    """Writes tensors to path atomically (a temporary file beside it, then a rename); returns the file size.

    fsync=True also flushes the file and its directory to the disk before returning."""
    head, entries = _plan(tensors, metadata)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb", buffering=0) as f:
            written = f.write(head)
            for name, t in entries:
                buf = _as_bytes(t)
                view = memoryview(buf)
                while view:  # a raw file may write less than asked
                    n = f.write(view)
                    written += n
                    view = view[n:]
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if fsync:
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    return written


def _write_all(fd: int, head: bytes, entries: list) -> int:
    """Writes the header and every tensor's bytes to fd from its current offset; returns the bytes written."""
    written = 0
    for buf in _chunks(head, entries):
        view = memoryview(buf)
        while view:  # a raw write may write less than asked
            n = os.write(fd, view)
            written += n
            view = view[n:]
    return written


def _chunks(head: bytes, entries: list):
    yield head
    for _, t in entries:
        yield _as_bytes(t)  # one tensor's bytes at a time (a copy only for a non-contiguous tensor)


def overwrite(tensors: Mapping[str, torch.Tensor], path: str, metadata: Optional[Mapping[str, str]] = None,
              fsync: bool = False) -> int:
    """Rewrites the existing file at path in place (same inode, truncated or extended to the new size)
    with tensors; returns the file size.

    Not atomic: while it runs, and after a crash, path holds a mix of the old and the new bytes. It is
    for a file that nothing else reads or links: the pages of a file still in the page cache are
    written over instead of fresh ones being allocated (on a VM, touching fresh page-cache memory
    can cost several times the copy). Refuses a file with more than one hard link (another name of
    it would see its bytes change) with SafetensorsError."""
    head, entries = _plan(tensors, metadata)
    fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if st.st_nlink != 1:
            raise SafetensorsError(f"{path}: {st.st_nlink} hard links: not rewritten in place")
        written = _write_all(fd, head, entries)
        if st.st_size != written:
            os.ftruncate(fd, written)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return written


class TensorInfo:
    __slots__ = ("name", "dtype", "dtype_name", "shape", "begin", "end")

    def __init__(self, name, dtype, dtype_name, shape, begin, end):
        self.name, self.dtype, self.dtype_name, self.shape, self.begin, self.end = (
            name, dtype, dtype_name, shape, begin, end)

    def __repr__(self):
        return f"TensorInfo({self.name!r}, {self.dtype_name}, {list(self.shape)}, [{self.begin}, {self.end}])"


def parse_header(raw: bytes, data_len: int, path: str = "<buffer>") -> Tuple[Dict[str, TensorInfo], Dict[str, str]]:
    """Checks a header (the JSON bytes) against a data area of data_len bytes."""
    def dup_check(pairs):
        d = {}
        for k, v in pairs:
            if k in d:
                raise SafetensorsError(f"{path}: duplicate key {k!r} in the header")
            d[k] = v
        return d

    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=dup_check)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SafetensorsError(f"{path}: __metadata__ is not a map of strings")
    infos: Dict[str, TensorInfo] = {}
    for name, e in header.items():
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise SafetensorsError(f"{path}: tensor {name!r}: needs exactly dtype, shape and data_offsets")
        dtype_name, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
        if dtype_name not in NAMES:
            raise SafetensorsError(f"{path}: tensor {name!r}: dtype {dtype_name!r} is not supported by this torch")
        if (not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                   for d in shape)):
            raise SafetensorsError(f"{path}: tensor {name!r}: bad shape {shape!r}")
        if (not isinstance(offs, list) or len(offs) != 2 or not all(isinstance(o, int) for o in offs)
                or not 0 <= offs[0] <= offs[1] <= data_len):
            raise SafetensorsError(f"{path}: tensor {name!r}: data_offsets {offs!r} outside the data area "
                                   f"of {data_len} bytes")
        dtype = NAMES[dtype_name]
        if offs[1] - offs[0] != _numel(shape) * _itemsize(dtype):
            raise SafetensorsError(f"{path}: tensor {name!r}: {offs[1] - offs[0]} bytes for shape {shape} of "
                                   f"{dtype_name}")
        infos[name] = TensorInfo(name, dtype, dtype_name, tuple(shape), offs[0], offs[1])
    # The ranges, sorted, tile the data area exactly.
    pos = 0
    for info in sorted(infos.values(), key=lambda i: (i.begin, i.end)):
        if info.begin != pos:
            raise SafetensorsError(f"{path}: tensor {info.name!r}: data starts at {info.begin}, expected {pos} "
                                   "(a hole or an overlap)")
        pos = info.end
    if pos != data_len:
        raise SafetensorsError(f"{path}: {data_len - pos} bytes after the last tensor")
    return infos, metadata


class SafetensorsFile:
    """A mapped safetensors file: .tensors (name -> TensorInfo), .metadata, .get(name) -> a view.

    Tensors returned by get() are views of the mapping (copy-on-write: writing to them
    never changes the file); they stay valid after close() only as long as they are
    referenced, since torch keeps the mapping's buffer alive."""

    def __init__(self, path: str):
        self.path = path
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < 8:
                raise SafetensorsError(f"{path}: {size} bytes: too short for a safetensors file")
            (n,) = struct.unpack("<Q", f.read(8))
            if n > MAX_HEADER_BYTES or 8 + n > size:
                raise SafetensorsError(f"{path}: header length {n} does not fit the file of {size} bytes")
            raw = f.read(n)
            self._data_start = 8 + n
            self.tensors, self.metadata = parse_header(raw, size - self._data_start, path)
            self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) if size > self._data_start else None

    def keys(self):
        return self.tensors.keys()

    def get(self, name: str) -> torch.Tensor:
        info = self.tensors[name]
        n = _numel(info.shape)
        if n == 0:
            return torch.empty(info.shape, dtype=info.dtype)
        t = torch.frombuffer(self._map, dtype=info.dtype, count=n, offset=self._data_start + info.begin)
        return t.reshape(info.shape)

    def items(self) -> Iterator[Tuple[str, torch.Tensor]]:
        for name in self.tensors:
            yield name, self.get(name)

    def close(self):
        self._map = None  # the mapping is released once no tensor references it

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def load(path: str) -> Dict[str, torch.Tensor]:
    """All tensors of a file, as views of its mapping (no copy)."""
    f = SafetensorsFile(path)
    return dict(f.items())
