"""End to end: a tiny bf16 MLP trained with AdamW for 3 steps, each step published
(deltaswarm.publish) to a directory bucket; 4 `deltaswarm node` processes on 127.0.0.1
follow it (3 through deltaswarm.follow here, the 4th run by a separate serving process,
tests/serve_tiny.py, that swaps each version into a live module with prepare_load/apply
and answers a fixed input); after every version the served output equals the trainer's
bit for bit (torch.equal), every node holds the staged file byte for byte, and no request
of the serving process's request thread saw a mix of two versions.

DELTASWARM_BINARY: the deltaswarm binary (ctest passes the built one). Bounded: 120 s in all.
"""
import hashlib
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import torch  # noqa: E402

import deltaswarm  # noqa: E402
from deltaswarm import cli  # noqa: E402
import tiny_model  # noqa: E402

BINARY = os.environ.get("DELTASWARM_BINARY") or shutil.which("deltaswarm") or "deltaswarm"
TOTAL_S = float(os.environ.get("DS_E2E_TIMEOUT", "120"))
NODES = 4  # 3 followers here + the serving process's own node
STEPS = 3


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


class EndToEnd(unittest.TestCase):
    def setUp(self):
        self.t0 = time.monotonic()
        self.tmp = tempfile.mkdtemp(prefix="ds-py-e2e-")
        self.followers = []
        self.server = None
        self.server_node_pid = None
        self.keep = os.environ.get("DS_E2E_KEEP") == "1"
        self.passed = False
        self.logs = []
        self.pulls = []

    def left(self):
        left = TOTAL_S - (time.monotonic() - self.t0)
        if left <= 0:
            raise TimeoutError(f"end-to-end test past its {TOTAL_S:.0f} s limit")
        return left

    def tearDown(self):
        # Every process we started, by pid: the followers' nodes, the server and its node.
        for f in self.followers:
            f.stop_timeout = 5
            f.stop()
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGTERM)
            try:
                self.server.wait(10)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        if self.server_node_pid and pid_alive(self.server_node_pid):
            os.kill(self.server_node_pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while pid_alive(self.server_node_pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(self.server_node_pid):
                os.kill(self.server_node_pid, signal.SIGKILL)
        if self.server is not None and self.server.stdout is not None:
            self.server.stdout.close()
        for log in self.logs:
            log.close()
        if not self.passed or self.keep:
            for name in sorted(os.listdir(self.tmp)):
                if name.endswith(".log"):
                    with open(os.path.join(self.tmp, name), errors="replace") as f:
                        tail = f.read()[-3000:]
                    sys.stderr.write(f"--- {name} (tail)\n{tail}\n")
        if self.keep:
            sys.stderr.write(f"kept {self.tmp}\n")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def test_train_publish_follow_serve(self):
        torch.set_num_threads(1)  # the server runs 1 thread too: identical kernels, identical bits
        tmp = self.tmp
        bucket, state, staging = (os.path.join(tmp, d) for d in ("bucket", "state", "staging"))
        os.makedirs(bucket)  # a directory bucket must exist before a node follows it
        key = os.path.join(tmp, "publisher.key")
        cli.run(BINARY, "keygen", ["-o", key], timeout=30)
        trust = key + ".pub"

        # 3 nodes followed here, each with its own store.
        # Node 0 reads the bucket; the others (and the server's node) also know node 0 as a peer.
        peers = []
        for i in range(NODES - 1):
            log = open(os.path.join(tmp, f"node{i}.log"), "ab")
            self.logs.append(log)
            f = deltaswarm.follow(os.path.join(tmp, f"node{i}"), lambda v, p: None, bucket=bucket, model="tiny",
                                  trust=trust, binary=BINARY, listen="127.0.0.1:0", poll_interval=0.2, stderr=log,
                                  stop_timeout=10, peer=peers, fallback_after=2,
                                  on_event=lambda ev, i=i: ev.get("type") == "pulled" and self.pulls.append((i, ev)))
            self.followers.append(f)
            endpoint = f.wait_ready(min(30, self.left()))
            self.assertTrue(endpoint.startswith("127.0.0.1:"), endpoint)
            if not peers:
                peers = [endpoint]

        # The serving process, with the 4th node.
        server_log = open(os.path.join(tmp, "server.log"), "ab")
        self.logs.append(server_log)
        self.server = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "serve_tiny.py"), "--dest", os.path.join(tmp, "node3"),
             "--bucket", bucket, "--model", "tiny", "--trust", trust, "--binary", BINARY,
             "--listen", "127.0.0.1:0", "--peer", peers[0], "--node-log", os.path.join(tmp, "node3.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=server_log)
        lines = queue.Queue()

        def read_server():
            for raw in self.server.stdout:
                try:
                    lines.put(json.loads(raw))
                except ValueError:
                    pass
            lines.put(None)

        threading.Thread(target=read_server, daemon=True).start()

        def next_line(event):
            while True:
                try:
                    msg = lines.get(timeout=self.left())
                except queue.Empty:
                    raise TimeoutError(f"the serving process sent no {event!r} line in time")
                if msg is None:
                    self.fail(f"the serving process exited (code {self.server.wait()}) before a {event!r} line")
                if msg.get("event") == event:
                    return msg
                if msg.get("event") == "node_exited":
                    self.fail(f"the serving process's node exited: {msg}")

        ready = next_line("ready")
        self.server_node_pid = ready["node_pid"]
        self.assertTrue(ready["endpoint"].startswith("127.0.0.1:"))

        # The trainer: AdamW on the bf16 parameters, a fixed batch; publish after each step.
        net = tiny_model.make(seed=0)
        opt = torch.optim.AdamW(net.parameters(), lr=1e-2, weight_decay=0.01)
        g = torch.Generator().manual_seed(7)
        batch, target = torch.randn(32, 16, generator=g).to(torch.bfloat16), torch.randn(32, 8, generator=g)
        x = tiny_model.fixed_input()
        pub = deltaswarm.Publisher(bucket=bucket, model="tiny", key=key, every=1, state=state, staging=staging,
                                   binary=BINARY, timeout=60)
        timings = []
        for step in range(1, STEPS + 1):
            loss = torch.nn.functional.mse_loss(net(batch).float(), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                net.scale.add_(0.125)  # a buffer changes too
            r = pub.after_step(net)
            self.assertIsNotNone(r)
            self.assertEqual(r.version, step)
            self.assertGreater(r.target_bytes, 0)
            self.assertEqual(r.target_bytes, os.path.getsize(r.path))
            if step == 1:
                self.assertGreater(r.keyframe_bytes, 0)
            else:
                self.assertGreater(r.delta_bytes, 0)
            with torch.no_grad():
                expected = net(x)
            staged = sha256(r.path)
            t_pub = time.monotonic()
            for f in self.followers:
                f.wait_for(step, timeout=self.left())
            served = next_line("version")
            while served["version"] < step:  # an older version delivered late: the next line is ours
                served = next_line("version")
            t_all = time.monotonic() - t_pub
            timings.append((step, r.seconds, t_all))
            self.assertEqual(served["version"], step)
            self.assertTrue(served["in_place"], "load_into reallocated a parameter")
            out = tiny_model.decode(served["output"])
            self.assertTrue(torch.equal(out, expected),
                            f"version {step}: served output {out} != trainer's {expected}")
            for i in range(NODES):
                held = os.path.join(tmp, f"node{i}", "versions", str(step), "model.safetensors")
                self.assertEqual(sha256(held), staged, f"node{i} version {step}")
            self.assertEqual(deltaswarm.current_version(os.path.join(tmp, "node0")), step)

        # Stop the server: its follower stops its node; it reports its requests.
        self.server.send_signal(signal.SIGTERM)
        stats = next_line("stats")
        self.assertEqual(self.server.wait(min(20, self.left())), 0)
        self.assertGreater(stats["requests"], 0)
        self.assertEqual(stats["mixed"], 0, "a request saw a mix of two versions")
        self.assertEqual(stats["errors"], [])
        deadline = time.monotonic() + 5
        while pid_alive(self.server_node_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(pid_alive(self.server_node_pid), "the server's node outlived it")
        for f in self.followers:
            self.assertEqual(f.errors, [])
            self.assertEqual(f.stop(), 0)
        for step, pub_s, spread_s in timings:
            sys.stderr.write(f"version {step}: publish {pub_s:.2f} s, on all {NODES} nodes and served "
                             f"{spread_s:.2f} s later\n")
        swarm = sum(ev["pull"]["swarm_bytes"] for _, ev in self.pulls)
        bucket_bytes = sum(ev["pull"]["downloaded_bytes"] for _, ev in self.pulls)
        sys.stderr.write(f"nodes 0-2 received {swarm} bytes from the swarm, {bucket_bytes} from the bucket\n")
        sys.stderr.write(f"end to end: {time.monotonic() - self.t0:.1f} s, server answered {stats['requests']} "
                         "requests, none mixed\n")
        self.passed = True


if __name__ == "__main__":
    unittest.main(verbosity=2)
