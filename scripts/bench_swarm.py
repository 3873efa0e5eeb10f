#!/usr/bin/env python3
"""Swarm benchmark: one seed process and N node processes on loopback.

Every process (seed and nodes) uploads at U MB/s. The nodes pull a keyframe of
about --size-mb MB of chunks through the swarm and apply it. For each N this
prints one line:

  nodes=N size_mb=F time_s=T bound_s=B ratio=T/B seed_upload_x=S client_server_s=C apply_s=A

F counts chunk payload bytes, T runs from the moment every node process has
been started (the seed already serving) until every node holds every chunk
verified, A is the slowest node's apply after that, B = max(F/U, N*F/(U+N*U))
is the fluid lower bound, S the seed's uploaded payload / F and C = N*F/U the
client-server time. --kill-at P kills one node once it has P % of the chunks.
--baseline also runs each N with a seed that offers every piece to every node
(libtorrent's default, `seed --no-share`) and prints that line prefixed with
"baseline:" and the ratio of the two times.
Exits non-zero when a node fails or its checkpoint differs from the publisher's.
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DS = os.environ.get("DELTASWARM", os.path.join(ROOT, "build", "deltaswarm"))
MB = 1e6


def run(*args):
    subprocess.run([DS, *args], check=True, stdout=subprocess.DEVNULL)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def prepare(work, size_mb):
    """A keyframe of about size_mb MB of chunks in a directory bucket (cached)."""
    bucket = os.path.join(work, "bucket")
    if os.path.exists(os.path.join(bucket, "m", "refs", "latest")):
        return bucket
    # A bf16 synth checkpoint compresses to about 0.71 of its size as a keyframe.
    params = int(size_mb * MB / 2 / 0.71)
    print(f"bench_swarm: synthesizing {params / 1e6:.0f}M parameters and publishing a keyframe", file=sys.stderr)
    run("synth", "--params", str(params), "--versions", "1", "-o", os.path.join(work, "ckpt"), "-q")
    run("keygen", "-o", os.path.join(work, "key"), "-q")
    run("publish", "--bucket", bucket, "--model", "m", "--key", os.path.join(work, "key"),
        "--state", os.path.join(work, "state"), os.path.join(work, "ckpt", "v0", "model.safetensors"), "-q")
    return bucket


def chunk_bytes(bucket):
    d = os.path.join(bucket, "m", "versions", "1", "keyframe")
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))


class Node:
    """A pull process; its JSON events are read on a thread and timestamped."""

    def __init__(self, args, log_path):
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.swarm_done = None
        self.applied = None
        self.fraction = 0.0
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.log.write(line)
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                continue
            if ev.get("event") != "progress":
                continue
            now = time.monotonic()
            total = ev["total_bytes"] or 1
            if ev["phase"] == "swarm":
                self.fraction = ev["done_bytes"] / total
                if ev["done_bytes"] >= total and self.swarm_done is None:
                    self.swarm_done = now
            elif ev["phase"] == "apply" and ev["done_bytes"] >= total and self.applied is None:
                self.applied = now

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()


def bench(work, bucket, n, rate_mbytes, kill_at, base_port, share=True):
    run_dir = tempfile.mkdtemp(prefix=f"n{n}-", dir=work)
    rate = int(rate_mbytes * MB)
    key_pub = os.path.join(work, "key.pub")
    seed_ready = os.path.join(run_dir, "seed.ready")
    seed_log = open(os.path.join(run_dir, "seed.log"), "w")
    seed = subprocess.Popen([DS, "seed", "--bucket", bucket, "--model", "m", "--trust", key_pub,
                             "--dir", os.path.join(run_dir, "seed"), "--listen", f"127.0.0.1:{base_port}",
                             "--upload-rate", str(rate), "--ready-file", seed_ready, "--json"]
                            + ([] if share else ["--no-share"]),
                            stdout=subprocess.PIPE, stderr=seed_log, text=True)
    nodes = []
    try:
        deadline = time.monotonic() + 120
        while not os.path.exists(seed_ready):
            if seed.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"seed did not start (see {seed_log.name})")
            time.sleep(0.05)
        for i in range(n):
            # A bounded peer list: the seed and two neighbours; PEX finds the rest.
            peers = [f"127.0.0.1:{base_port}"] + [f"127.0.0.1:{base_port + 1 + (i + k) % n}" for k in (1, 2) if n > k]
            args = [DS, "pull", "--bucket", bucket, "--model", "m", "--trust", key_pub,
                    "--dest", os.path.join(run_dir, f"node{i}"), "--listen", f"127.0.0.1:{base_port + 1 + i}",
                    "--upload-rate", str(rate), "--fallback-after", "-1", "--linger", "3600", "--json"]
            for p in peers:
                args += ["--peer", p]
            nodes.append(Node(args, os.path.join(run_dir, f"node{i}.log")))
        t0 = time.monotonic()
        F = chunk_bytes(bucket)
        bound = max(F / rate, n * F / (rate + n * rate))
        limit = t0 + 20 * bound + 120
        killed = None
        while not all(x.applied for x in nodes if x is not killed):
            if time.monotonic() > limit:
                raise RuntimeError(f"not done after {limit - t0:.0f} s (logs in {run_dir})")
            for i, x in enumerate(nodes):
                if x is not killed and x.proc.poll() is not None:
                    raise RuntimeError(f"node {i} exited with {x.proc.returncode} (see {x.log.name})")
            if kill_at is not None and killed is None and nodes[0].fraction >= kill_at / 100:
                killed = nodes[0]
                killed.stop()
            time.sleep(0.05)
        alive = [x for x in nodes if x is not killed]
        T = max(x.swarm_done for x in alive) - t0
        A = max(x.applied - x.swarm_done for x in alive)
        seed.send_signal(signal.SIGTERM)
        out, _ = seed.communicate(timeout=30)
        uploads = [json.loads(l)["done_bytes"] for l in out.splitlines()
                   if '"phase":"upload"' in l]
        S = uploads[-1] / F if uploads else float("nan")
        want = sha256_of(os.path.join(work, "ckpt", "v0", "model.safetensors"))
        for x in alive:
            # The pull switches `current` just after its apply; wait for that (bounded).
            path = os.path.join(run_dir, f"node{nodes.index(x)}", "current", "model.safetensors")
            switch_deadline = time.monotonic() + 60
            while not os.path.exists(path) and time.monotonic() < switch_deadline:
                time.sleep(0.05)
            got = sha256_of(path) if os.path.exists(path) else "missing"
            if got != want:
                raise RuntimeError(f"node {nodes.index(x)}: checkpoint sha256 {got} != published {want}")
        line = (f"nodes={n} size_mb={F / MB:.1f} time_s={T:.2f} bound_s={bound:.2f} ratio={T / bound:.3f} "
                f"seed_upload_x={S:.3f} client_server_s={n * F / rate:.1f} apply_s={A:.2f}")
        if killed is not None:
            line += f" killed_at={kill_at:.0f}%"
        return line
    finally:
        for x in nodes:
            x.stop()
        if seed.poll() is None:
            seed.kill()
        seed.wait()
        seed_log.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def time_of(line):
    return float(line.split("time_s=")[1].split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, help="one N (default: 8, 16 and 32)")
    ap.add_argument("--size-mb", type=float, default=256, help="chunk payload in MB (default 256)")
    ap.add_argument("--rate-mbytes", type=float, help="upload limit of every process in MB/s "
                    "(default 20, 10, 5 for N = 8, 16, 32; 160/N otherwise)")
    ap.add_argument("--runs", type=int, default=1, help="runs per N; the median line by time is printed")
    ap.add_argument("--kill-at", type=float, help="kill one node at this %% of its download")
    ap.add_argument("--baseline", action="store_true", help="also run with libtorrent's default seed (--no-share)")
    ap.add_argument("--work", help="scratch directory (default: a temporary one, removed after)")
    ap.add_argument("--port", type=int, default=27000, help="first TCP port (seed; nodes use the next N)")
    a = ap.parse_args()
    if not os.access(DS, os.X_OK):
        sys.exit(f"bench_swarm: {DS} not built (run scripts/test.sh, or set DELTASWARM)")
    work = a.work or tempfile.mkdtemp(prefix="bench-swarm-")
    try:
        bucket = prepare(work, a.size_mb)
        for n in ([a.nodes] if a.nodes else [8, 16, 32]):
            rate = a.rate_mbytes or {8: 20, 16: 10, 32: 5}.get(n, 160 / n)
            median = {}
            for share in ([True, False] if a.baseline else [True]):
                lines = []
                for _ in range(a.runs):
                    lines.append(bench(work, bucket, n, rate, a.kill_at, a.port, share))
                    print(f"  {'' if share else 'baseline: '}{lines[-1]}", file=sys.stderr)
                lines.sort(key=time_of)
                median[share] = lines[len(lines) // 2]
            if a.baseline:
                print(f"baseline: {median[False]}")
                print(f"default_seed_time / share_seed_time = {time_of(median[False]) / time_of(median[True]):.2f}")
            print(median[True], flush=True)
    except (RuntimeError, subprocess.CalledProcessError) as e:
        sys.exit(f"bench_swarm: {e}")
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
