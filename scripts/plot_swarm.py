#!/usr/bin/env python3
"""Draws a swarm benchmark run: scripts/plot_swarm.py RUNS.json OUT.png

RUNS.json is what `scripts/bench_swarm.py --json-out` writes (bench_swarm.py
--plot calls this script itself). The picture has one panel per measured
configuration (each N, and the baseline / TLS variants when they were run),
each drawn from that configuration's median run (by T), stacked top to bottom.
A panel shows, on one time axis from the moment every node was started:

  - the seed's upload rate (payload bytes between two successive "upload"
    events of `seed --json` / the time between them, in MB/s, as steps)
    against U, the per-process upload limit (dashed horizontal line);
  - on the right axis, the fraction of nodes holding every chunk verified
    (the CDF of the nodes' completion times, a tick per node at the bottom),
    and, dotted, the fraction that also applied the keyframe;
  - the fluid lower bound B = max(F/U, N*F/(U+N*U)) and the measured T
    (the last completion) as vertical lines.

Needs matplotlib (Debian: python3-matplotlib); a python3 without it re-runs this
under /usr/bin/python3. MB is 10^6 bytes.
"""
import json
import os
import sys

try:
    import matplotlib
except ImportError:
    # A python3 without it (a pyenv, a venv): Debian's python3-matplotlib lives under /usr/bin/python3.
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and os.access("/usr/bin/python3", os.X_OK):
        os.execv("/usr/bin/python3", ["/usr/bin/python3", os.path.abspath(__file__), *sys.argv[1:]])
    sys.exit("plot_swarm: needs matplotlib (apt-get install python3-matplotlib)")

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MB = 1e6


def seed_rate(events):
    """(edges, MB/s) of the seed's upload rate from its timestamped upload events."""
    ups = [(t, ev["done_bytes"]) for t, ev in events
           if ev.get("event") == "progress" and ev.get("phase") == "upload"]
    edges, rates = [], []
    for (t1, b1), (t2, b2) in zip(ups, ups[1:]):
        if t2 <= t1:
            continue
        if not edges or edges[-1] != t1:
            edges.append(t1)
        edges.append(t2)
        rates.append((b2 - b1) / (t2 - t1) / MB)
    return edges, rates


def cdf(times, n):
    """Step coordinates of the fraction of n nodes done by each time."""
    xs, ys = [0.0], [0.0]
    for i, t in enumerate(sorted(times), 1):
        xs.append(t)
        ys.append(i / n)
    return xs, ys


def title_of(run):
    variant = ("baseline (seed --no-share), " if not run.get("share", True) else "") + \
              ("TLS, " if run.get("tls") else "")
    killed = f", one node killed at {run['kill_at']:.0f} %" if run.get("killed") is not None else ""
    return (f"{variant}N = {run['nodes']} nodes, payload F = {run['size_bytes'] / MB:.1f} MB, "
            f"U = {run['rate_bytes_per_s'] / MB:g} MB/s{killed}\n"
            f"T = {run['time_s']:.2f} s, bound B = {run['bound_s']:.2f} s, "
            f"T/B = {run['time_s'] / run['bound_s']:.3f}, seed uploaded {run['seed_upload_x']:.3f} F")


def panel(ax, run):
    U = run["rate_bytes_per_s"] / MB
    nodes = run["node_runs"]
    alive = [x for x in nodes if not x.get("killed")]
    done = [x["swarm_done_s"] for x in alive if x.get("swarm_done_s") is not None]
    applied = [x["applied_s"] for x in alive if x.get("applied_s") is not None]
    T, B = run["time_s"], run["bound_s"]
    t_end = max([T, B] + applied) * 1.06 + 0.5

    edges, rates = seed_rate(run["seed_events"])
    if rates:
        ax.stairs(rates, edges, color="tab:blue", linewidth=1.6, baseline=None,
                  label="seed upload rate (MB/s)")
    ax.axhline(U, color="tab:red", linestyle="--", linewidth=1.2, label=f"U = {U:g} MB/s (upload limit)")
    ax.axvline(B, color="black", linestyle=":", linewidth=1.4, label=f"fluid bound B = {B:.2f} s")
    ax.axvline(T, color="tab:green", linestyle="-.", linewidth=1.2, label=f"T = {T:.2f} s (last node done)")
    ax.set_xlim(min([0.0] + edges[:1]), t_end)
    ax.set_ylim(0, max([U] + rates) * 1.3)
    ax.set_xlabel("time since all nodes started (s)")
    ax.set_ylabel("seed upload rate (MB/s)")
    ax.grid(True, alpha=0.3)

    ax2 = ax.twinx()
    n = len(alive) or 1
    xs, ys = cdf(done, n)
    ax2.step(xs + [t_end], ys + [ys[-1]], where="post", color="tab:orange", linewidth=1.6,
             label="nodes with every chunk (fraction)")
    if applied:
        xs, ys = cdf(applied, n)
        ax2.step(xs + [t_end], ys + [ys[-1]], where="post", color="tab:purple", linewidth=1.0,
                 linestyle=":", label="nodes also applied (fraction)")
    ax2.plot(done, [0.015] * len(done), linestyle="none", marker="|", markersize=12,
             color="tab:orange", label="a node's completion")
    killed = [x for x in nodes if x.get("killed") and x.get("killed_s") is not None]
    if killed:
        ax2.plot([x["killed_s"] for x in killed], [0.015] * len(killed), linestyle="none", marker="x",
                 markersize=8, color="black", label="node killed")
    ax2.set_ylim(0, 1.1)  # 1.0 sits above U's line, not on it
    ax2.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax2.set_ylabel(f"fraction of the {len(alive)} nodes done")

    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=8, ncol=3,
              frameon=False)
    ax.set_title(title_of(run), fontsize=9.5)


def plot(runs, out):
    chosen = [r for r in runs if r.get("median")] or runs
    if not chosen:
        sys.exit("plot_swarm: no runs to draw")
    fig, axes = plt.subplots(len(chosen), 1, figsize=(9, 4.6 * len(chosen)), squeeze=False)
    for ax, run in zip(axes[:, 0], chosen):
        panel(ax, run)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main():
    if len(sys.argv) != 3 or sys.argv[1] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        sys.exit(0 if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help") else 2)
    with open(sys.argv[1]) as f:
        data = json.load(f)
    plot(data["runs"], sys.argv[2])


if __name__ == "__main__":
    main()
