"""The serving process of the end-to-end test: follows a model with its own `deltaswarm node`
(deltaswarm.follow), swaps each version into a live TinyMLP (deltaswarm.load_into, under the
lock) and answers the fixed input, while a request thread keeps answering under the same lock
and checks that no answer ever comes from a mix of two versions.

stdout, JSON lines: {"event":"ready","node_pid":..,"endpoint":..}, then one
{"event":"version","version":V,"output":{..}} per version, and on SIGTERM
{"event":"stats","requests":N,"mixed":M,"errors":[..]}."""
import argparse
import json
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch  # noqa: E402

import deltaswarm  # noqa: E402
import tiny_model  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    for a in ("--dest", "--bucket", "--model", "--trust", "--binary", "--listen", "--node-log"):
        ap.add_argument(a, required=a != "--node-log")
    ap.add_argument("--poll-interval", type=float, default=0.2)
    ap.add_argument("--peer", action="append", default=[])
    args = ap.parse_args()
    torch.set_num_threads(1)
    net = tiny_model.make(seed=99)  # other weights than the trainer's: everything comes from the checkpoints
    net.eval()
    x = tiny_model.fixed_input()
    lock = threading.Lock()
    state = {"version": 0, "ref": None, "requests": 0, "mixed": 0}
    with torch.no_grad():
        state["ref"] = net(x)
    out_lock = threading.Lock()

    def say(obj):
        with out_lock:
            sys.stdout.write(json.dumps(obj) + "\n")
            sys.stdout.flush()

    def on_version(version, path):
        ptrs = [p.data_ptr() for p in net.state_dict().values()]
        plan = deltaswarm.prepare_load(net, path)  # checked outside the lock
        with lock, torch.no_grad():
            plan.apply()                           # weights, version and reference change together
            out = net(x)
            state["version"], state["ref"] = version, out
        same_storage = ptrs == [p.data_ptr() for p in net.state_dict().values()]
        say({"event": "version", "version": version, "output": tiny_model.encode(out), "in_place": same_storage})

    stop = threading.Event()

    def requests():
        while not stop.wait(0.002):
            with lock, torch.no_grad():  # a request sees one version, whole
                out = net(x)
                state["requests"] += 1
                if not torch.equal(out, state["ref"]):
                    state["mixed"] += 1

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log = open(args.node_log, "ab") if args.node_log else None
    with deltaswarm.follow(args.dest, on_version, bucket=args.bucket, model=args.model, trust=args.trust,
                           binary=args.binary, listen=args.listen, poll_interval=args.poll_interval,
                           peer=args.peer, fallback_after=2, stderr=log) as follower:
        say({"event": "ready", "node_pid": follower.pid, "endpoint": follower.wait_ready(60)})
        t = threading.Thread(target=requests, daemon=True)
        t.start()
        while not stop.wait(0.1):
            if follower.returncode is not None:
                say({"event": "node_exited", "code": follower.returncode})
                break
        stop.set()
        t.join()
    say({"event": "stats", "requests": state["requests"], "mixed": state["mixed"],
         "errors": [repr(e) for e in follower.errors]})


if __name__ == "__main__":
    main()
