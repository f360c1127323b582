#!/usr/bin/env python3
"""Data-parallel train steps with the gradient sync in order, overlapped, and
bucketed: step time and memory per rank, measured in one run.

A GPT-style decoder (test/zoo/make_zoo.py, scaled up) is trained with AdamW at
DEVICES thread ranks, data parallel, in three modes:
  in order   PMC_SYNC_COLLECTIVES=1: each collective where the program has it;
  overlap    the default: each gradient all-reduce starts where its gradient
             is made and runs beside the backward pass (CollectiveOverlap.h);
  buckets    overlap, and the all-reduces packed into buckets of --bucket-mb.
Printed per mode: median step time over --steps steps after one warm-up, its
ratio to "in order", the collectives per step, and the arena of rank 0. The
loss curves of the three must be equal (checked). On a machine with fewer
cores than ranks the collectives share the cores with the kernels, so the
overlap gains little there; the table shows what it costs and saves.

    PYTHONPATH=build/python python3 bench/gradient_sync.py [--devices 2] [--steps 10]
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "build", "python"))
sys.path.insert(0, os.path.join(REPO, "test", "zoo"))

import make_zoo  # noqa: E402
import pmc  # noqa: E402
from pmc.bundle import BundleInfo  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--bucket-mb", type=float, default=25)
    args = ap.parse_args()

    model = make_zoo.make_gpt_decoder(batch=args.batch)
    feeds = make_zoo.make_inputs(model, seed=1)
    out = model.graph.output[0]
    dims = [d.dim_value for d in out.type.tensor_type.shape.dim]
    feeds["labels"] = np.random.default_rng(2).integers(0, dims[-1], dims[:-1])
    shardings = {n: [["dp"]] + [[]] * (np.ndim(v) - 1) for n, v in feeds.items()}

    rows, curves = [], {}
    for mode, sync, bucket in [("in order", "1", 0), ("overlap", "0", 0),
                               ("buckets", "0", args.bucket_mb)]:
        os.environ["PMC_SYNC_COLLECTIVES"] = sync
        trainer = pmc.compile_training(
            model, loss=pmc.CrossEntropyLoss(logits=out.name), optimizer=pmc.AdamW(lr=1e-3),
            devices=args.devices, mesh={"dp": args.devices}, shardings=shardings,
            bucket_mb=bucket)
        trainer.step(feeds)  # warm-up
        times, losses = [], []
        for _ in range(args.steps):
            t0 = time.perf_counter()
            losses.append(trainer.step(feeds)["loss"])
            times.append(time.perf_counter() - t0)
        commands = BundleInfo.read(trainer._exe.path).program(0)["commands"]
        collectives = sum(c["op"] in ("all_reduce", "reduce_scatter", "all_gather")
                          for c in commands)
        rows.append((mode, statistics.median(times), collectives,
                     trainer._exe.memory_use()[0]["arena"]))
        curves[mode] = np.array(losses)
    os.environ.pop("PMC_SYNC_COLLECTIVES", None)
    for mode, curve in curves.items():
        if not np.allclose(curve, curves["in order"], rtol=1e-6):
            sys.exit(f"error: the loss curve of '{mode}' differs from 'in order'")

    base = rows[0][1]
    print(f"GPT decoder, dp={args.devices} thread ranks, batch {args.batch}, "
          f"{args.steps} steps (median)")
    print(f"{'mode':<10} {'step ms':>9} {'vs in order':>12} {'collectives':>12} "
          f"{'arena KiB':>10}")
    for mode, t, n, arena in rows:
        print(f"{mode:<10} {t * 1e3:>9.2f} {base / t:>11.2f}x {n:>12} {arena / 1024:>10.0f}")


if __name__ == "__main__":
    main()
