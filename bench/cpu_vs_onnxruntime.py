#!/usr/bin/env python3
"""CPU latency of pmc against onnxruntime on the zoo models, in one process, on the
same inputs and with the same number of threads.

    python3 bench/cpu_vs_onnxruntime.py --build-dir build
    python3 bench/cpu_vs_onnxruntime.py --scale 4 --threads 1 --repeat 50

pmc's BLAS/OpenMP thread counts are environment variables read when the runtime
loads, so they are set here before pmc is imported.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build-dir", default=os.environ.get("PMC_BUILD_DIR", "build"))
    p.add_argument("--threads", type=int, default=2, help="threads for both (default 2)")
    p.add_argument("--scale", type=int, default=1, help="width multiplier of the zoo models")
    p.add_argument("--models", default=None, help="comma-separated subset of the zoo")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeat", type=int, default=30)
    return p.parse_args(argv)


def _time(fn, warmup, repeat):
    """Median wall time of `fn()` in milliseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def main(argv=None):
    args = _parse_args(argv)
    threads = str(args.threads)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = threads
    build_dir = os.path.abspath(args.build_dir)
    os.environ.setdefault("PMC_BUILD_DIR", build_dir)
    sys.path.insert(0, os.path.join(build_dir, "python"))
    sys.path.insert(0, os.path.join(REPO_ROOT, "test", "zoo"))

    import numpy as np  # noqa: E402 - after the thread variables are set
    import onnx  # noqa: E402
    import onnxruntime as ort  # noqa: E402

    import make_zoo  # noqa: E402
    import pmc  # noqa: E402

    names = args.models.split(",") if args.models else list(make_zoo.MODEL_NAMES)
    print(f"threads {args.threads}, scale {args.scale}, warmup {args.warmup}, "
          f"repeat {args.repeat}, median latency")
    header = f"{'model':<22} {'pmc ms':>10} {'ORT ms':>10} {'pmc/ORT':>8}  {'max abs diff':>12}"
    print(header)
    print("-" * len(header))
    status = 0
    with tempfile.TemporaryDirectory(prefix="pmc-bench-") as work:
        paths = make_zoo.build_zoo(work, scale=args.scale, names=names)
        for name in names:
            feeds = make_zoo.make_inputs(onnx.load(paths[name]), seed=0)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = args.threads
            opts.inter_op_num_threads = 1
            sess = ort.InferenceSession(paths[name], opts, providers=["CPUExecutionProvider"])
            out_names = [o.name for o in sess.get_outputs()]
            try:
                exe = pmc.compile(paths[name])
            except (pmc.CompileError, ImportError, RuntimeError) as e:
                first = (str(e).splitlines() or [type(e).__name__])[0]
                print(f"{name:<22} failed: {first}")
                status = 1
                continue
            ref = sess.run(out_names, feeds)
            got = exe.run_dict(feeds)
            diff = max(float(np.max(np.abs(got[n].astype(np.float64) - r)))
                       for n, r in zip(out_names, ref))
            pmc_ms = _time(lambda: exe.run_dict(feeds), args.warmup, args.repeat)
            ort_ms = _time(lambda: sess.run(out_names, feeds), args.warmup, args.repeat)
            print(f"{name:<22} {pmc_ms:>10.3f} {ort_ms:>10.3f} {pmc_ms / ort_ms:>8.2f}  "
                  f"{diff:>12.3g}")
    return status


if __name__ == "__main__":
    sys.exit(main())
