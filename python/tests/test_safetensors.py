"""Unit tests: the safetensors writer and reader, load_into, the CLI wrapper, and that the
deltaswarm CLI (DELTASWARM_BINARY) accepts what the writer produces (inspect, diff, apply)."""
import json
import os
import shutil
import signal
import struct
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
from deltaswarm import cli, safetensors  # noqa: E402
import tiny_model  # noqa: E402

BINARY = os.environ.get("DELTASWARM_BINARY") or shutil.which("deltaswarm")


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def sample():
    g = torch.Generator().manual_seed(3)
    base = torch.randn(6, 5, generator=g, dtype=torch.float64)
    return {
        "bf16": torch.randn(3, 4, generator=g).to(torch.bfloat16),
        "f16": torch.randn(7, generator=g).to(torch.float16),
        "f32": torch.randn(2, 3, 4, generator=g),
        "f64": torch.randn(5, generator=g, dtype=torch.float64),
        "i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 255, 7], dtype=torch.uint8),
        "i16": torch.tensor([-32768, 1, 32767], dtype=torch.int16),
        "i32": torch.arange(-5, 5, dtype=torch.int32),
        "i64": torch.tensor([-(2 ** 63), 2 ** 63 - 1]),
        "bool": torch.tensor([True, False, True]),
        "scalar": torch.tensor(2.5, dtype=torch.bfloat16),
        "empty": torch.empty(0, 3, dtype=torch.float16),
        "transposed": base.t(),             # non-contiguous
        "sliced": base[:, 1:4:2],           # non-contiguous, offset storage
        "expanded": torch.tensor([1.0, 2.0]).expand(3, 2),  # stride 0
    }


class SafetensorsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ds-py-st-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_round_trip_every_dtype(self):
        sd = sample()
        path = os.path.join(self.tmp, "m.safetensors")
        size = deltaswarm.save_file(sd, path, metadata={"format": "pt", "step": 3})
        self.assertEqual(size, os.path.getsize(path))
        f = deltaswarm.SafetensorsFile(path)
        self.assertEqual(f.metadata, {"format": "pt", "step": "3"})
        self.assertEqual(set(f.keys()), set(sd))
        for name, t in sd.items():
            got = f.get(name)
            self.assertEqual(got.dtype, t.dtype, name)
            self.assertEqual(got.shape, t.shape, name)
            self.assertTrue(torch.equal(got, t), name)
        f.close()

    def test_layout(self):
        sd = sample()
        path = os.path.join(self.tmp, "m.safetensors")
        deltaswarm.save_file(sd, path)
        with open(path, "rb") as fh:
            raw = fh.read()
        (n,) = struct.unpack("<Q", raw[:8])
        self.assertEqual((8 + n) % 8, 0, "header padded to 8 bytes")
        header = json.loads(raw[8:8 + n])  # trailing spaces are valid JSON whitespace
        self.assertNotIn("__metadata__", header)
        spans = sorted((e["data_offsets"], k) for k, e in header.items())
        pos = 0
        for (b, e), name in spans:
            self.assertEqual(b, pos, name)
            width = sd[name].element_size()
            self.assertEqual((8 + n + b) % width, 0, f"{name} aligned to its element size")
            pos = e
        self.assertEqual(8 + n + pos, len(raw))
        self.assertEqual(header["scalar"]["shape"], [])
        self.assertEqual(header["empty"]["data_offsets"][0], header["empty"]["data_offsets"][1])
        self.assertEqual(header["bf16"]["dtype"], "BF16")

    def test_atomic_write_leaves_old_file_on_error(self):
        path = os.path.join(self.tmp, "m.safetensors")
        deltaswarm.save_file({"a": torch.ones(3)}, path)
        before = read_bytes(path)
        with self.assertRaises(safetensors.SafetensorsError):
            deltaswarm.save_file({"a": torch.ones(3), "bad": torch.ones(2, dtype=torch.complex64)}, path)
        self.assertEqual(read_bytes(path), before)
        self.assertEqual(os.listdir(self.tmp), ["m.safetensors"], "no temporary file left")

    def test_reader_refuses_malformed(self):
        path = os.path.join(self.tmp, "m.safetensors")
        deltaswarm.save_file({"a": torch.ones(4), "b": torch.zeros(2)}, path)
        raw = read_bytes(path)
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + n])

        def write(h, data=raw[8 + n:]):
            hb = json.dumps(h).encode()
            with open(path, "wb") as fh:
                fh.write(struct.pack("<Q", len(hb)) + hb + data)

        bad = dict(header, a=dict(header["a"], data_offsets=[0, 12]))
        write(bad)
        with self.assertRaisesRegex(safetensors.SafetensorsError, "'a'"):
            deltaswarm.SafetensorsFile(path)
        write(header, raw[8 + n:] + b"xx")
        with self.assertRaisesRegex(safetensors.SafetensorsError, "after the last tensor"):
            deltaswarm.SafetensorsFile(path)
        with open(path, "wb") as fh:
            fh.write(struct.pack("<Q", 10 ** 12))
        with self.assertRaisesRegex(safetensors.SafetensorsError, "header length"):
            deltaswarm.SafetensorsFile(path)

    def test_overwrite_in_place(self):
        path = os.path.join(self.tmp, "m.safetensors")
        deltaswarm.save_file({"a": torch.arange(64, dtype=torch.float32)}, path)
        ino = os.stat(path).st_ino
        for sd in ({"a": torch.arange(64, dtype=torch.float32) * 2},  # same size
                   {"a": torch.ones(3, dtype=torch.bfloat16)},  # shorter: truncated
                   {"a": torch.ones(200), "b": torch.zeros(5, dtype=torch.int8)}):  # longer
            n = safetensors.overwrite(sd, path, metadata={"k": "v"})
            self.assertEqual((os.stat(path).st_ino, os.path.getsize(path)), (ino, n))
            other = os.path.join(self.tmp, "fresh.safetensors")
            deltaswarm.save_file(sd, other, metadata={"k": "v"})
            self.assertEqual(read_bytes(path), read_bytes(other))
        # Another name of the file would see it change: refused, nothing written.
        link = os.path.join(self.tmp, "link.safetensors")
        os.link(path, link)
        before = read_bytes(path)
        with self.assertRaises(deltaswarm.SafetensorsError):
            safetensors.overwrite({"a": torch.zeros(200)}, path)
        self.assertEqual(read_bytes(link), before)

    def test_staging_slots(self):
        from deltaswarm.trainer import _Staged
        staging = os.path.join(self.tmp, "staging")
        store = os.path.join(self.tmp, "store")  # stands for the CLI's state store: hard links
        os.makedirs(store)

        def stage(v, keep=2):
            s = _Staged({"w": torch.full((1000,), float(v))}, staging, "model.safetensors", None, keep)
            s.release()
            return s

        staged = []
        for v in range(1, 7):
            s = stage(v)
            self.assertEqual(deltaswarm.load_file(s.path)["w"][0].item(), float(v))
            # The store links the new version and drops the one beyond keep = 2.
            os.link(s.path, os.path.join(store, str(v)))
            if v > 2:
                os.unlink(os.path.join(store, str(v - 2)))
            staged.append(s)
            for kept in range(max(1, v - 1), v + 1):  # the store's versions are intact
                self.assertEqual(deltaswarm.load_file(os.path.join(store, str(kept)))["w"][0].item(), float(kept))
        self.assertEqual([s.in_place for s in staged], [False, False, False, True, True, True])
        self.assertEqual(len({s.path for s in staged}), 3)
        self.assertEqual(staged[3].path, staged[0].path)
        # Every slot linked (a store keeping more than keep says): the oldest name is dropped, a fresh
        # file written; the linked file keeps its bytes.
        for i in range(3):
            p = os.path.join(staging, str(i), "model.safetensors")
            if os.stat(p).st_nlink == 1:
                os.link(p, os.path.join(store, "extra"))
        s = stage(7)
        self.assertFalse(s.in_place)
        self.assertEqual(deltaswarm.load_file(os.path.join(store, "extra"))["w"][0].item(), 4.0)
        self.assertEqual(deltaswarm.load_file(s.path)["w"][0].item(), 7.0)

    def test_views_outlive_the_file_object(self):
        path = os.path.join(self.tmp, "m.safetensors")
        deltaswarm.save_file({"a": torch.arange(10, dtype=torch.float32)}, path)
        t = deltaswarm.load_file(path)["a"]
        t.add_(1)  # copy-on-write mapping: the file stays as written
        self.assertTrue(torch.equal(deltaswarm.load_file(path)["a"], torch.arange(10, dtype=torch.float32)))
        self.assertTrue(torch.equal(t, torch.arange(1, 11, dtype=torch.float32)))


class LoadIntoTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ds-py-load-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_in_place_and_exact(self):
        src, dst = tiny_model.make(1), tiny_model.make(2)
        with torch.no_grad():
            src.scale.fill_(3)
        path = os.path.join(self.tmp, "m.safetensors")
        deltaswarm.save_file(src.state_dict(), path)
        before = {k: (v, v.data_ptr()) for k, v in dst.state_dict(keep_vars=True).items()}
        report = deltaswarm.load_into(dst, path, lock=threading.Lock())
        self.assertEqual(sorted(report.copied), sorted(before))
        for k, v in dst.state_dict(keep_vars=True).items():
            self.assertIs(v, before[k][0], f"{k}: same tensor object")
            self.assertEqual(v.data_ptr(), before[k][1], f"{k}: same storage")
            self.assertTrue(torch.equal(v, src.state_dict()[k]), k)
        self.assertTrue(isinstance(dst.fc1.weight, torch.nn.Parameter) and dst.fc1.weight.requires_grad)
        x = tiny_model.fixed_input()
        self.assertTrue(torch.equal(src(x), dst(x)))
        # A directory (a node's versions/<id>/) works as well.
        self.assertEqual(deltaswarm.load_into(dst, self.tmp).bytes, report.bytes)

    def test_validation_before_any_copy(self):
        src, dst = tiny_model.make(1), tiny_model.make(2)
        sd = dict(src.state_dict())
        snapshot = {k: v.clone() for k, v in dst.state_dict().items()}
        cases = {
            "dtype": (dict(sd, **{"fc2.bias": sd["fc2.bias"].float()}), "'fc2.bias'.*F32"),
            "shape": (dict(sd, **{"fc2.weight": sd["fc2.weight"][:4]}), "'fc2.weight'.*shape"),
            "missing": ({k: v for k, v in sd.items() if k != "norm.weight"}, "missing.*norm.weight"),
            "unexpected": (dict(sd, extra=torch.ones(1)), "not in the module: extra"),
        }
        for case, (bad, pattern) in cases.items():
            path = os.path.join(self.tmp, f"{case}.safetensors")
            deltaswarm.save_file(bad, path)
            with self.assertRaisesRegex(deltaswarm.LoadError, pattern, msg=case):
                deltaswarm.load_into(dst, path)
            for k, v in dst.state_dict().items():
                self.assertTrue(torch.equal(v, snapshot[k]), f"{case}: {k} changed after a failed load")
        # strict=False takes what matches (the dtype and shape checks stay).
        r = deltaswarm.load_into(dst, os.path.join(self.tmp, "missing.safetensors"), strict=False)
        self.assertEqual(r.missing, ["norm.weight"])
        r = deltaswarm.load_into(dst, os.path.join(self.tmp, "unexpected.safetensors"), strict=False)
        self.assertEqual(r.unexpected, ["extra"])
        with self.assertRaises(deltaswarm.LoadError):
            deltaswarm.load_into(dst, os.path.join(self.tmp, "dtype.safetensors"), strict=False)

    def test_tied_weights(self):
        class Tied(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = torch.nn.Embedding(5, 3)
                self.head = torch.nn.Linear(3, 5, bias=False)
                self.head.weight = self.embed.weight

        src, dst = Tied(), Tied()
        path = os.path.join(self.tmp, "tied.safetensors")
        deltaswarm.save_file({"embed.weight": src.embed.weight}, path)  # stored once, as Hugging Face does
        deltaswarm.load_into(dst, path)
        self.assertTrue(torch.equal(dst.head.weight, src.embed.weight))
        deltaswarm.save_file(src.state_dict(), path)  # or under both names
        deltaswarm.load_into(dst, path)
        self.assertIs(dst.head.weight, dst.embed.weight)

    def test_prepare_then_apply(self):
        src, dst = tiny_model.make(1), tiny_model.make(2)
        path = os.path.join(self.tmp, "m.safetensors")
        deltaswarm.save_file(src.state_dict(), path)
        plan = deltaswarm.prepare_load(dst, path)
        self.assertFalse(torch.equal(dst.fc1.weight, src.fc1.weight), "prepare changes nothing")
        plan.apply()
        self.assertTrue(torch.equal(dst.fc1.weight, src.fc1.weight))
        with self.assertRaises(RuntimeError):
            plan.apply()


class FollowTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ds-py-follow-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def switch(self, dest, version):
        os.makedirs(os.path.join(dest, "versions", str(version)))
        link = os.path.join(dest, ".current.new")
        os.symlink(f"versions/{version}", link)
        os.replace(link, os.path.join(dest, "current"))  # as the node does: a new link renamed over

    def test_watch_an_existing_store(self):
        dest = os.path.join(self.tmp, "store")
        self.switch(dest, 1)
        seen = []
        with deltaswarm.follow(dest, lambda v, p: seen.append((v, p)), watch=True, poll_interval=0.05) as f:
            f.wait_for(1, timeout=10)
            self.switch(dest, 2)
            f.wait_for(2, timeout=10)
        self.assertEqual(seen, [(1, os.path.join(dest, "versions", "1")), (2, os.path.join(dest, "versions", "2"))])
        self.assertEqual(deltaswarm.current_version(dest), 2)

    def test_callback_error_is_kept_and_following_goes_on(self):
        dest = os.path.join(self.tmp, "store")
        self.switch(dest, 1)

        def on_version(v, p):
            if v == 1:
                raise RuntimeError("boom")

        with deltaswarm.follow(dest, on_version, watch=True, poll_interval=0.05) as f:
            f.wait_for(1, timeout=10)
            self.switch(dest, 2)
            f.wait_for(2, timeout=10)
        self.assertEqual([str(e) for e in f.errors], ["boom"])

    def test_stop_is_bounded(self):
        # A "node" that ignores SIGTERM: stop() sends SIGKILL after stop_timeout.
        fake = os.path.join(self.tmp, "fake-node")
        with open(fake, "w") as fh:
            fh.write("#!/bin/sh\ntrap '' TERM\necho '{\"event\":\"node\",\"type\":\"ready\",\"endpoint\":\"127.0.0.1:1\"}'\n"
                     "while :; do sleep 0.1; done\n")
        os.chmod(fake, 0o755)
        f = deltaswarm.follow(os.path.join(self.tmp, "d"), lambda v, p: None, bucket="b", model="m", trust="k.pub",
                              binary=fake, stop_timeout=0.5)
        self.assertEqual(f.wait_ready(10), "127.0.0.1:1")
        t0 = time.monotonic()
        self.assertEqual(f.stop(), -signal.SIGKILL)
        self.assertLess(time.monotonic() - t0, 5)


class CliTest(unittest.TestCase):
    def test_flag_args(self):
        self.assertEqual(cli.flag_args({"keyframe_every": 10, "seed": True, "quiet": False, "peer": ["a", "b"],
                                        "x": None}),
                         ["--keyframe-every", "10", "--seed", "--peer", "a", "--peer", "b"])

    def test_json_lines(self):
        out = 'noise\n{"event":"progress"}\n{"event":"summary","ok":true,"result":{"v":1}}\n{bad\n'
        self.assertEqual([j["event"] for j in cli.json_lines(out)], ["progress", "summary"])


@unittest.skipIf(not BINARY, "DELTASWARM_BINARY is not set and deltaswarm is not on PATH")
class CliAcceptsWriterTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ds-py-cli-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_inspect_diff_apply(self):
        sd = {k: v for k, v in sample().items()}
        old = os.path.join(self.tmp, "old.safetensors")
        new = os.path.join(self.tmp, "new.safetensors")
        deltaswarm.save_file(sd, old, metadata={"format": "pt"})
        sd2 = dict(sd, bf16=sd["bf16"] + 1, f32=sd["f32"] * 2)
        deltaswarm.save_file(sd2, new)
        r = cli.run(BINARY, "inspect", [old])
        (f,) = r["files"]
        self.assertTrue(f["safetensors"])
        by_name = {t["name"]: t for t in f["tensors"]}
        self.assertEqual(set(by_name), set(sd))
        for name, t in sd.items():
            self.assertEqual(by_name[name]["dtype"], safetensors.DTYPES[t.dtype], name)
            self.assertEqual(by_name[name]["shape"], list(t.shape), name)
        delta = os.path.join(self.tmp, "delta")
        cli.run(BINARY, "diff", [old, new, "-o", delta])
        out = os.path.join(self.tmp, "rebuilt.safetensors")
        cli.run(BINARY, "apply", [old, delta, "-o", out])
        self.assertEqual(read_bytes(out), read_bytes(new))
        cli.run(BINARY, "verify", [new, "--against", delta])
        got = deltaswarm.load_file(out)
        for name, t in sd2.items():
            self.assertTrue(torch.equal(got[name], t.contiguous()), name)

    def test_publisher_background_and_on_save(self):
        key = os.path.join(self.tmp, "key")
        cli.run(BINARY, "keygen", ["-o", key])
        bucket = os.path.join(self.tmp, "bucket")
        os.makedirs(bucket)
        net = tiny_model.make(1)
        kw = dict(bucket=bucket, model="m", key=key, state=os.path.join(self.tmp, "state"),
                  staging=os.path.join(self.tmp, "staging"), binary=BINARY)
        with deltaswarm.Publisher(every=2, background=True, **kw) as pub:
            for _ in range(4):
                with torch.no_grad():
                    net.fc1.weight.add_(0.5)
                self.assertIsNone(pub.after_step(net))
        self.assertEqual([r.version for r in pub.results], [1, 2])
        self.assertGreater(pub.results[1].delta_bytes, 0)
        saved = os.path.join(self.tmp, "saved.safetensors")
        with torch.no_grad():
            net.fc2.bias.add_(1)
        deltaswarm.save_file(net.state_dict(), saved)
        r = pub.on_save(saved)
        self.assertEqual(r.version, 3)
        # The same tensors under another file name are another checkpoint: version 4; then the
        # same again publishes nothing (the CLI's publish is idempotent).
        self.assertEqual(deltaswarm.publish(net, **kw).version, 4)
        again = deltaswarm.publish(net, **kw)
        self.assertEqual((again.version, again.uploaded_bytes), (4, 0), again)
        bad = deltaswarm.Publisher(background=True, **dict(kw, key=os.path.join(self.tmp, "nokey")))
        bad.after_step(net)
        with self.assertRaises(cli.DeltaswarmError):
            bad.wait()

    def test_publish_rewrites_only_unlinked_staging_files(self):
        key = os.path.join(self.tmp, "key")
        cli.run(BINARY, "keygen", ["-o", key])
        bucket, state = os.path.join(self.tmp, "bucket"), os.path.join(self.tmp, "state")
        os.makedirs(bucket)
        kw = dict(bucket=bucket, model="m", key=key, state=state, staging=os.path.join(self.tmp, "staging"),
                  binary=BINARY)
        net = tiny_model.make(1)
        results, published = [], {}
        for v in range(1, 6):
            with torch.no_grad():
                net.fc1.weight.add_(0.25)
            r = deltaswarm.publish(net, **kw)
            self.assertEqual(r.version, v)
            results.append(r)
            published[v] = {k: t.clone() for k, t in net.state_dict().items()}
            # The state store's held versions are the checkpoints published, byte for byte.
            for held in os.listdir(os.path.join(state, "versions")):
                got = deltaswarm.load_file(os.path.join(state, "versions", held, "model.safetensors"))
                for name, t in published[int(held)].items():
                    self.assertTrue(torch.equal(got[name], t), (held, name))
        self.assertEqual([r.in_place for r in results], [False, False, False, True, True])
        # The chain rebuilds: a fresh pull of the last version equals it.
        dest = os.path.join(self.tmp, "node")
        cli.run(BINARY, "pull", ["--bucket", bucket, "--model", "m", "--trust", key + ".pub", "--dest", dest])
        got = deltaswarm.load_file(os.path.join(dest, "versions", "5", "model.safetensors"))
        for name, t in published[5].items():
            self.assertTrue(torch.equal(got[name], t), name)

    def test_error_is_raised_with_exit_code(self):
        with self.assertRaises(cli.DeltaswarmError) as e:
            cli.run(BINARY, "inspect", [os.path.join(self.tmp, "nope.safetensors")])
        self.assertEqual(e.exception.exit_code, 3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
