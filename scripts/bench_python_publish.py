#!/usr/bin/python3
"""Issue 15's target: the trainer-side publish of a 1 % step of a 1 GB model from PyTorch
(deltaswarm.publish: write the state dict as safetensors, then `deltaswarm publish`) takes
<= 1.2 x the CLI's publish of the same checkpoint already on disk.

Two identical chains in two directory buckets (each with its own state store): A is published
from PyTorch, B by the CLI from a file written beforehand (untimed). Both start from the same
version 1 (a keyframe, untimed); then each run changes ~1 % of the bf16 elements (one ulp up
or down at random positions, as an AdamW step does to bf16 weights), writes B's file, and times
both publishes of that version (order alternating between runs, os.sync() before each). A is
published by deltaswarm.Publisher(background=True): its time is from after_step until the version
is live (the write, then `deltaswarm publish`; the same work as deltaswarm.publish), and
blocked_s the part the training loop waits for (the write). deltaswarm.publish writes into one of
keep + 1 staging slots, rewriting in place a slot's file the CLI's state store no longer links
(trainer._Staged): version 1 and the next two write fresh files (untimed: --runs counts the
timed publishes after --prime untimed ones, default 2, so that the timed ones are the steady
state of a training run). Prints the medians and the ratio;
the last line is `bench_python_publish: ratio=R python_s=P cli_s=C ...`.

    /usr/bin/python3 scripts/bench_python_publish.py [--size-gb 1] [--runs 3] [--changed 0.01]
        [--prime 2] [--binary build/deltaswarm] [--workdir DIR] [--keep]
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
import torch  # noqa: E402

import deltaswarm  # noqa: E402
from deltaswarm import cli  # noqa: E402

SHAPE = (4096, 4096)  # 32 MiB of bf16 per tensor


def make_state_dict(size_bytes, seed):
    g = torch.Generator().manual_seed(seed)
    per = SHAPE[0] * SHAPE[1] * 2
    n = max(1, round(size_bytes / per))
    sd = {}
    for i in range(n):
        sd[f"model.layers.{i:03d}.weight"] = (torch.randn(SHAPE, generator=g) * 0.02).to(torch.bfloat16)
    return sd


def step(sd, fraction, gen):
    """Moves ~fraction of every tensor's elements by one ulp (their bit pattern +-1)."""
    changed = 0
    for t in sd.values():
        flat = t.view(-1).view(torch.int16)
        k = max(1, int(flat.numel() * fraction))
        idx = torch.randint(flat.numel(), (k,), generator=gen)
        flat[idx] += (torch.randint(2, (k,), generator=gen, dtype=torch.int16) * 2 - 1)
        changed += k
    return changed


def cli_publish(binary, bucket, state, key, path):
    t0 = time.perf_counter()
    r = cli.run(binary, "publish", ["--bucket", bucket, "--model", "bench", "--key", key, "--state", state, path])
    return time.perf_counter() - t0, r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-gb", type=float, default=1.0, help="checkpoint size, GB (10^9 bytes)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--changed", type=float, default=0.01, help="fraction of elements changed per version")
    ap.add_argument("--binary", default=os.environ.get("DELTASWARM") or os.path.join(ROOT, "build", "deltaswarm"))
    ap.add_argument("--prime", type=int, default=2,
                    help="untimed publishes after version 1, before the timed ones (default %(default)s: "
                         "every staging slot then holds a file)")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    work = a.workdir or tempfile.mkdtemp(prefix="ds-bench-pypub-")
    os.makedirs(work, exist_ok=True)
    try:
        key = os.path.join(work, "key")
        cli.run(a.binary, "keygen", ["-o", key])
        A = dict(bucket=os.path.join(work, "bucket-py"), state=os.path.join(work, "state-py"),
                 staging=os.path.join(work, "staging-py"))
        B = dict(bucket=os.path.join(work, "bucket-cli"), state=os.path.join(work, "state-cli"))
        for d in (A["bucket"], B["bucket"]):
            os.makedirs(d, exist_ok=True)
        ckpt = os.path.join(work, "cli-checkpoint", "model.safetensors")
        os.makedirs(os.path.dirname(ckpt))

        t0 = time.perf_counter()
        sd = make_state_dict(a.size_gb * 1e9, seed=1)
        nbytes = sum(t.numel() * 2 for t in sd.values())
        print(f"state dict: {len(sd)} bf16 tensors of {list(SHAPE)}, {nbytes / 1e9:.3f} GB "
              f"(made in {time.perf_counter() - t0:.1f} s)", flush=True)
        deltaswarm.save_file(sd, ckpt)
        s_cli, r_cli = cli_publish(a.binary, B["bucket"], B["state"], key, ckpt)
        r_py = deltaswarm.publish(sd, model="bench", key=key, binary=a.binary, **A)
        print(f"version 1 (keyframe {r_cli['keyframe_bytes'] / 1e6:.0f} MB): cli {s_cli:.1f} s, "
              f"python {r_py.seconds:.1f} s (untimed)", flush=True)

        gen = torch.Generator().manual_seed(2)
        pub = deltaswarm.Publisher(bucket=A["bucket"], model="bench", key=key, every=1, background=True,
                                   state=A["state"], staging=A["staging"], binary=a.binary)
        rows, primes = [], []
        for run in range(a.prime + a.runs):
            changed = step(sd, a.changed, gen)
            os.unlink(ckpt)  # (hard-linked into B's state store; see deltaswarm.publish)
            deltaswarm.save_file(sd, ckpt)  # the CLI's checkpoint, already on disk
            order = ["cli", "py"] if run % 2 == 0 else ["py", "cli"]
            got = {}
            for who in order:
                os.sync()  # nothing left to write back from before: neither timing pays for the other
                if who == "cli":
                    got["cli"] = cli_publish(a.binary, B["bucket"], B["state"], key, ckpt)
                else:
                    # deltaswarm.Publisher(background=True): after_step returns once the checkpoint
                    # is written (the loop may go on training); wait() until the version is live.
                    t = time.perf_counter()
                    pub.after_step(sd)
                    blocked = time.perf_counter() - t
                    r = pub.wait()
                    got["py"] = (time.perf_counter() - t, r, blocked)
            (cs, cr), (ps, pr, blocked) = got["cli"], got["py"]
            if cr["version"] != pr.version or cr["delta_bytes"] != pr.delta_bytes:
                raise SystemExit(f"the two chains differ: cli {cr} python {pr}")
            (primes if run < a.prime else rows).append(
                (cs, ps, pr.write_seconds, pr.publish_seconds, blocked, cr["delta_bytes"], pr.in_place))
            label = f"prime {run + 1} (not in the medians)" if run < a.prime else f"run {run + 1 - a.prime}"
            print(f"{label}: version {pr.version}, {changed / (nbytes / 2) * 100:.2f} % changed, delta "
                  f"{cr['delta_bytes'] / 1e6:.2f} MB; cli publish {cs:.2f} s; python publish {ps:.2f} s "
                  f"(write {pr.write_seconds:.2f} s{' in place' if pr.in_place else ', fresh file'} + publish "
                  f"{pr.publish_seconds:.2f} s; the loop blocked "
                  f"{blocked:.2f} s); "
                  f"ratio {ps / cs:.2f} (order {'/'.join(order)})", flush=True)
        cli_s = statistics.median(r[0] for r in rows)
        py_s = statistics.median(r[1] for r in rows)
        write_s = statistics.median(r[2] for r in rows)
        pub_s = statistics.median(r[3] for r in rows)
        blocked_s = statistics.median(r[4] for r in rows)
        ratio = py_s / cli_s
        print(json.dumps({"event": "bench_python_publish", "bytes": nbytes, "runs": a.runs, "cli_s": cli_s,
                          "python_s": py_s, "python_write_s": write_s, "python_cli_s": pub_s, "ratio": ratio,
                          "loop_blocked_s": blocked_s, "blocked_ratio": blocked_s / cli_s,
                          "target": 1.2, "per_run": rows, "prime_runs": primes}))
        print(f"bench_python_publish: ratio={ratio:.2f} python_s={py_s:.2f} cli_s={cli_s:.2f} "
              f"write_s={write_s:.2f} blocked_s={blocked_s:.2f} size_gb={nbytes / 1e9:.2f} changed={a.changed} runs={a.runs} "
              f"{'ok' if ratio <= 1.2 else 'ABOVE 1.2'}")
    finally:
        if not a.keep and not a.workdir:
            shutil.rmtree(work, ignore_errors=True)
        elif a.keep:
            print(f"kept {work}")


if __name__ == "__main__":
    main()
