#!/usr/bin/env python3
"""pmc vs PyTorch (eager and torch.compile) on one GPU, in bf16.

Two steps, so that the GPU machine needs no compiler:

    # here (pmc-opt, onnx): ONNX models and CUDA bundles into build/gpu-bench
    python3 bench/gpu.py --prepare --build-dir build --dir build/gpu-bench
    # on the GPU machine (the pmc Python runtime module, numpy; torch optional)
    PYTHONPATH=build/python python3 bench/gpu.py --dir build/gpu-bench

Models (batch 1 and 32, sequence 128): a 12-layer GPT-style decoder (d=768, 12
heads, vocabulary 50304, causal mask, erf GELU MLP, LM head), a BERT-base-sized
encoder (12 post-LN layers, d=768, 12 heads, FFN 3072; it takes hidden states, no
tokenizer embeddings) and a ResNet-18-style CNN (224x224, BN folded into conv
bias). Both sides run the same shapes; PyTorch uses the same ONNX weights' shapes
with its own initialization (timing does not depend on values).

What each number is:
  * model ms: median wall time of one inference from numpy inputs to numpy outputs
    (pmc's Executable.run; PyTorch with the same host copies, so the ratio compares
    like with like), after warm-up. Ratios > 1 mean pmc is faster.
  * GEMM TFLOP/s: a chain of 8 [M,K]x[K,K] MatMuls (M=8192, K=4096) minus a
    baseline bundle with the same inputs and outputs (X * 1.0001), so host copies
    cancel; PyTorch's torch.matmul timed with CUDA events. Beside the device's
    dense bf16 peak.
  * fused bandwidth: ReduceMax over rows of gelu(W * s + b) for a resident
    [16384, 8192] weight W, minus a same-I/O baseline; bytes = one read of W, so it
    is a lower bound when the chain is not fused into one kernel. Beside the
    memory bandwidth.
Peaks are those of pmc's built-in device specs (lib/Parallel/DeviceSpec.cpp),
chosen from the device name, or from --device-spec (a `pmc-opt calibrate` JSON).

bf16: pmc compiles with `pmc-opt compile --dtype bf16` (weights and compute in bf16,
reductions, softmax and LayerNorm statistics in fp32; feeds and results fp32), PyTorch
runs the modules in torch.bfloat16. `--small` shrinks every model for a smoke run.
"""

import argparse
import ctypes
import json
import math
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP_EXIT = 77
BATCHES = (1, 32)
SEQ = 128
GEMM_M, GEMM_K, GEMM_CHAIN = 8192, 4096, 8
BW_ROWS, BW_COLS = 16384, 8192

# Dense bf16 tensor peak (FLOP/s) and memory bandwidth (B/s): DeviceSpec.cpp.
PEAKS = {
    "h100-sxm": (989.4e12, 3.35e12),
    "h100-pcie": (756e12, 2.0e12),
    "h200": (989.4e12, 4.8e12),
    "a100": (312e12, 2.039e12),
}


def spec_of(device_name):
    n = device_name.lower()
    if "h200" in n:
        return "h200"
    if "h100" in n:
        return "h100-pcie" if "pcie" in n else "h100-sxm"
    if "a100" in n:
        return "a100"
    return None


def sizes(small):
    """Model dimensions; `small` for a smoke run."""
    if small:
        return dict(layers=2, d=64, heads=4, ffn=256, vocab=512, image=32, widths=(8, 16, 32, 64),
                    gemm_m=256, gemm_k=128, bw_rows=256, bw_cols=128, seq=16)
    return dict(layers=12, d=768, heads=12, ffn=3072, vocab=50304, image=224,
                widths=(64, 128, 256, 512), gemm_m=GEMM_M, gemm_k=GEMM_K, bw_rows=BW_ROWS,
                bw_cols=BW_COLS, seq=SEQ)


# --- ONNX models (prepare) ----------------------------------------------------

def _zoo():
    sys.path.insert(0, os.path.join(ROOT, "test", "zoo"))
    import make_zoo
    return make_zoo


def gpt(s, batch):
    z = _zoo()
    from onnx import TensorProto
    g = z.GraphBuilder("gpt12", 1)
    seq, d, heads, vocab = s["seq"], s["d"], s["heads"], s["vocab"]
    ids = g.input("input_ids", TensorProto.INT64, [batch, seq])
    tok = g.op("Gather", [g.weight((vocab, d), d, "wte"), ids], "tok", axis=0)
    pos = g.op("Gather", [g.weight((seq, d), d, "wpe"),
                          g.const(np.arange(seq, dtype=np.int64), "pos")], "pos_emb", axis=0)
    h = g.op("Add", [tok, pos], "emb")
    causal = g.const(np.where(np.tril(np.ones((seq, seq), bool)), 0.0, -1e9)
                     .astype(np.float32).reshape(1, 1, seq, seq), "causal")
    for i in range(s["layers"]):
        a = z._attention(g, z._layer_norm(g, h, d, f"l{i}_ln1"), batch, seq, d, heads,
                         f"l{i}_attn", mask=causal, mask_mode="add")
        h = g.op("Add", [h, a], f"l{i}_res1")
        m = z._linear(g, z._layer_norm(g, h, d, f"l{i}_ln2"), d, s["ffn"], f"l{i}_up")
        m = z._linear(g, z._erf_gelu(g, m, f"l{i}_gelu"), s["ffn"], d, f"l{i}_down")
        h = g.op("Add", [h, m], f"l{i}_res2")
    h = z._layer_norm(g, h, d, "ln_f")
    g.op("MatMul", [h, g.weight((d, vocab), d, "lm_head")], "lm_head")
    g.nodes[-1].output[0] = "logits"
    g.output("logits", TensorProto.FLOAT, [batch, seq, vocab])
    return g.model()


def bert(s, batch):
    z = _zoo()
    from onnx import TensorProto
    g = z.GraphBuilder("bert_base", 2)
    seq, d = s["seq"], s["d"]
    h = g.input("hidden", TensorProto.FLOAT, [batch, seq, d])
    for i in range(s["layers"]):
        a = z._attention(g, h, batch, seq, d, s["heads"], f"l{i}_attn")
        h = z._layer_norm(g, g.op("Add", [h, a], f"l{i}_res1"), d, f"l{i}_ln1")
        m = z._linear(g, h, d, s["ffn"], f"l{i}_up")
        m = z._linear(g, z._erf_gelu(g, m, f"l{i}_gelu"), s["ffn"], d, f"l{i}_down")
        h = z._layer_norm(g, g.op("Add", [h, m], f"l{i}_res2"), d, f"l{i}_ln2")
    g.nodes[-1].output[0] = "y"
    g.output("y", TensorProto.FLOAT, [batch, seq, d])
    return g.model()


def resnet(s, batch):
    z = _zoo()
    from onnx import TensorProto
    g = z.GraphBuilder("resnet18", 3)
    w = s["widths"]
    x = g.input("image", TensorProto.FLOAT, [batch, 3, s["image"], s["image"]])

    def conv(inp, c_in, c_out, k, stride, relu, hint):
        y = g.op("Conv", [inp, g.weight((c_out, c_in, k, k), c_in * k * k, f"{hint}_w"),
                          g.bias(c_out, f"{hint}_b")], hint, kernel_shape=[k, k],
                 strides=[stride, stride], pads=[k // 2] * 4)
        return g.op("Relu", [y], f"{hint}_relu") if relu else y

    h = conv(x, 3, w[0], 7, 2, True, "stem")
    h = g.op("MaxPool", [h], "pool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    c = w[0]
    for stage, width in enumerate(w):
        for block in range(2):
            stride = 2 if stage > 0 and block == 0 else 1
            r = conv(h, c, width, 3, stride, True, f"s{stage}b{block}a")
            r = conv(r, width, width, 3, 1, False, f"s{stage}b{block}b")
            sc = conv(h, c, width, 1, stride, False, f"s{stage}b{block}s") \
                if stride != 1 or c != width else h
            h = g.op("Relu", [g.op("Add", [sc, r], f"s{stage}b{block}_add")],
                     f"s{stage}b{block}_out")
            c = width
    h = g.op("Flatten", [g.op("GlobalAveragePool", [h], "gap")], "flat", axis=1)
    g.op("Gemm", [h, g.weight((1000, c), c, "fc_w"), g.bias(1000, "fc_b")], "fc", transB=1)
    g.nodes[-1].output[0] = "logits"
    g.output("logits", TensorProto.FLOAT, [batch, 1000])
    return g.model()


def gemm_chain(s, baseline):
    z = _zoo()
    from onnx import TensorProto
    g = z.GraphBuilder("gemm", 4)
    m, k = s["gemm_m"], s["gemm_k"]
    h = g.input("x", TensorProto.FLOAT, [m, k])
    if baseline:
        g.op("Mul", [h, g.const(np.array(1.0001, np.float32), "c")], "y")
    else:
        weight = g.weight((k, k), k, "w")  # stored once, used GEMM_CHAIN times
        for i in range(GEMM_CHAIN):
            h = g.op("MatMul", [h, weight], f"mm{i}")
    g.nodes[-1].output[0] = "y"
    g.output("y", TensorProto.FLOAT, [m, k])
    return g.model()


def fused(s, baseline):
    z = _zoo()
    from onnx import TensorProto
    g = z.GraphBuilder("fused", 5)
    rows, cols = s["bw_rows"], s["bw_cols"]
    x = g.input("s", TensorProto.FLOAT, [cols])
    if baseline:
        g.op("Mul", [x, g.const(np.array(2.0, np.float32), "two")], "y")
    else:
        w = g.weight((rows, cols), 1, "w")
        y = z._erf_gelu(g, g.op("Add", [g.op("Mul", [w, x], "scale"), g.bias(cols, "b")], "shift"),
                        "gelu")
        g.op("ReduceMax", [y], "y", axes=[0], keepdims=0)
    g.nodes[-1].output[0] = "y"
    g.output("y", TensorProto.FLOAT, [cols])
    return g.model()


def prepare(args):
    import onnx
    s = sizes(args.small)
    os.makedirs(args.dir, exist_ok=True)
    pmc_opt = os.path.join(args.build_dir, "bin", "pmc-opt")
    if not os.path.exists(pmc_opt):
        sys.exit(f"error: {pmc_opt} does not exist (build pmc-opt first)")
    jobs = [(f"{name}_b{b}", (lambda f=f, b=b: f(s, b))) for name, f in
            (("gpt", gpt), ("bert", bert), ("resnet", resnet)) for b in BATCHES]
    jobs += [("gemm", lambda: gemm_chain(s, False)), ("gemm_base", lambda: gemm_chain(s, True)),
             ("fused", lambda: fused(s, False)), ("fused_base", lambda: fused(s, True))]
    manifest = {"sizes": s, "small": args.small, "bundles": {}}
    for name, build in jobs:
        start = time.monotonic()
        model = build()
        path = os.path.join(args.dir, f"{name}.onnx")
        onnx.save(model, path, save_as_external_data=model.ByteSize() > (1 << 28),
                  location=f"{name}.weights")
        bundle = os.path.join(args.dir, f"{name}.pmc")
        base = [pmc_opt, "compile", path, "-o", bundle, "--target", "cuda", "--devices", "1"]
        dtype = "bf16"
        r = subprocess.run(base + ["--dtype", dtype], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"error: compiling {name} (--dtype {dtype}): {r.stderr.strip()}")
        inputs = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
                  for vi in model.graph.input}
        manifest["bundles"][name] = {"bundle": f"{name}.pmc", "dtype": dtype, "inputs": inputs}
        print(f"{name}: {dtype} bundle in {time.monotonic() - start:.0f} s", flush=True)
    with open(os.path.join(args.dir, "bench.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"wrote {args.dir}; run `bench/gpu.py --dir {args.dir}` on a GPU machine")
    return 0


# --- run (the GPU machine) ----------------------------------------------------

def gpu_name():
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError as e:
        return None, f"no CUDA driver ({e})"
    if cuda.cuInit(0) != 0:
        return None, "cuInit failed (no usable GPU)"
    count = ctypes.c_int(0)
    if cuda.cuDeviceGetCount(ctypes.byref(count)) != 0 or not count.value:
        return None, "no CUDA device"
    name = ctypes.create_string_buffer(256)
    dev = ctypes.c_int(0)
    cuda.cuDeviceGet(ctypes.byref(dev), 0)
    cuda.cuDeviceGetName(name, 256, dev)
    return name.value.decode(errors="replace"), ""


def fmt(value, width):
    """`value` with 2 decimals right-aligned in `width`, or blanks for None."""
    return f"{value:{width}.2f}" if value is not None else " " * width


def median_ms(fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def feeds_for(spec, seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in spec["inputs"].items():
        if name == "input_ids":
            out[name] = rng.integers(0, 100, size=shape, dtype=np.int64)
        else:
            out[name] = rng.standard_normal(shape).astype(np.float32)
    return out


class Torch:
    """The PyTorch side, or why it is missing."""

    def __init__(self):
        try:
            import torch  # noqa: F401
        except ImportError as e:
            self.missing = f"torch is not importable ({e}); PyTorch columns are empty"
            return
        import torch
        self.missing = "" if torch.cuda.is_available() else "torch has no CUDA device"
        self.torch = torch

    def modules(self, s):
        torch = self.torch
        nn = torch.nn
        F = torch.nn.functional

        class Attn(nn.Module):
            def __init__(self, causal):
                super().__init__()
                self.qkv, self.out, self.causal = nn.Linear(s["d"], 3 * s["d"]), \
                    nn.Linear(s["d"], s["d"]), causal

            def forward(self, x):
                b, t, d = x.shape
                q, k, v = self.qkv(x).view(b, t, 3, s["heads"], d // s["heads"]) \
                    .permute(2, 0, 3, 1, 4)
                y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
                return self.out(y.transpose(1, 2).reshape(b, t, d))

        class Block(nn.Module):
            def __init__(self, pre_ln, causal):
                super().__init__()
                self.attn, self.pre = Attn(causal), pre_ln
                self.ln1, self.ln2 = nn.LayerNorm(s["d"]), nn.LayerNorm(s["d"])
                self.mlp = nn.Sequential(nn.Linear(s["d"], s["ffn"]), nn.GELU(),
                                         nn.Linear(s["ffn"], s["d"]))

            def forward(self, x):
                if self.pre:
                    x = x + self.attn(self.ln1(x))
                    return x + self.mlp(self.ln2(x))
                x = self.ln1(x + self.attn(x))
                return self.ln2(x + self.mlp(x))

        class Gpt(nn.Module):
            def __init__(self):
                super().__init__()
                self.wte, self.wpe = nn.Embedding(s["vocab"], s["d"]), nn.Embedding(s["seq"], s["d"])
                self.blocks = nn.Sequential(*[Block(True, True) for _ in range(s["layers"])])
                self.ln, self.head = nn.LayerNorm(s["d"]), nn.Linear(s["d"], s["vocab"], bias=False)

            def forward(self, ids):
                h = self.wte(ids) + self.wpe(torch.arange(ids.shape[1], device=ids.device))
                return self.head(self.ln(self.blocks(h)))

        def basic(c_in, c_out, stride):
            body = nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1), nn.ReLU(),
                                 nn.Conv2d(c_out, c_out, 3, 1, 1))
            short = nn.Conv2d(c_in, c_out, 1, stride) if stride != 1 or c_in != c_out else None

            class Basic(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body, self.short = body, short

                def forward(self, x):
                    return F.relu(self.body(x) + (self.short(x) if self.short else x))
            return Basic()

        w = s["widths"]
        layers = [nn.Conv2d(3, w[0], 7, 2, 3), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
        c = w[0]
        for i, width in enumerate(w):
            layers += [basic(c, width, 2 if i else 1), basic(width, width, 1)]
            c = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 1000)]
        return {"gpt": Gpt, "bert": lambda: nn.Sequential(
                    *[Block(False, False) for _ in range(s["layers"])]),
                "resnet": lambda: nn.Sequential(*layers)}


def run(args):
    name, why = gpu_name()
    if not name:
        print(f"no GPU: {why}; the GPU benchmark needs one (exit {SKIP_EXIT})")
        return SKIP_EXIT
    with open(os.path.join(args.dir, "bench.json")) as f:
        manifest = json.load(f)
    s = manifest["sizes"]
    if args.device_spec:
        with open(args.device_spec) as f:
            spec = json.load(f)
        peak_flops = spec.get("peak_flops", {}).get("bf16") or spec.get("bf16_flops")
        peak_bw = spec.get("memory_bandwidth")
        spec_name = args.device_spec
    else:
        spec_name = spec_of(name)
        peak_flops, peak_bw = PEAKS.get(spec_name, (None, None))
    print(f"GPU: {name} (peaks from {spec_name or 'no known spec'})")
    try:
        import pmc
    except ImportError as e:
        print(f"error: the pmc Python module is not importable ({e}); set "
              "PYTHONPATH=build/python", file=sys.stderr)
        return 2
    torch = Torch()
    if torch.missing:
        print(f"note: {torch.missing}")
    bundles = manifest["bundles"]

    def pmc_ms(key):
        exe = pmc.load(os.path.join(args.dir, bundles[key]["bundle"]))
        feeds = feeds_for(bundles[key])
        return median_ms(lambda: exe.run_dict(feeds), args.warmup, args.repeat)

    results = {"gpu": name, "models": [], "gemm": {}, "bandwidth": {}}
    print(f"\n{'model':<10} {'batch':>5} {'pmc dtype':>9} {'pmc ms':>9} {'eager ms':>9} "
          f"{'compile ms':>10} {'eager/pmc':>9} {'compile/pmc':>11}")
    mods = torch.modules(s) if not torch.missing else {}
    for model in ("gpt", "bert", "resnet"):
        for batch in BATCHES:
            key = f"{model}_b{batch}"
            row = {"model": model, "batch": batch, "pmc_dtype": bundles[key]["dtype"],
                   "pmc_ms": pmc_ms(key)}
            if mods:
                t = torch.torch
                feeds = feeds_for(bundles[key])
                (inp,) = feeds.values()
                m = mods[model]().cuda().eval().to(t.bfloat16)
                conv = (lambda a: t.from_numpy(a).cuda()) if inp.dtype == np.int64 else \
                    (lambda a: t.from_numpy(a).cuda().to(t.bfloat16))
                for label, fn in (("eager_ms", m), ("compile_ms", t.compile(m))):
                    def once(fn=fn):
                        with t.inference_mode():
                            out = fn(conv(inp)).float().cpu().numpy()
                        return out
                    row[label] = median_ms(once, args.warmup + 2, args.repeat)
            results["models"].append(row)
            e, c, ms = row.get("eager_ms"), row.get("compile_ms"), row["pmc_ms"]
            print(f"{model:<10} {batch:>5} {row['pmc_dtype']:>9} {ms:9.2f} {fmt(e, 9)} "
                  f"{fmt(c, 10)} {fmt(e and e / ms, 9)} {fmt(c and c / ms, 11)}", flush=True)

    m, k = s["gemm_m"], s["gemm_k"]
    flops = GEMM_CHAIN * 2.0 * m * k * k
    t_pmc = max(pmc_ms("gemm") - pmc_ms("gemm_base"), 1e-6)
    results["gemm"] = {"pmc_tflops": flops / t_pmc / 1e9, "peak_tflops": (peak_flops or 0) / 1e12}
    rows, cols = s["bw_rows"], s["bw_cols"]
    elem = 2 if bundles["fused"]["dtype"] == "bf16" else 4
    moved = rows * cols * elem
    t_bw = max(pmc_ms("fused") - pmc_ms("fused_base"), 1e-6)
    results["bandwidth"] = {"pmc_gbs": moved / t_bw / 1e6, "peak_gbs": (peak_bw or 0) / 1e9}
    if not torch.missing:
        t = torch.torch
        a = t.randn(m, k, device="cuda", dtype=t.bfloat16)
        w = t.randn(k, k, device="cuda", dtype=t.bfloat16)
        start, end = t.cuda.Event(enable_timing=True), t.cuda.Event(enable_timing=True)
        for _ in range(3):
            t.matmul(a, w)
        start.record()
        for _ in range(20):
            t.matmul(a, w)
        end.record()
        t.cuda.synchronize()
        results["gemm"]["torch_tflops"] = 2.0 * m * k * k / (start.elapsed_time(end) / 20) / 1e9
        big = t.randn(rows, cols, device="cuda", dtype=t.bfloat16)
        sv = t.randn(cols, device="cuda", dtype=t.bfloat16)
        bv = t.randn(cols, device="cuda", dtype=t.bfloat16)
        f = t.compile(lambda W, x, b: t.nn.functional.gelu(W * x + b).amax(0))
        for _ in range(3):
            f(big, sv, bv)
        start.record()
        for _ in range(20):
            f(big, sv, bv)
        end.record()
        t.cuda.synchronize()
        results["bandwidth"]["torch_gbs"] = rows * cols * 2 / (start.elapsed_time(end) / 20) / 1e6
    g, bw = results["gemm"], results["bandwidth"]
    print(f"\nGEMM {GEMM_CHAIN} x [{m},{k}]x[{k},{k}] ({bundles['gemm']['dtype']}): pmc "
          f"{g['pmc_tflops']:.1f} TFLOP/s, torch {g.get('torch_tflops', float('nan')):.1f}, "
          f"peak {g['peak_tflops']:.1f}"
          + (f" ({100 * g['pmc_tflops'] / g['peak_tflops']:.0f}% of peak)" if peak_flops else ""))
    print(f"fused gelu+reduce over [{rows},{cols}] ({bundles['fused']['dtype']}): pmc "
          f"{bw['pmc_gbs']:.0f} GB/s, torch.compile {bw.get('torch_gbs', float('nan')):.0f}, "
          f"memory bandwidth {bw['peak_gbs']:.0f}"
          + (f" ({100 * bw['pmc_gbs'] / bw['peak_gbs']:.0f}%)" if peak_bw else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prepare", action="store_true", help="write models and bundles (no GPU)")
    p.add_argument("--dir", default="build/gpu-bench")
    p.add_argument("--build-dir", default="build")
    p.add_argument("--small", action="store_true", help="tiny models, for a smoke run")
    p.add_argument("--pmc-run", default=None, help="unused by the timing (kept for make)")
    p.add_argument("--device-spec", default=None, help="a `pmc-opt calibrate` JSON")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeat", type=int, default=20)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.prepare:
        return prepare(args)
    if not os.path.exists(os.path.join(args.dir, "bench.json")):
        print(f"error: {args.dir}/bench.json not found: run `bench/gpu.py --prepare` first",
              file=sys.stderr)
        return 2
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
