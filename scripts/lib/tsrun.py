"""Runs a command with --json output and times its phases, for the benchmarks.

    python3 scripts/lib/tsrun.py EVENTS.jsonl CMD...

Stamps each stdout line with the seconds since start as it arrives (written to
EVENTS.jsonl), then prints the wall time, the CPU seconds CMD used (user +
system) and, per progress phase, the time of its first and last event:
"total 12.3\\ncpu 4.5\\nphase a b". Exits with CMD's code.
"""
import json
import resource
import subprocess
import sys
import time

out = sys.argv[1]
t0 = time.monotonic()
p = subprocess.Popen(sys.argv[2:], stdout=subprocess.PIPE, text=True)
phases = {}
with open(out, "w") as f:
    for line in p.stdout:
        t = time.monotonic() - t0
        f.write("%.3f %s" % (t, line))
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("event") == "progress":
            first, _ = phases.get(ev["phase"], (t, t))
            phases[ev["phase"]] = (first, t)
rc = p.wait()
total = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print("total %.3f" % total)
print("cpu %.3f" % (ru.ru_utime + ru.ru_stime))
for name, (a, b) in phases.items():
    print("%s %.3f %.3f" % (name, a, b))
sys.exit(rc)
