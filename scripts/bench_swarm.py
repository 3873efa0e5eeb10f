#!/usr/bin/env python3
"""Swarm benchmark: one seed process and N node processes on loopback.

Every process (seed and nodes) uploads at U MB/s. The nodes pull a keyframe of
about --size-mb MB of chunks through the swarm and apply it. For each N this
prints one line:

  nodes=N size_mb=F time_s=T bound_s=B ratio=T/B seed_upload_x=S client_server_s=C apply_s=A node_rss_mb=R seed_rss_mb=Q

F counts chunk payload bytes, T runs from the moment every node process has
been started (the seed already serving) until every node holds every chunk
verified, A is the slowest node's apply after that, B = max(F/U, N*F/(U+N*U))
is the fluid lower bound, S the seed's uploaded payload / F and C = N*F/U the
client-server time, R the largest peak RSS (VmHWM) of a node when all are
done and Q the seed's. --swarm-only stops each node once its swarm download is
complete (no apply, A is nan). --kill-at P kills one node once it has P % of
the chunks.
--baseline also runs each N with a seed that offers every piece to every node
(libtorrent's default, `seed --no-share`) and prints that line prefixed with
"baseline:" and the ratio of the two times.

--tls runs a closed swarm instead: the work directory gets a cluster CA
(`ca init`), one certificate for the seed and one per node (`ca issue`,
node0 .. node<N-1>), the same checkpoint is published into a second bucket
(bucket-tls) with --tls-ca/--tls-crl (TLS torrents carrying the CA's CRL),
and the seed and every node run with their own --tls-cert/--tls-key. Its
lines are prefixed with "tls:". --compare-tls runs each N both ways, the
runs alternating (plain, tls, then tls, plain, ...), and prints the plain
median line (as without TLS), the "tls:" median line and

  tls_time / plain_time = R nodes=N tls_ratio=T_tls/B plain_ratio=T_plain/B

--plot FILE.png draws the runs (scripts/plot_swarm.py, matplotlib: Debian's
python3-matplotlib; when the running python3 lacks it, /usr/bin/python3 draws):
one panel per measured configuration, i.e. per N and, with --baseline or
--compare-tls, per variant, each from that configuration's median run (the one
whose line is printed), stacked top to bottom. A panel shows the seed's upload
rate over time (MB/s, from the payload delta between successive "upload"
events of `seed --json`, about one a second) against U (a horizontal line), and
on the same time axis (0 = every node started, as for T) the fraction of nodes
done (the CDF of their completion times, a tick per node), the fraction that
also applied, the fluid bound B and T. --json-out FILE saves every run's
timestamped events (seed and nodes, seconds relative to that run's start; the
median runs flagged "median") so that `scripts/plot_swarm.py FILE OUT.png`
redraws the picture.

Exits non-zero when a node fails or its checkpoint differs from the publisher's.
"""
import argparse
import hashlib
import importlib.util
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


def prepare(work, size_mb, tls=False):
    """A keyframe of about size_mb MB of chunks in a directory bucket (cached).

    The checkpoint and signing key are shared; the TLS keyframe (TLS torrents
    of the work directory's CA) goes into its own bucket and state store."""
    suffix = "-tls" if tls else ""
    bucket = os.path.join(work, "bucket" + suffix)
    if os.path.exists(os.path.join(bucket, "m", "refs", "latest")):
        return bucket
    model = os.path.join(work, "ckpt", "v0", "model.safetensors")
    if not os.path.exists(model):
        # A bf16 synth checkpoint compresses to about 0.71 of its size as a keyframe.
        params = int(size_mb * MB / 2 / 0.71)
        print(f"bench_swarm: synthesizing {params / 1e6:.0f}M parameters", file=sys.stderr)
        shutil.rmtree(os.path.join(work, "ckpt"), ignore_errors=True)
        run("synth", "--params", str(params), "--versions", "1", "-o", os.path.join(work, "ckpt"), "-q")
    if not os.path.exists(os.path.join(work, "key.pub")):
        run("keygen", "-o", os.path.join(work, "key"), "-q")
    print(f"bench_swarm: publishing a keyframe{' (TLS torrents)' if tls else ''}", file=sys.stderr)
    tls_flags = []
    if tls:
        ca = tls_ca(work)
        tls_flags = ["--tls-ca", os.path.join(ca, "ca.pem"), "--tls-crl", os.path.join(ca, "crl.pem")]
    run("publish", "--bucket", bucket, "--model", "m", "--key", os.path.join(work, "key"),
        "--state", os.path.join(work, "state" + suffix), *tls_flags, model, "-q")
    return bucket


def tls_ca(work):
    """The work directory's cluster CA (ca.pem, ca.key, crl.pem), made once."""
    ca = os.path.join(work, "ca")
    if not os.path.exists(os.path.join(ca, "crl.pem")):
        run("ca", "init", "-o", ca, "--force", "-q")
    return ca


def tls_identity(work, name):
    """--tls-cert/--tls-key of one process: its own certificate from the CA (cached)."""
    cert = os.path.join(work, "certs", name + ".pem")
    key = os.path.join(work, "certs", name + ".key")
    if not (os.path.exists(cert) and os.path.exists(key)):
        os.makedirs(os.path.dirname(cert), exist_ok=True)
        run("ca", "issue", "--ca", tls_ca(work), "--name", name, "-o", cert, "--force", "-q")
    return ["--tls-cert", cert, "--tls-key", key]


def chunk_bytes(bucket):
    d = os.path.join(bucket, "m", "versions", "1", "keyframe")
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))


def peak_rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / MB
    except OSError:
        pass
    return float("nan")


class Node:
    """A pull process; its JSON events are read on a thread and timestamped."""

    def __init__(self, args, log_path):
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.swarm_done = None
        self.applied = None
        self.killed_at = None
        self.fraction = 0.0
        self.events = []  # (time.monotonic(), event) of every JSON line
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.log.write(line)
            try:
                ev = json.loads(line)
            except json.JSONDecodeError:
                continue
            now = time.monotonic()
            self.events.append((now, ev))
            if ev.get("event") != "progress":
                continue
            total = ev["total_bytes"] or 1
            if ev["phase"] == "swarm":
                self.fraction = ev["done_bytes"] / total
                if ev["done_bytes"] >= total and self.swarm_done is None:
                    self.swarm_done = now
            elif ev["phase"] == "apply" and ev["done_bytes"] >= total and self.applied is None:
                self.applied = now

    def peak_rss_mb(self):
        """The process's peak resident set (VmHWM) so far, in MB; nan once it has exited."""
        return peak_rss_mb(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()


def bench(work, bucket, n, rate_mbytes, kill_at, base_port, share=True, tls=False, swarm_only=False):
    run_dir = tempfile.mkdtemp(prefix=f"n{n}-", dir=work)
    rate = int(rate_mbytes * MB)
    key_pub = os.path.join(work, "key.pub")
    seed_ready = os.path.join(run_dir, "seed.ready")
    # Certificates are issued (once per work directory) before any process starts.
    ids = {name: tls_identity(work, name) for name in ["seed"] + [f"node{i}" for i in range(n)]} if tls else {}
    seed_log = open(os.path.join(run_dir, "seed.log"), "w")
    seed = subprocess.Popen([DS, "seed", "--bucket", bucket, "--model", "m", "--trust", key_pub,
                             "--dir", os.path.join(run_dir, "seed"), "--listen", f"127.0.0.1:{base_port}",
                             "--upload-rate", str(rate), "--ready-file", seed_ready, "--json"]
                            + ([] if share else ["--no-share"])
                            + ids.get("seed", []),
                            stdout=subprocess.PIPE, stderr=seed_log, text=True)
    # Read the seed's events as they come (so its stdout pipe never fills), each with its arrival time.
    seed_out = []
    seed_reader = threading.Thread(target=lambda: seed_out.extend((time.monotonic(), l) for l in seed.stdout),
                                   daemon=True)
    seed_reader.start()
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
            args += ids.get(f"node{i}", [])
            nodes.append(Node(args, os.path.join(run_dir, f"node{i}.log")))
        t0 = time.monotonic()
        F = chunk_bytes(bucket)
        bound = max(F / rate, n * F / (rate + n * rate))
        limit = t0 + 20 * bound + 120
        killed = None
        finished = (lambda x: x.swarm_done) if swarm_only else (lambda x: x.applied)
        while not all(finished(x) for x in nodes if x is not killed):
            if time.monotonic() > limit:
                raise RuntimeError(f"not done after {limit - t0:.0f} s (logs in {run_dir})")
            for i, x in enumerate(nodes):
                if x is not killed and x.proc.poll() is not None:
                    raise RuntimeError(f"node {i} exited with {x.proc.returncode} (see {x.log.name})")
            if kill_at is not None and killed is None and nodes[0].fraction >= kill_at / 100:
                killed = nodes[0]
                killed.killed_at = time.monotonic()
                killed.stop()
            time.sleep(0.05)
        alive = [x for x in nodes if x is not killed]
        T = max(x.swarm_done for x in alive) - t0
        A = float("nan") if swarm_only else max(x.applied - x.swarm_done for x in alive)
        node_rss = max(x.peak_rss_mb() for x in alive)
        seed_rss = peak_rss_mb(seed.pid)
        if swarm_only:
            for x in alive:
                x.stop()  # before their applies fill the disk
        seed.send_signal(signal.SIGTERM)
        seed.wait(timeout=30)
        seed_reader.join(timeout=30)
        seed_events = []
        for t, l in seed_out:
            try:
                seed_events.append((t, json.loads(l)))
            except json.JSONDecodeError:
                pass
        uploads = [ev["done_bytes"] for _, ev in seed_events
                   if ev.get("event") == "progress" and ev.get("phase") == "upload"]
        S = uploads[-1] / F if uploads else float("nan")
        want = sha256_of(os.path.join(work, "ckpt", "v0", "model.safetensors"))
        for x in [] if swarm_only else alive:
            # The pull switches `current` just after its apply; wait for that (bounded).
            path = os.path.join(run_dir, f"node{nodes.index(x)}", "current", "model.safetensors")
            switch_deadline = time.monotonic() + 60
            while not os.path.exists(path) and time.monotonic() < switch_deadline:
                time.sleep(0.05)
            got = sha256_of(path) if os.path.exists(path) else "missing"
            if got != want:
                raise RuntimeError(f"node {nodes.index(x)}: checkpoint sha256 {got} != published {want}")
        line = (f"nodes={n} size_mb={F / MB:.1f} time_s={T:.2f} bound_s={bound:.2f} ratio={T / bound:.3f} "
                f"seed_upload_x={S:.3f} client_server_s={n * F / rate:.1f} apply_s={A:.2f} "
                f"node_rss_mb={node_rss:.0f} seed_rss_mb={seed_rss:.0f}")
        if killed is not None:
            line += f" killed_at={kill_at:.0f}%"
        rel = lambda t: None if t is None else round(t - t0, 4)
        record = {
            "nodes": n, "size_bytes": F, "rate_bytes_per_s": rate, "share": share, "tls": tls,
            "kill_at": kill_at, "killed": None if killed is None else nodes.index(killed),
            "time_s": T, "bound_s": bound, "seed_upload_x": S, "apply_s": A, "line": line,
            "seed_events": [(rel(t), ev) for t, ev in seed_events],
            "node_runs": [{"swarm_done_s": rel(x.swarm_done), "applied_s": rel(x.applied),
                           "killed": x is killed, "killed_s": rel(x.killed_at),
                           "events": [(rel(t), ev) for t, ev in x.events]} for x in nodes],
        }
        return line, record
    finally:
        for x in nodes:
            x.stop()
        if seed.poll() is None:
            seed.kill()
        seed.wait()
        seed_log.close()
        shutil.rmtree(run_dir, ignore_errors=True)


def field(line, name):
    return line.split(f" {name}=")[1].split()[0] if f" {name}=" in line else line.split(f"{name}=")[1].split()[0]


def time_of(line):
    return float(field(line, "time_s"))


def plot_python():
    """A python3 that can import matplotlib: this one, else Debian's /usr/bin/python3."""
    if importlib.util.find_spec("matplotlib") is not None:
        return sys.executable
    for py in ("/usr/bin/python3",):
        if os.access(py, os.X_OK) and subprocess.run([py, "-c", "import matplotlib"],
                                                     stderr=subprocess.DEVNULL).returncode == 0:
            return py
    sys.exit("bench_swarm: --plot needs matplotlib (apt-get install python3-matplotlib)")


def save_runs(path, runs):
    with open(path, "w") as f:
        json.dump({"runs": runs}, f, separators=(",", ":"))
        f.write("\n")


def label(share, tls):
    return ("baseline: " if not share else "") + ("tls: " if tls else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, help="one N (default: 8, 16 and 32)")
    ap.add_argument("--size-mb", type=float, default=256, help="chunk payload in MB (default 256)")
    ap.add_argument("--rate-mbytes", type=float, help="upload limit of every process in MB/s "
                    "(default 20, 10, 5 for N = 8, 16, 32; 160/N otherwise)")
    ap.add_argument("--runs", type=int, default=1, help="runs per N; the median line by time is printed")
    ap.add_argument("--kill-at", type=float, help="kill one node at this %% of its download")
    ap.add_argument("--baseline", action="store_true", help="also run with libtorrent's default seed (--no-share)")
    ap.add_argument("--tls", action="store_true", help="a closed swarm: TLS torrents, a certificate per process")
    ap.add_argument("--compare-tls", action="store_true",
                    help="run each N with and without TLS, alternating, and print T_tls / T_plain of the medians")
    ap.add_argument("--swarm-only", action="store_true",
                    help="stop each node once its swarm download is complete (no apply, no checksum "
                         "of the checkpoint: libtorrent verified every piece); for payloads whose N applied "
                         "checkpoints would not fit on the disk")
    ap.add_argument("--work", help="scratch directory (default: a temporary one, removed after)")
    ap.add_argument("--port", type=int, default=27000, help="first TCP port (seed; nodes use the next N)")
    ap.add_argument("--plot", metavar="FILE.png", help="draw the seed's upload rate against U and the nodes' "
                    "completion times, one panel per N (and variant), each its median run")
    ap.add_argument("--json-out", metavar="FILE", help="save every run's timestamped events as JSON "
                    "(redraw with scripts/plot_swarm.py FILE OUT.png)")
    a = ap.parse_args()
    if not os.access(DS, os.X_OK):
        sys.exit(f"bench_swarm: {DS} not built (run scripts/test.sh, or set DELTASWARM)")
    plotter = plot_python() if a.plot else None  # before minutes of benchmark, not after
    # SIGTERM and SIGHUP unwind like Ctrl-C, so every started process is stopped by the finally blocks.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    tls_modes = [False, True] if a.compare_tls else [a.tls]
    shares = [True, False] if a.baseline else [True]
    work = a.work or tempfile.mkdtemp(prefix="bench-swarm-")
    runs = []  # every run's record, in order; the median ones flagged
    try:
        buckets = {tls: prepare(work, a.size_mb, tls) for tls in tls_modes}
        for n in ([a.nodes] if a.nodes else [8, 16, 32]):
            rate = a.rate_mbytes or {8: 20, 16: 10, 32: 5}.get(n, 160 / n)
            median = {}
            for share in shares:
                lines = {tls: [] for tls in tls_modes}
                for r in range(a.runs):
                    # With and without TLS alternate, each first every other run: drift hits both alike.
                    for tls in (tls_modes if r % 2 == 0 else tls_modes[::-1]):
                        line, record = bench(work, buckets[tls], n, rate, a.kill_at, a.port, share, tls,
                                             a.swarm_only)
                        lines[tls].append((line, record))
                        runs.append(record)
                        print(f"  {label(share, tls)}{line}", file=sys.stderr)
                for tls in tls_modes:
                    lines[tls].sort(key=lambda lr: time_of(lr[0]))
                    median[share, tls], record = lines[tls][len(lines[tls]) // 2]
                    record["median"] = True
            for tls in tls_modes:
                if a.baseline:
                    print(f"{label(False, tls)}{median[False, tls]}")
                    print(f"{label(True, tls)}default_seed_time / share_seed_time = "
                          f"{time_of(median[False, tls]) / time_of(median[True, tls]):.2f}")
                print(f"{label(True, tls)}{median[True, tls]}", flush=True)
            if a.compare_tls:
                for share in shares:
                    t_plain, t_tls = median[share, False], median[share, True]
                    print(f"{label(share, False)}tls_time / plain_time = {time_of(t_tls) / time_of(t_plain):.3f} "
                          f"nodes={n} tls_ratio={field(t_tls, 'ratio')} plain_ratio={field(t_plain, 'ratio')}",
                          flush=True)
        if a.json_out:
            save_runs(a.json_out, runs)
        if a.plot:
            events = a.json_out or os.path.join(work, "runs.json")
            if not a.json_out:
                save_runs(events, runs)
            subprocess.run([plotter, os.path.join(ROOT, "scripts", "plot_swarm.py"), events, a.plot], check=True)
            print(f"bench_swarm: drew {a.plot}", file=sys.stderr)
    except (RuntimeError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        sys.exit(f"bench_swarm: {e}")
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)

if __name__ == "__main__":
    main()
