#!/usr/bin/env python3
"""Planner time and predicted speedup for GPT-style models (bench/planner.py).

Generates GPT decoders with onnx.helper (pre-LN, separate q/k/v/out
projections, 4x MLP with Gelu, LM head), `layers` x `hidden`, f32; every
initializer is external data in one *sparse* zero file, so a 48-layer
hidden-4096 model (~39 GB of weights) costs no disk and the planner, which
reads shapes only, never touches the bytes (the importer maps the file).
Runs `pmc-opt compile --emit plan` at 8, 16 and 64 devices on the h100-sxm
spec, times it, and compares the predicted step time with one device. The
planner searches pipelines too: the table shows the chosen stages,
microbatches, schedule and bubble fraction. Writes a CSV and, when matplotlib
is importable (bench/requirements.txt, installed by `make bench`), a PNG of
the planner time and the predicted speedup per configuration.

    PYTHONPATH=build/python python3 bench/planner.py --build-dir build \
        [--configs 12x1024,24x2048,48x4096] [--devices 8,16,64] \
        [--csv planner.csv] [--png planner.png]
"""

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import onnx
from onnx import TensorProto, helper


def make_gpt(path, layers, hidden, batch=8, seq=512, heads=None, vocab=32000):
    heads = heads or hidden // 64
    dh = hidden // heads
    data_name = os.path.basename(path) + ".data"
    inits, nodes = [], []
    offset = [0]

    def weight(name, shape):
        size = 4
        for d in shape:
            size *= d
        t = onnx.TensorProto()
        t.name, t.data_type = name, TensorProto.FLOAT
        t.dims.extend(shape)
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", data_name), ("offset", str(offset[0])), ("length", str(size))):
            e = t.external_data.add()
            e.key, e.value = k, v
        offset[0] += size
        inits.append(t)
        return name

    def small(name, values, dtype=TensorProto.INT64):
        inits.append(helper.make_tensor(name, dtype, [len(values)], values))
        return name

    def op(kind, inputs, name, **attrs):
        nodes.append(helper.make_node(kind, inputs, [name], name=name, **attrs))
        return name

    split = small("shape4", [batch, seq, heads, dh])
    merged = small("shape3", [batch, seq, hidden])
    h = "x"
    for i in range(layers):
        p = f"l{i}"
        ln = op("LayerNormalization", [h, weight(f"{p}_ln1_g", [hidden]),
                                       weight(f"{p}_ln1_b", [hidden])], f"{p}_ln1", axis=-1)
        heads_of = {}
        for n, perm in (("q", [0, 2, 1, 3]), ("k", [0, 2, 3, 1]), ("v", [0, 2, 1, 3])):
            y = op("MatMul", [ln, weight(f"{p}_w{n}", [hidden, hidden])], f"{p}_{n}")
            y = op("Reshape", [y, split], f"{p}_{n}_split")
            heads_of[n] = op("Transpose", [y], f"{p}_{n}_t", perm=perm)
        s = op("MatMul", [heads_of["q"], heads_of["k"]], f"{p}_scores")
        s = op("Softmax", [s], f"{p}_probs", axis=-1)
        c = op("MatMul", [s, heads_of["v"]], f"{p}_ctx")
        c = op("Transpose", [c], f"{p}_ctx_t", perm=[0, 2, 1, 3])
        c = op("Reshape", [c, merged], f"{p}_ctx_m")
        a = op("MatMul", [c, weight(f"{p}_wo", [hidden, hidden])], f"{p}_o")
        h = op("Add", [h, a], f"{p}_res1")
        ln = op("LayerNormalization", [h, weight(f"{p}_ln2_g", [hidden]),
                                       weight(f"{p}_ln2_b", [hidden])], f"{p}_ln2", axis=-1)
        m = op("MatMul", [ln, weight(f"{p}_w1", [hidden, 4 * hidden])], f"{p}_up")
        m = op("Gelu", [m], f"{p}_gelu")
        m = op("MatMul", [m, weight(f"{p}_w2", [4 * hidden, hidden])], f"{p}_down")
        h = op("Add", [h, m], f"{p}_res2")
    op("MatMul", [h, weight("lm_head", [hidden, vocab])], "logits")
    graph = helper.make_graph(
        nodes, f"gpt{layers}x{hidden}",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, seq, hidden])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, seq, vocab])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    onnx.save(model, path)
    with open(os.path.join(os.path.dirname(path), data_name), "wb") as f:
        f.truncate(offset[0])  # sparse: zeros that take no disk
    return offset[0]


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def plan(pmc_opt, path, devices, spec):
    """(plan dict or None, wall seconds, CPU seconds, error line)."""
    start, cpu = time.perf_counter(), _children_cpu()
    result = subprocess.run([pmc_opt, "compile", path, "--devices", str(devices),
                             "--device-spec", spec, "--emit", "plan", "-o", "-"],
                            capture_output=True, text=True)
    seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu
    if result.returncode != 0:
        return None, seconds, cpu, result.stderr.strip().splitlines()[0]
    return json.loads(result.stdout), seconds, cpu, ""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--configs", default="12x1024,24x2048,48x4096")
    parser.add_argument("--devices", default="8,16,64")
    parser.add_argument("--spec", default="h100-sxm")
    parser.add_argument("--csv", default="planner.csv")
    parser.add_argument("--png", default="planner.png",
                        help="plot (needs matplotlib; skipped with a note otherwise)")
    args = parser.parse_args(argv)
    pmc_opt = os.path.join(args.build_dir, "bin", "pmc-opt")
    rows = []
    with tempfile.TemporaryDirectory(prefix="pmc-bench-planner-") as tmp:
        for config in args.configs.split(","):
            layers, hidden = (int(v) for v in config.split("x"))
            path = os.path.join(tmp, f"gpt{layers}x{hidden}.onnx")
            weight_bytes = make_gpt(path, layers, hidden)
            one, _, _, why1 = plan(pmc_opt, path, 1, args.spec)
            for devices in (int(d) for d in args.devices.split(",")):
                p, seconds, cpu, why = plan(pmc_opt, path, devices, args.spec)
                row = {"layers": layers, "hidden": hidden, "weight_gb": weight_bytes / 1e9,
                       "devices": devices, "planner_s": seconds, "planner_cpu_s": cpu}
                if p is None:
                    row.update(mesh="-", stages=0, microbatches=0, schedule="-",
                               bubble=float("nan"), step_ms=float("nan"), speedup="-",
                               mem_gb=float("nan"), evaluations=0, method=why)
                else:
                    step = p["predicted"]["step_time_s"]
                    row.update(mesh="x".join(f"{k}{v}" for k, v in p["mesh"].items()),
                               stages=p["stages"], microbatches=p["microbatches"],
                               schedule=p["schedule"], bubble=p["bubble_fraction"],
                               step_ms=step * 1e3,
                               speedup=(f"{one['predicted']['step_time_s'] / step:.2f}"
                                        if one else "1-dev OOM"),
                               mem_gb=max(p["predicted"]["memory_per_device_bytes"]) / 1e9,
                               evaluations=p["search"]["evaluations"],
                               method=p["search"]["method"].split("; ")[-1])
                rows.append(row)
                print(f"{layers:3d}x{hidden:<5d} {devices:3d} dev  {row['planner_s']:6.2f} s "
                      f"(cpu {row['planner_cpu_s']:5.2f} s)  "
                      f"{row['mesh']:14s} pp {row['stages']:2d} mb {row['microbatches']:2d} "
                      f"{row['schedule']:5s} bubble {row['bubble']:5.3f}  "
                      f"step {row['step_ms']:9.3f} ms  speedup "
                      f"{row['speedup']:>9s}  mem {row['mem_gb']:6.2f} GB  "
                      f"{row['evaluations']:4d} evals", flush=True)
            os.remove(path + ".data")
    with open(args.csv, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.csv}")
    plot(rows, args.png)
    return 0


def plot(rows, path):
    """Planner seconds and predicted speedup per model and device count."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"matplotlib is not importable: no plot written ({path}); "
              "pip install -r bench/requirements.txt (make bench does)")
        return
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for model in sorted({(r["layers"], r["hidden"]) for r in rows}):
        mine = [r for r in rows if (r["layers"], r["hidden"]) == model]
        label = f"{model[0]} layers x {model[1]}"
        devices = [r["devices"] for r in mine]
        line, = left.plot(devices, [r["planner_s"] for r in mine], marker="o",
                          label=label + " (wall)")
        left.plot(devices, [r["planner_cpu_s"] for r in mine], marker="x", linestyle=":",
                  color=line.get_color(), label=label + " (cpu)")
        speed = [float(r["speedup"]) if r["speedup"] not in ("-", "1-dev OOM") else float("nan")
                 for r in mine]
        right.plot(devices, speed, marker="o", label=label)
        for r, y in zip(mine, speed):
            right.annotate(r["mesh"], (r["devices"], y), fontsize=7,
                           textcoords="offset points", xytext=(3, 3))
    left.axhline(10, color="grey", linestyle="--", linewidth=1)
    left.set(xscale="log", xlabel="devices", ylabel="planner time (s)",
             title="planner search time (10 s budget dashed)")
    right.set(xscale="log", yscale="log", xlabel="devices",
              ylabel="predicted speedup vs 1 device", title="chosen plan (mesh labels)")
    for axis in (left, right):
        axis.legend(fontsize=8)
        axis.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())
