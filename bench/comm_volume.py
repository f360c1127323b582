#!/usr/bin/env python3
"""Communication volume per rank of multi-device bundles, measured from the
rank programs beside the analytic figure of the plan.

For every collective command of rank 0, bytes sent per rank by the usual
bandwidth-optimal (ring) algorithms over a group of p ranks, B being the
local bytes of the `in` buffer:
  all_reduce 2 (p-1)/p B;  all_gather (p-1) B;  reduce_scatter (p-1)/p B;
  all_to_all (p-1)/p B;  shard 0 (a local slice).
A pipeline `send` moves B once per microbatch step to the next stage.
Analytic: a Megatron MLP block (column- then row-parallel) does one all_reduce of
its batch x seq x hidden output per block; data parallelism (inference) sends nothing;
a 2-stage pipeline cut between layers sends one activation (its rows of the batch
x seq x hidden) from stage 0, whatever the microbatch count.

    PYTHONPATH=build/python python3 bench/comm_volume.py [--devices 4]
"""

import argparse
import collections
import json
import os
import sys
import tempfile

import numpy as np
import onnx

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "test", "zoo"))
sys.path.insert(0, os.path.join(REPO, "test", "python"))

import make_zoo  # noqa: E402
import pmc  # noqa: E402
from pmc.bundle import BundleInfo  # noqa: E402

KINDS = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all")


def measured(path):
    """{kind: bytes sent by rank 0} from the bundle's rank0.program."""
    info = BundleInfo.read(path)
    sizes = {a["name"]: a["size"] for a in info.manifest["mesh"]["axes"]}
    program = info.program(0)
    buffers = {b["id"]: b for b in program["buffers"]}
    sent = collections.Counter()
    steps = info.manifest.get("pipeline", {}).get("microbatches", 1)
    for c in program["commands"]:
        if c["op"] == "send":
            b = buffers[c["in"]]
            sent["send"] += steps * int(np.prod(b["shape"])) * np.dtype(b["dtype"]).itemsize
            continue
        if c["op"] not in KINDS:
            continue
        b = buffers[c["in"]]
        nbytes = int(np.prod(b["shape"])) * np.dtype(b["dtype"]).itemsize
        p = int(np.prod([sizes[a] for a in c["axes"]]))
        factor = {"all_reduce": 2 * (p - 1) / p, "all_gather": p - 1,
                  "reduce_scatter": (p - 1) / p, "all_to_all": (p - 1) / p}[c["op"]]
        sent[c["op"]] += factor * nbytes
    return dict(sent)


def megatron_mlp_analytic(batch_rows, hidden, blocks, p, dtype_bytes=4):
    """One all_reduce of batch*seq x hidden elements per block."""
    return {"all_reduce": blocks * 2 * (p - 1) / p * batch_rows * hidden * dtype_bytes}


def cases(folder, devices):
    """(label, compile thunk, analytic) for the plans pmc can compile."""
    mlir = os.path.join(REPO, "test", "Target", "multidevice-megatron.mlir")
    yield ("hand-partitioned megatron mlp (2 blocks, tp=4)", lambda: pmc.compile(mlir),
           megatron_mlp_analytic(4, 8, 2, 4))
    for name in make_zoo.MODEL_NAMES:
        path = os.path.join(folder, f"{name}.onnx")
        onnx.save(make_zoo.BUILDERS[name](batch=8), path)
        yield (f"{name} data parallel x{devices}",
               lambda path=path: pmc.compile(path, devices=devices), {})
    # Megatron: one all_reduce of batch*seq x hidden per block (the MLP's one
    # block; each transformer layer's attention and MLP blocks).
    blocks = {"mlp": (8, 64, 1), "transformer_encoder": (8 * 16, 32, 2),
              "gpt_decoder": (8 * 8, 32, 4)}
    for name, (rows, hidden, count) in blocks.items():
        shardings, _ = make_zoo.megatron_shardings(name)
        path = os.path.join(folder, f"{name}.onnx")
        yield (f"{name} megatron tp={devices}",
               lambda path=path, shardings=shardings: pmc.compile(
                   path, devices=devices, mesh={"tp": devices}, shardings=shardings),
               megatron_mlp_analytic(rows, hidden, count, devices))
    # Pipelines: pp=2 x dp=devices/2; stage 0 sends its dp share of one
    # activation (rows x width) per step, in microbatch pieces.
    dp = max(1, devices // 2)
    widths = {"mlp": (8, 64), "transformer_encoder": (8 * 16, 32),
              "gpt_decoder": (8 * 8, 32)}
    for name, (rows, width) in widths.items():
        path = os.path.join(folder, f"{name}.onnx")
        for microbatches in (1, 4):
            yield (f"{name} pipeline pp=2 x dp={dp}, {microbatches} microbatches",
                   lambda path=path, m=microbatches: pmc.compile(
                       path, devices=2 * dp, stages=2, microbatches=m),
                   {"send": rows // dp * width * 4})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=4)
    args = parser.parse_args(argv)
    rows, failures = [], 0
    with tempfile.TemporaryDirectory() as folder:
        for label, build, analytic in cases(folder, args.devices):
            try:
                exe = build()
            except pmc.CompileError as e:
                rows.append((label, "-", "-", "-", f"not compiled: {str(e).splitlines()[0][:90]}"))
                continue
            got = measured(exe.path)
            for kind in sorted(set(got) | set(analytic)) or ["(none)"]:
                m, a = got.get(kind, 0.0), analytic.get(kind, 0.0)
                ok = abs(m - a) <= 1e-9 * max(1.0, a)
                failures += not ok
                rows.append((label, kind, f"{m:.0f}", f"{a:.0f}", "ok" if ok else "MISMATCH"))
    widths = [max(len(str(r[i])) for r in rows + [("plan", "kind", "measured B", "analytic B",
                                                   "status")]) for i in range(5)]
    header = ("plan", "kind", "measured B", "analytic B", "status")
    for r in [header] + rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)))
    print(json.dumps({"mismatches": failures}))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
