#!/usr/bin/python3
"""Real checkpoint pairs for the delta benchmark (issue 13): a small GPT-like model trained on
real text with AdamW on fp32 master weights, saved after every step.

The text: the bytes of every regular file in /usr/share/common-licenses (symlinks skipped: they
name files already there) and of every /usr/lib/python3.X/*.py file of the system Python (the
standard library's top level), both in sorted name order, concatenated; a byte-level model
(vocabulary of 256). The corpus's size and SHA-256 are recorded in summary.json: the same
Debian packages give the same corpus.

The model (default 10.9M parameters): 6 pre-LayerNorm transformer blocks of d_model 384, 6
heads, context 128, learned position embeddings, untied output head, GPT-2 init (normal 0.02).
Training: AdamW (betas 0.9/0.95, weight decay 0.1, eps 1e-8) on fp32 weights, batches of
--batch random windows of --ctx bytes from the corpus (seeded); the linear layers run as
kernel-1 convolutions (Debian's torch multiplies matrices with the reference BLAS, ~40x slower); first --warmup steps at --warm-lr (to leave the
init), then, for each of --lrs, from the same warmed state (weights and AdamW moments), --steps
more steps at that lr. Saved, OUT being --out:

    OUT/warm/state.pt                      the warmed model and optimizer (resumed from)
    OUT/bf16-lr1e-06/v0/model.safetensors  the bf16 cast of the warmed weights (v0) ...
    OUT/bf16-lr1e-06/vK/model.safetensors  ... and after step K of lr 1e-6 (K = 1..steps)
    OUT/fp32-lr1e-06/vK/model.safetensors  the fp32 masters at the same points
    (the same for every lr of --lrs), OUT/summary.json  the corpus, model, timings and, per
    step, the fraction of elements whose bits changed

Files are safetensors written by deltaswarm.safetensors (python/deltaswarm; names sorted,
header padded with spaces to 8 bytes). Work already done is skipped: a finished lr directory
(its done.json) is kept, and the warmed state is reused when its settings match. Deterministic:
seeded, torch.set_num_threads(--threads), deterministic algorithms. Run with Debian's
python3-torch:

    /usr/bin/python3 scripts/real_pairs.py [--out /tmp/real-pairs] [--warmup 250] [--steps 3]

--planes OLD NEW OUT (used by scripts/bench_delta.sh) trains nothing: it writes the dense
reference of issue 13 for a pair of safetensors files of one layout, zigzag(ord(new) - ord(old))
of every element (ord: the order-preserving integer of the float's bits, as the codec's dense
frames use) split into byte planes over the whole data area (plane 0: every element's low
byte, ...), to OUT, for `zstd -3 OUT`. The headers are left out.
"""
import argparse
import glob
import hashlib
import json
import math
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from deltaswarm import safetensors  # noqa: E402


def corpus_files():
    files = sorted(p for p in glob.glob("/usr/share/common-licenses/*")
                   if os.path.isfile(p) and not os.path.islink(p))
    libs = sorted(glob.glob("/usr/lib/python3.[0-9]*/"))
    libs = [d for d in libs if os.path.isfile(os.path.join(d, "os.py"))]
    if libs:  # the newest system Python's standard library (Debian 12: 3.11)
        lib = max(libs, key=lambda d: tuple(int(x) for x in os.path.basename(d.rstrip("/"))[6:].split(".")))
        files += sorted(p for p in glob.glob(os.path.join(lib, "*.py")) if os.path.isfile(p))
    return files


def load_corpus():
    files = corpus_files()
    data = b"".join(open(p, "rb").read() for p in files)
    if len(data) < 100000:
        raise SystemExit(f"real_pairs: only {len(data)} bytes of text found in {len(files)} files")
    return files, data


class Linear(nn.Linear):
    """nn.Linear (same parameters and init), computed as a 1-D convolution of kernel 1 over the tokens.

    Debian's torch 1.13 does matrix products with the reference (netlib) BLAS: about 4 GFLOPS on
    2 cores here; its convolutions go through oneDNN: about 150 GFLOPS forward and backward."""

    def forward(self, x):
        lead = x.shape[:-1]
        cols = x.reshape(-1, self.in_features).t().unsqueeze(0)  # (1, in, tokens)
        y = F.conv1d(cols, self.weight.unsqueeze(-1), self.bias)  # (1, out, tokens)
        return y.squeeze(0).t().reshape(*lead, self.out_features)


class Block(nn.Module):
    def __init__(self, d, heads, ctx):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = Linear(d, 3 * d)
        self.proj = Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = Linear(d, 4 * d)
        self.out = Linear(4 * d, d)
        self.register_buffer("mask", torch.tril(torch.ones(ctx, ctx, dtype=torch.bool)), persistent=False)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)
        att = att.masked_fill(~self.mask[:t, :t], float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, layers, d, heads, ctx, vocab=256):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList(Block(d, heads, ctx) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = Linear(d, vocab, bias=False)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, idx):
        t = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(t))
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln_f(x))


def changed_fraction(a, b):
    """Fraction of elements whose bit patterns differ between two state dicts of one dtype."""
    n = changed = 0
    for name, x in a.items():
        y = b[name]
        iv = {2: torch.int16, 4: torch.int32}[x.element_size()]
        changed += int((x.reshape(-1).view(iv) != y.reshape(-1).view(iv)).sum())
        n += x.numel()
    return changed / n


def write_planes(old_path, new_path, out_path):
    """The zigzag ordinal differences of NEW against OLD as byte planes over the data area."""
    fo, fn = safetensors.SafetensorsFile(old_path), safetensors.SafetensorsFile(new_path)
    infos = sorted(fn.tensors.values(), key=lambda i: i.begin)
    widths = {torch.empty((), dtype=i.dtype).element_size() for i in infos}
    if len(widths) != 1 or {i.name for i in infos} != set(fo.tensors):
        raise SystemExit("real_pairs --planes: the files need the same tensors, of one element width")
    w = widths.pop()
    ivt = {1: torch.int8, 2: torch.int16, 4: torch.int32}[w]
    bits, mask, sign = 8 * w, (1 << (8 * w)) - 1, 1 << (8 * w - 1)
    planes = [[] for _ in range(w)]
    for info in infos:
        o_t, n_t = fo.get(info.name), fn.get(info.name)
        if o_t.shape != n_t.shape or o_t.dtype != n_t.dtype:
            raise SystemExit(f"real_pairs --planes: {info.name}: shapes or dtypes differ")

        def ordinal(t):
            u = t.reshape(-1).view(ivt).long() & mask
            neg = (u & sign) != 0
            return torch.where(neg, u ^ mask, u ^ sign) if t.is_floating_point() else u
        d = (ordinal(n_t) - ordinal(o_t)) & mask
        s = torch.where(d >= sign, d - (1 << bits), d)  # the difference, signed
        z = ((s << 1) ^ (s >> 63)) & mask  # zigzag: 0, -1, 1, -2 -> 0, 1, 2, 3
        for b in range(w):
            planes[b].append(((z >> (8 * b)) & 0xFF).to(torch.uint8))
    n = 0
    with open(out_path, "wb") as f:
        for b in range(w):
            for t in planes[b]:
                f.write(t.numpy().tobytes())
                n += t.numel()
    print(f"real_pairs --planes: {n // w} elements of {w} bytes, {n} bytes to {out_path}")


def lr_tag(lr):
    return "lr%.0e" % lr  # 1e-06 -> "lr1e-06"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/real-pairs", help="output directory (default %(default)s)")
    ap.add_argument("--warmup", type=int, default=250,
                    help="warm-up steps at --warm-lr (default %(default)s: about 1.7 s a step on 2 idle cores, "
                         "7-8 minutes; 27 minutes under a load of 5-9)")
    ap.add_argument("--warm-lr", type=float, default=3e-4, help="warm-up learning rate (default %(default)s)")
    ap.add_argument("--lrs", default="1e-6,5e-6", help="learning rates continued from the warmed state, "
                    "comma-separated (default %(default)s)")
    ap.add_argument("--steps", type=int, default=3, help="steps per lr, each saved (default %(default)s)")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--d-model", type=int, default=384)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--ctx", type=int, default=128, help="context length (default %(default)s)")
    ap.add_argument("--batch", type=int, default=16, help="sequences per step (default %(default)s)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default %(default)s)")
    ap.add_argument("--planes", nargs=3, metavar=("OLD", "NEW", "OUT"),
                    help="write the byte planes of ordinal differences of a pair to OUT and exit (see above)")
    a = ap.parse_args()
    if a.planes:
        write_planes(*a.planes)
        return
    lrs = [float(x) for x in a.lrs.split(",") if x]

    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(True)
    os.makedirs(a.out, exist_ok=True)
    t_start = time.monotonic()
    files, data = load_corpus()
    corpus = {"files": len(files), "first": files[0], "last": files[-1], "bytes": len(data),
              "sha256": hashlib.sha256(data).hexdigest(),
              "sources": "/usr/share/common-licenses/* (regular files) + " + os.path.dirname(files[-1]) + "/*.py"}
    tokens = torch.frombuffer(bytearray(data), dtype=torch.uint8).long()
    settings = {k: getattr(a, k) for k in ("warmup", "warm_lr", "layers", "d_model", "heads", "ctx", "batch",
                                           "seed", "threads")}
    settings["corpus_sha256"] = corpus["sha256"]
    print(f"real_pairs: corpus {len(files)} files, {len(data)} bytes, sha256 {corpus['sha256'][:16]}...; "
          f"out {a.out}", flush=True)

    torch.manual_seed(a.seed)
    model = GPT(a.layers, a.d_model, a.heads, a.ctx)
    nparams = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=a.warm_lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    print(f"model: {a.layers} layers, d_model {a.d_model}, {a.heads} heads, context {a.ctx}, byte vocab: "
          f"{nparams} parameters ({nparams / 1e6:.2f}M)", flush=True)

    def train_step(gen):
        ix = torch.randint(len(tokens) - a.ctx - 1, (a.batch,), generator=gen)
        x = torch.stack([tokens[i:i + a.ctx] for i in ix.tolist()])
        y = torch.stack([tokens[i + 1:i + 1 + a.ctx] for i in ix.tolist()])
        loss = F.cross_entropy(model(x).reshape(-1, 256), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss)

    warm_dir = os.path.join(a.out, "warm")
    warm_path = os.path.join(warm_dir, "state.pt")
    warm_info = {}
    if os.path.isfile(warm_path):
        saved = torch.load(warm_path)
        if saved.get("settings") == settings:
            model.load_state_dict(saved["model"])
            opt.load_state_dict(saved["opt"])
            warm_info = saved["info"]
            print(f"warm-up: reusing {warm_path} (loss {warm_info['final_loss']:.3f})", flush=True)
        else:
            print(f"warm-up: {warm_path} has other settings; warming up again", flush=True)
            saved = None
    else:
        saved = None
    if saved is None:
        gen = torch.Generator().manual_seed(a.seed)
        t0 = time.monotonic()
        losses = []
        for i in range(a.warmup):
            losses.append(train_step(gen))
            if (i + 1) % 25 == 0 or i + 1 == a.warmup:
                el = time.monotonic() - t0
                print(f"warm-up step {i + 1}/{a.warmup}: loss {sum(losses[-25:]) / len(losses[-25:]):.3f} "
                      f"({el:.0f} s, {el / (i + 1):.2f} s/step)", flush=True)
        warm_info = {"steps": a.warmup, "lr": a.warm_lr, "first_loss": losses[0] if losses else None,
                     "final_loss": sum(losses[-25:]) / max(1, len(losses[-25:])),
                     "seconds": time.monotonic() - t0}
        os.makedirs(warm_dir, exist_ok=True)
        torch.save({"settings": settings, "model": model.state_dict(), "opt": opt.state_dict(),
                    "info": warm_info}, warm_path + ".tmp")
        os.replace(warm_path + ".tmp", warm_path)
    warm_model = {k: v.clone() for k, v in model.state_dict().items()}

    summary_path = os.path.join(a.out, "summary.json")
    summary = {"corpus": corpus, "settings": settings, "parameters": nparams, "warmup": warm_info, "runs": {}}
    for lr in lrs:
        tag = lr_tag(lr)
        dirs = {"bf16": os.path.join(a.out, "bf16-" + tag), "fp32": os.path.join(a.out, "fp32-" + tag)}
        done = os.path.join(dirs["bf16"], "done.json")
        if os.path.isfile(done):
            with open(done) as f:
                run = json.load(f)
            if run.get("settings") == settings and run.get("steps") == a.steps:
                print(f"lr {lr:g}: done already ({dirs['bf16']}, {dirs['fp32']}); bf16 changed per step "
                      + ", ".join(f"{100 * c:.2f} %" for c in run["bf16_changed"]), flush=True)
                summary["runs"][tag] = run
                continue
        model.load_state_dict(warm_model)
        # The moments afresh from the file: load_state_dict keeps (and steps then change) the tensors it is given.
        opt.load_state_dict(torch.load(warm_path)["opt"])
        for g in opt.param_groups:
            g["lr"] = lr
        # Each lr sees the same batches after the warm-up.
        gen = torch.Generator().manual_seed(a.seed + 1)

        def save(k):
            with torch.no_grad():
                fp32 = {n: p.detach().clone() for n, p in model.state_dict().items()}
                bf16 = {n: p.to(torch.bfloat16) for n, p in fp32.items()}
            meta = {"format": "pt", "lr": repr(lr), "step": str(k), "source": "deltaswarm scripts/real_pairs.py"}
            for kind, sd in (("bf16", bf16), ("fp32", fp32)):
                path = os.path.join(dirs[kind], f"v{k}", "model.safetensors")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                safetensors.save(sd, path, metadata=meta)
                os.chmod(path, 0o644)  # (the writer's temporary file is private)
            return bf16, fp32

        prev_b, prev_f = save(0)
        run = {"lr": lr, "steps": a.steps, "settings": settings, "bf16_changed": [], "fp32_changed": [],
               "loss": [], "bf16_bytes": os.path.getsize(os.path.join(dirs["bf16"], "v0", "model.safetensors")),
               "fp32_bytes": os.path.getsize(os.path.join(dirs["fp32"], "v0", "model.safetensors"))}
        for k in range(1, a.steps + 1):
            t0 = time.monotonic()
            loss = train_step(gen)
            b, f = save(k)
            cb, cf = changed_fraction(prev_b, b), changed_fraction(prev_f, f)
            run["bf16_changed"].append(cb)
            run["fp32_changed"].append(cf)
            run["loss"].append(loss)
            prev_b, prev_f = b, f
            print(f"lr {lr:g} step {k}/{a.steps}: loss {loss:.4f}; bf16 elements changed {100 * cb:.2f} %, "
                  f"fp32 {100 * cf:.2f} % ({time.monotonic() - t0:.1f} s)", flush=True)
        with open(done + ".tmp", "w") as fh:
            json.dump(run, fh, indent=1)
        os.replace(done + ".tmp", done)
        summary["runs"][tag] = run
    with open(summary_path + ".tmp", "w") as fh:
        json.dump(summary, fh, indent=1)
    os.replace(summary_path + ".tmp", summary_path)
    print(f"real_pairs: {time.monotonic() - t_start:.0f} s; pairs (vK-1 -> vK) in "
          + ", ".join(os.path.join(a.out, kind + "-" + lr_tag(lr)) for lr in lrs for kind in ("bf16", "fp32")))
    for lr in lrs:
        r = summary["runs"][lr_tag(lr)]
        print(f"real_pairs: lr {lr:g}: bf16 changed per step "
              + " ".join(f"{100 * c:.2f}%" for c in r["bf16_changed"])
              + f" (mean {100 * sum(r['bf16_changed']) / len(r['bf16_changed']):.2f} %); fp32 "
              + " ".join(f"{100 * c:.2f}%" for c in r["fp32_changed"]))


if __name__ == "__main__":
    main()
