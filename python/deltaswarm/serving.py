"""The serving side: follow a node's versions and swap them into a live module in place.

The swap pattern (one lock; requests never see a mix of two versions):

    lock = threading.Lock()
    def on_version(version, path):
        deltaswarm.load_into(model, path, lock=lock)   # validates outside the lock, copies inside it
    def handle(request):
        with lock:                                     # a request runs on one version, whole
            return model(request)

load_into reads and checks every file and every tensor (names, dtypes, shapes, offsets)
before it copies anything, so an error leaves the module exactly as it was; the copy
itself (param.copy_(src) under torch.no_grad(), into the existing storage, no new
tensors) runs while it holds `lock`. To change more state with the weights atomically
(a version number, a cache to drop), split it: plan = prepare_load(model, path), then
`with lock: plan.apply(); ...`.
"""
from __future__ import annotations

import ctypes
import dataclasses
import json
import logging
import os
import re
import signal
import subprocess
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import torch

from . import cli, safetensors

log = logging.getLogger("deltaswarm")

OnVersion = Callable[[int, str], Any]


class LoadError(ValueError):
    """load_into found a mismatch between the checkpoint and the module; nothing was copied."""


@dataclasses.dataclass
class LoadReport:
    path: str
    copied: List[str]
    missing: List[str]      # in the module, not in the checkpoint (strict=False only)
    unexpected: List[str]   # in the checkpoint, not in the module (strict=False only)
    bytes: int
    seconds: float


def checkpoint_files(path: str) -> List[str]:
    """The safetensors files of a checkpoint: the file itself, the shards a directory's
    model.safetensors.index.json names, or every *.safetensors file of a directory."""
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path}: no such checkpoint")
    index = os.path.join(path, "model.safetensors.index.json")
    if os.path.isfile(index):
        with open(index) as f:
            weight_map = json.load(f).get("weight_map", {})
        shards = sorted(set(weight_map.values()))
        return [os.path.join(path, s) for s in shards]
    files = sorted(f for f in os.listdir(path) if f.endswith(".safetensors"))
    if not files:
        raise FileNotFoundError(f"{path}: no .safetensors file in the directory")
    return [os.path.join(path, f) for f in files]


class PreparedLoad:
    """A checked load (prepare_load): apply() copies every tensor into the module in place.

    Between prepare_load and apply nothing is changed; apply copies (into the existing
    storage, under torch.no_grad()) and can be called while holding the lock requests
    take, with anything else that must see the new version atomically:

        plan = deltaswarm.prepare_load(net, path)     # reads headers, checks names/dtypes/shapes
        with lock:
            plan.apply()
            current_version = version
    """

    def __init__(self, path, files, pairs, missing, unexpected, nbytes, t0):
        self.path, self._files, self._pairs = path, files, pairs
        self.missing, self.unexpected, self.bytes, self._t0 = missing, unexpected, nbytes, t0
        self.applied = False

    @property
    def names(self) -> List[str]:
        return [n for n, _, _ in self._pairs]

    def apply(self) -> LoadReport:
        if self.applied:
            raise RuntimeError(f"{self.path}: this load was applied already")
        with torch.no_grad():
            for _, dst, src in self._pairs:
                dst.copy_(src)  # into the existing storage: same tensor objects, same data pointers
        self.applied = True
        names = self.names
        self._pairs = []
        for f in self._files:
            f.close()
        return LoadReport(self.path, names, self.missing, self.unexpected, self.bytes,
                          time.monotonic() - self._t0)


def prepare_load(module: torch.nn.Module, path: str, strict: bool = True, prefix: str = "") -> PreparedLoad:
    """Checks the checkpoint at path against module (see load_into) without changing anything."""
    t0 = time.monotonic()
    real = os.path.realpath(path)
    files = [safetensors.SafetensorsFile(f) for f in checkpoint_files(real)]
    source: Dict[str, Any] = {}
    for f in files:
        for name in f.tensors:
            if name in source:
                raise LoadError(f"{real}: tensor {name!r} is in two files ({source[name][0].path} and {f.path})")
            source[name] = (f, f.tensors[name])
    targets = {prefix + k: v for k, v in module.state_dict(keep_vars=True).items() if v is not None}
    problems = []
    # A tied tensor (lm_head.weight is embed_tokens.weight) stored once under either name is not missing.
    present = {id(v) for n, v in targets.items() if n in source}
    missing = [n for n, v in targets.items() if n not in source and id(v) not in present]
    unexpected = [n for n in source if n not in targets]
    if strict and missing:
        problems.append(f"missing in the checkpoint: {', '.join(missing[:8])}" + (" ..." if len(missing) > 8 else ""))
    if strict and unexpected:
        problems.append(f"not in the module: {', '.join(unexpected[:8])}" + (" ..." if len(unexpected) > 8 else ""))
    pairs = []
    nbytes = 0
    for name, dst in targets.items():
        if name not in source:
            continue
        f, info = source[name]
        if info.dtype != dst.dtype:
            problems.append(f"tensor {name!r}: checkpoint has {info.dtype_name}, the module {dst.dtype}")
        elif tuple(info.shape) != tuple(dst.shape):
            problems.append(f"tensor {name!r}: checkpoint has shape {list(info.shape)}, the module {list(dst.shape)}")
        else:
            pairs.append((name, dst, f.get(name)))  # a view of the mapping, no copy
            nbytes += info.end - info.begin
    if problems:
        raise LoadError(f"{real}: nothing loaded: " + "; ".join(problems))
    return PreparedLoad(real, files, pairs, [] if strict else missing, [] if strict else unexpected, nbytes, t0)


def load_into(module: torch.nn.Module, path: str, strict: bool = True, lock: Optional[Any] = None,
              prefix: str = "") -> LoadReport:
    """Copies the tensors of the checkpoint at path (a file or a directory; a symbolic link such as
    DEST/current is resolved once) into module's existing parameters and buffers, in place.

    Every tensor must have the target's dtype and shape, else LoadError naming it; with strict
    (the default) the checkpoint must hold exactly the module's state_dict names. All checks run
    before the first copy: on an error nothing is changed. With lock (a threading.Lock or any
    context manager) the copies run while holding it (the checks before, without it). prefix is
    prepended to the module's names to find them in the checkpoint ("model." for a checkpoint
    of a wrapper)."""
    plan = prepare_load(module, path, strict=strict, prefix=prefix)
    with (lock if lock is not None else _NoLock()):
        return plan.apply()


class _NoLock:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_VERSION_LINK = re.compile(r"(?:^|/)versions/(\d+)/?$")


def current_version(dest: str) -> Optional[int]:
    """The version DEST/current names (DEST/current -> versions/<id>), or None."""
    try:
        target = os.readlink(os.path.join(dest, "current"))
    except (FileNotFoundError, OSError):
        return None
    m = _VERSION_LINK.search(target)
    return int(m.group(1)) if m else None


def version_path(dest: str, version: int) -> str:
    return os.path.join(dest, "versions", str(version))


_libc = None


def _die_with_parent():  # runs in the child between fork and exec
    _libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


class Follower:
    """Runs `deltaswarm node --json` (or watches an existing store's DEST/current) and calls
    on_version(version, path) for each new version, path = DEST/versions/<id>, on a thread of its own.

    Versions arriving while a callback runs are coalesced: the next call gets the newest.
    Use as a context manager (or call stop()): the node gets SIGTERM, then SIGKILL after
    stop_timeout seconds. An exception in on_version is logged and kept in .errors.

    die_with_parent (default): the node gets SIGTERM if the thread that started it ends or the
    process dies (Linux PR_SET_PDEATHSIG), so no node outlives a crashed server. Start followers
    from a thread that lives as long as they do (the main thread), or pass die_with_parent=False.
    stderr: where the node's stderr goes (default: inherited)."""

    def __init__(self, dest: str, on_version: OnVersion, bucket: Optional[str] = None,
                 model: Optional[str] = None, trust: Union[None, str, Sequence[str]] = None,
                 binary: str = "deltaswarm", watch: bool = False, poll_interval: Optional[float] = None,
                 initial: bool = True, stop_timeout: float = 10.0, stderr: Any = None,
                 on_event: Optional[Callable[[Dict[str, Any]], Any]] = None, die_with_parent: bool = True,
                 **node_flags: Any):
        self.dest, self.on_version, self.binary, self.watch = dest, on_version, binary, watch
        self.initial, self.stop_timeout, self.stderr, self.on_event = initial, stop_timeout, stderr, on_event
        self.die_with_parent = die_with_parent
        self.poll_interval = poll_interval if poll_interval is not None else (0.5 if watch else None)
        if not watch:
            if not (bucket and model and trust):
                raise ValueError("follow: bucket, model and trust are needed to run a node (or watch=True)")
            args = ["--dest", dest, "--bucket", str(bucket), "--model", model]
            for t in ([trust] if isinstance(trust, str) else trust):
                args += ["--trust", str(t)]
            if self.poll_interval is not None:
                args += ["--poll-interval", str(self.poll_interval)]
            self.argv = [binary, "node", *args, *cli.flag_args(node_flags), "--json"]
        self.proc: Optional[subprocess.Popen] = None
        self.endpoint: Optional[str] = None
        self.delivered: List[int] = []   # versions passed to on_version, in order
        self.pulled: List[int] = []      # versions the node reported pulled
        self.errors: List[BaseException] = []
        self.returncode: Optional[int] = None
        self._ready = threading.Event()
        self._done = threading.Event()
        self._stopping = threading.Event()
        self._cond = threading.Condition()
        self._pending: Optional[int] = None
        self._threads: List[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> "Follower":
        global _libc
        os.makedirs(self.dest, exist_ok=True)
        if self.initial:
            v = current_version(self.dest)
            if v is not None:
                self._offer(v)
        if self.watch:
            self._ready.set()
            self._spawn(self._watch_loop, "deltaswarm-watch")
        else:
            preexec = None
            if self.die_with_parent:
                if _libc is None:
                    _libc = ctypes.CDLL(None, use_errno=True)
                    _libc.prctl  # resolved before any fork
                preexec = _die_with_parent
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=self.stderr, preexec_fn=preexec)
            self._spawn(self._read_loop, "deltaswarm-node-reader")
        self._spawn(self._deliver_loop, "deltaswarm-deliver")  # after the fork: no thread of ours in it
        return self

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc else None

    def stop(self) -> Optional[int]:
        """Stops the node (SIGTERM, at most stop_timeout s, then SIGKILL) and the threads; its exit code."""
        self._stopping.set()
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                log.warning("deltaswarm node %d ignored SIGTERM for %.1f s: SIGKILL", self.proc.pid,
                            self.stop_timeout)
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.returncode = self.proc.wait()
        with self._cond:
            self._cond.notify_all()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(self.stop_timeout)
        self._done.set()
        return self.returncode

    def __enter__(self) -> "Follower":
        return self if (self.proc or self._threads) else self.start()

    def __exit__(self, *exc) -> bool:
        self.stop()
        return False

    # -- waiting ---------------------------------------------------------------------------
    def wait_ready(self, timeout: Optional[float] = None) -> Optional[str]:
        """Waits until the node listens (its `ready` event); its endpoint ip:port."""
        if not self._ready.wait(timeout):
            raise TimeoutError(f"deltaswarm node for {self.dest}: not ready after {timeout} s")
        if self.returncode is not None and self.endpoint is None and not self.watch:
            raise cli.DeltaswarmError("node", self.returncode, "exited before it was ready")
        return self.endpoint

    def wait_for(self, version: int, timeout: Optional[float] = None) -> None:
        """Waits until on_version has returned for version (or a newer one)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not (self.delivered and self.delivered[-1] >= version and self._pending is None):
                if self._done.is_set() or (self.returncode is not None and not self.watch):
                    raise cli.DeltaswarmError("node", self.returncode or 0,
                                              f"stopped before version {version} (at {self.delivered[-1:]})")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"{self.dest}: version {version} not delivered after {timeout} s "
                                       f"(delivered {self.delivered})")
                self._cond.wait(0.2 if left is None else min(left, 0.2))

    def wait(self, timeout: Optional[float] = None) -> Optional[int]:
        """Blocks until the node exits (or stop()); its exit code."""
        self._done.wait(timeout)
        return self.returncode

    # -- internals -------------------------------------------------------------------------
    def _spawn(self, fn, name):
        t = threading.Thread(target=fn, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def _offer(self, version: int) -> None:
        with self._cond:
            last = self.delivered[-1] if self.delivered else 0
            if version > last and (self._pending is None or version > self._pending):
                self._pending = version
                self._cond.notify_all()

    def _deliver_loop(self):
        while True:
            with self._cond:
                while self._pending is None and not self._stopping.is_set():
                    self._cond.wait()
                if self._stopping.is_set():
                    return
                version = self._pending
            try:
                self.on_version(version, version_path(self.dest, version))
            except BaseException as e:  # noqa: BLE001 - reported, the follower goes on
                log.exception("deltaswarm: on_version(%d) failed", version)
                self.errors.append(e)
            with self._cond:
                self.delivered.append(version)
                if self._pending == version:
                    self._pending = None
                self._cond.notify_all()

    def _read_loop(self):
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                ev = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(ev, dict):
                continue
            if ev.get("event") == "node":
                kind = ev.get("type")
                if kind == "ready":
                    self.endpoint = ev.get("endpoint")
                    self._ready.set()
                elif kind == "pulled":
                    v = int(ev.get("version", 0))
                    self.pulled.append(v)
                    self._offer(v)
                elif kind in ("pull_failed", "warning"):  # the node also writes them to its stderr
                    log.info("deltaswarm node %s: %s", self.dest, ev.get("message"))
                if self.on_event is not None:
                    try:
                        self.on_event(ev)
                    except Exception:  # noqa: BLE001
                        log.exception("deltaswarm: on_event failed")
        self.proc.stdout.close()
        self.returncode = self.proc.wait()
        self._ready.set()
        if not self._stopping.is_set():
            log.error("deltaswarm node %s exited with code %s", self.dest, self.returncode)
        with self._cond:
            self._cond.notify_all()

    def _watch_loop(self):
        while not self._stopping.wait(self.poll_interval):
            v = current_version(self.dest)
            if v is not None:
                self._offer(v)


def follow(dest: str, on_version: OnVersion, bucket: Optional[str] = None, model: Optional[str] = None,
           trust: Union[None, str, Sequence[str]] = None, **kwargs: Any) -> Follower:
    """Starts following DEST and returns the running Follower (a context manager that stops it).

    With bucket, model and trust it runs `deltaswarm node --dest DEST ...` (more node flags as
    keywords: listen="127.0.0.1:0", peer=[...], poll_interval=1, fallback_after=5, ...); with
    watch=True it only watches DEST/current of a node run elsewhere (systemd). on_version(version,
    path) is first called for the version DEST holds already (initial=False: only new ones)."""
    return Follower(dest, on_version, bucket=bucket, model=model, trust=trust, **kwargs).start()
