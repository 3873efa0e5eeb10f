"""The trainer side: publish a model's state dict as the next version."""
from __future__ import annotations

import dataclasses
import fcntl
import os
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Union

import torch

from . import cli, safetensors

StateDict = Mapping[str, torch.Tensor]


@dataclasses.dataclass
class PublishResult:
    version: int           # the version id assigned (the live one when nothing changed)
    target_bytes: int      # checkpoint size
    delta_bytes: int       # the delta's stored size (0 for version 1, a keyframe)
    keyframe_bytes: int    # a keyframe's stored size (versions 1, 1+K, ...; else 0)
    uploaded_bytes: int    # bytes written to the bucket
    seconds: float         # wall time of the whole call
    write_seconds: float   # writing the safetensors file (0 for on_save)
    publish_seconds: float  # `deltaswarm publish`
    path: str              # the checkpoint published
    note: str = ""         # e.g. "unchanged": nothing was published
    in_place: bool = False  # the checkpoint was written over a free staging slot's file (see _Staged)
    result: Dict[str, Any] = dataclasses.field(default_factory=dict)  # the CLI's summary result, as is

    @property
    def ratio(self) -> float:
        return self.target_bytes / self.delta_bytes if self.delta_bytes else 0.0


def state_dict_of(model_or_state_dict: Union[torch.nn.Module, StateDict]) -> StateDict:
    if isinstance(model_or_state_dict, torch.nn.Module):
        return model_or_state_dict.state_dict()
    return model_or_state_dict


def default_staging(model: str) -> str:
    home = os.environ.get("HOME") or "."
    return os.path.join(home, ".cache", "deltaswarm", "staging", model)


def _publish_path(path: str, bucket: str, model: str, key: str, state: Optional[str], binary: str,
                  timeout: Optional[float], flags: Mapping[str, Any]) -> Dict[str, Any]:
    args = ["--bucket", str(bucket), "--model", model, "--key", str(key)]
    if state:
        args += ["--state", str(state)]
    args += cli.flag_args(flags)
    args.append(str(path))
    return cli.run(binary, "publish", args, timeout=timeout)


def _result(r: Dict[str, Any], path: str, t0: float, write_s: float, publish_s: float,
            in_place: bool = False) -> PublishResult:
    return PublishResult(version=int(r.get("version", 0)), target_bytes=int(r.get("target_bytes", 0)),
                         delta_bytes=int(r.get("delta_bytes", 0)), keyframe_bytes=int(r.get("keyframe_bytes", 0)),
                         uploaded_bytes=int(r.get("uploaded_bytes", 0)), seconds=time.monotonic() - t0,
                         write_seconds=write_s, publish_seconds=publish_s, path=path, note=r.get("note", ""),
                         in_place=in_place, result=r)


# The CLI keeps this many versions in its state store by default (PublishOptions::keep).
CLI_DEFAULT_KEEP = 2


class _Staged:
    """A state dict written as STAGING/<slot>/FILENAME, the staging lock held until release().

    `deltaswarm publish` keeps the published checkpoint in its state store as the base of the next
    delta by hard-linking the file (publisher.cc, KeepCopy), and drops the link when it prunes the
    version (it keeps `keep` versions). So a staged file must never change while the store links it.
    The staging directory holds up to keep + 1 slots: a slot whose file has one link left (its version
    pruned, or never kept) is rewritten in place (safetensors.overwrite: the same inode, its pages
    still in the page cache written over, no fresh ones allocated); a slot with no file gets a fresh
    file (safetensors.save, atomically). Only when every slot is still linked (a store keeping more
    versions than `keep` says) is the oldest slot's name dropped and a fresh file written, as
    before. A crash mid-rewrite leaves a torn file in a slot nothing links: the next publish
    rewrites it."""

    def __init__(self, sd: StateDict, staging: str, filename: str, metadata: Optional[Mapping[str, str]],
                 keep: Optional[int] = None):
        t0 = time.monotonic()
        os.makedirs(staging, exist_ok=True)
        slots = max(1, int(keep if keep is not None else CLI_DEFAULT_KEEP)) + 1
        # One publisher per staging directory at a time: the file must not change while it is read.
        self._lock = open(os.path.join(staging, ".lock"), "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX)
            # A file staged by an older version of this package, at STAGING/FILENAME: dropping the
            # name only (the state store links it).
            try:
                os.unlink(os.path.join(staging, filename))
            except (FileNotFoundError, IsADirectoryError):
                pass
            self.path, self.in_place = self._choose(staging, filename, slots)
            with torch.no_grad():
                if self.in_place:
                    try:
                        safetensors.overwrite(sd, self.path, metadata=metadata)
                    except safetensors.SafetensorsError:  # linked meanwhile: never write through a link
                        self.in_place = False
                if not self.in_place:
                    os.makedirs(os.path.dirname(self.path), exist_ok=True)
                    safetensors.save(sd, self.path, metadata=metadata)
        except BaseException:
            self.release()
            raise
        self.seconds = time.monotonic() - t0

    @staticmethod
    def _choose(staging: str, filename: str, slots: int):
        """(path, rewrite in place): the newest free slot (its pages the likeliest to be cached), else an
        empty slot, else the oldest slot with its name dropped."""
        free, empty, linked = [], [], []
        for i in range(slots):
            path = os.path.join(staging, str(i), filename)
            try:
                st = os.stat(path)
            except FileNotFoundError:
                empty.append(path)
                continue
            (free if st.st_nlink == 1 else linked).append((st.st_mtime_ns, path))
        if free:
            return max(free)[1], True
        if empty:
            return empty[0], False
        oldest = min(linked)[1]
        # A rename onto a free name does not make ext4 (auto_da_alloc) write the new file back to
        # the disk at once, as a rename over an existing file does (seconds per GB on a busy disk).
        os.unlink(oldest)
        return oldest, False

    def release(self):
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None


def publish(model_or_state_dict: Union[torch.nn.Module, StateDict], bucket: str, model: str, key: str,
            state: Optional[str] = None, binary: str = "deltaswarm", staging: Optional[str] = None,
            filename: str = "model.safetensors", metadata: Optional[Mapping[str, str]] = None,
            timeout: Optional[float] = None, **flags: Any) -> PublishResult:
    """Writes the state dict as STAGING/FILENAME (safetensors, atomically) and publishes it as the next
    version of MODEL in BUCKET (`deltaswarm publish --json`), signed with KEY (KEY.pub beside it).

    state: the publisher's state store (default the CLI's, ~/.cache/deltaswarm/publish/MODEL);
    staging: where the checkpoint is written (default ~/.cache/deltaswarm/staging/MODEL), as
    STAGING/<slot>/FILENAME, one of keep + 1 slots (keep: the `keep` flag, default the CLI's 2): a
    slot the state store no longer links is rewritten in place (see _Staged); .path names it; flags: more `publish` flags (keyframe_every=10,
    threads=2, tls_ca=..., level=3, ...). Raises cli.DeltaswarmError if the publish fails (the
    bucket then still names the previous version)."""
    t0 = time.monotonic()
    staged = _Staged(state_dict_of(model_or_state_dict), staging or default_staging(model), filename, metadata,
                     flags.get("keep"))
    try:
        t1 = time.monotonic()
        r = _publish_path(staged.path, bucket, model, key, state, binary, timeout, flags)
        t2 = time.monotonic()
    finally:
        staged.release()
    return _result(r, staged.path, t0, staged.seconds, t2 - t1, staged.in_place)


def publish_path(path: str, bucket: str, model: str, key: str, state: Optional[str] = None,
                 binary: str = "deltaswarm", timeout: Optional[float] = None, **flags: Any) -> PublishResult:
    """Publishes a checkpoint already on disk (a .safetensors file or a checkpoint directory)."""
    t0 = time.monotonic()
    r = _publish_path(path, bucket, model, key, state, binary, timeout, flags)
    return _result(r, str(path), t0, 0.0, time.monotonic() - t0)


class Publisher:
    """A training-loop callback: publishes every `every` optimizer steps, or each saved checkpoint.

        pub = Publisher(bucket="/shared/bucket", model="llm", key="key", every=10)
        for batch in data:
            loss(model, batch).backward(); opt.step(); opt.zero_grad()
            pub.after_step(model)          # publishes at steps 10, 20, ...
        pub.close()
        # or, where the loop saves checkpoints itself:
        pub.on_save("ckpt/step-1000")      # a .safetensors file or a checkpoint directory

    after_step writes the checkpoint before it returns (the parameters may change right after).
    With background=True the `deltaswarm publish` of it then runs on a thread while training
    goes on: the loop waits only for the write (and for the previous publish, if it is still
    running, before the next write); close() or wait() waits for the last one and raises
    the error of a failed one. Results are in .results. Other keywords go to publish()."""

    def __init__(self, bucket: str, model: str, key: str, every: int = 1, background: bool = False,
                 **kwargs: Any):
        if every < 1:
            raise ValueError("every must be >= 1")
        self.bucket, self.model, self.key, self.every, self.kwargs = bucket, model, key, every, kwargs
        self.background = background
        self.steps = 0
        self.results: List[PublishResult] = []
        self._thread: Optional[threading.Thread] = None
        self._error: Optional[BaseException] = None

    def after_step(self, model_or_state_dict: Union[torch.nn.Module, StateDict]) -> Optional[PublishResult]:
        """Counts a step; publishes on every `every`-th. Returns the result (None when not publishing,
        and in background mode, where it lands in .results once done)."""
        self.steps += 1
        if self.steps % self.every:
            return None
        if not self.background:
            r = publish(model_or_state_dict, bucket=self.bucket, model=self.model, key=self.key, **self.kwargs)
            self.results.append(r)
            return r
        self.wait()
        kw = dict(self.kwargs)
        t0 = time.monotonic()
        staged = _Staged(state_dict_of(model_or_state_dict), kw.pop("staging", None) or default_staging(self.model),
                         kw.pop("filename", "model.safetensors"), kw.pop("metadata", None), kw.get("keep"))

        def run():
            try:
                t1 = time.monotonic()
                r = _publish_path(staged.path, self.bucket, self.model, self.key, kw.pop("state", None),
                                  kw.pop("binary", "deltaswarm"), kw.pop("timeout", None), kw)
                self.results.append(_result(r, staged.path, t0, staged.seconds, time.monotonic() - t1,
                                            staged.in_place))
            except BaseException as e:  # noqa: BLE001 - raised by the next wait()
                self._error = e
            finally:
                staged.release()

        self._thread = threading.Thread(target=run, name="deltaswarm-publish", daemon=False)
        self._thread.start()
        return None

    def wait(self) -> Optional[PublishResult]:
        """Waits for a background publish in progress; raises its error; the last result."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            e, self._error = self._error, None
            raise e
        return self.last

    close = wait

    def on_save(self, path: str) -> PublishResult:
        self.wait()
        kw = {k: v for k, v in self.kwargs.items() if k not in ("staging", "filename", "metadata")}
        r = publish_path(path, bucket=self.bucket, model=self.model, key=self.key, **kw)
        self.results.append(r)
        return r

    @property
    def last(self) -> Optional[PublishResult]:
        return self.results[-1] if self.results else None

    def __enter__(self) -> "Publisher":
        return self

    def __exit__(self, *exc) -> bool:
        self.wait()
        return False
