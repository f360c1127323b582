#!/usr/bin/env python3
"""pmc in two minutes: compile small ONNX models, run them with the CLI and the
Python API, and check the numbers against onnxruntime.

    python3 examples/demo.py --build-dir build
    python3 examples/demo.py --build-dir build --models mlp,resnet_cnn,gpt_decoder
"""

import argparse
import os
import shlex
import subprocess
import sys
import tempfile

import numpy as np
import onnx

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO_ROOT, "test", "zoo"))
import make_zoo  # noqa: E402

RTOL, ATOL = 1e-4, 1e-5


def _run(cmd):
    print("  $ " + " ".join(shlex.quote(str(c)) for c in cmd))
    try:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    except OSError as e:
        print(f"    cannot run it: {e}")
        return False
    if proc.returncode != 0:
        print(f"    failed with status {proc.returncode}:\n    " +
              (proc.stderr.strip() or proc.stdout.strip()).replace("\n", "\n    "))
    return proc.returncode == 0


def _agreement(reference, actual):
    """(max abs diff over all outputs, whether all are allclose)."""
    worst, ok = 0.0, True
    for name, ref in reference.items():
        got = actual.get(name)
        if got is None or got.shape != ref.shape or got.dtype != ref.dtype:
            return float("inf"), False
        worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - ref))))
        ok = ok and np.allclose(got, ref, rtol=RTOL, atol=ATOL)
    return worst, ok


def demo_model(name, path, build_dir, work):
    model = onnx.load(path)
    feeds = make_zoo.make_inputs(model, seed=0)
    reference = make_zoo.run_onnxruntime(path, feeds)
    shapes = ", ".join(f"{k}{list(v.shape)} {v.dtype}" for k, v in feeds.items())
    print(f"\n== {name}: {len(model.graph.node)} ONNX nodes, inputs {shapes}")
    rows = []

    # 1. The command-line tools.
    bundle = os.path.join(work, f"{name}.pmc")
    out = os.path.join(work, f"{name}.out.npz")
    ok = _run([os.path.join(build_dir, "bin", "pmc-opt"), "compile", path, "-o", bundle])
    if ok:
        args = [os.path.join(build_dir, "bin", "pmc-run"), bundle]
        for k, v in feeds.items():
            np.save(os.path.join(work, f"{name}.{k}.npy"), v)
            args += ["--input", f"{k}={os.path.join(work, f'{name}.{k}.npy')}"]
        ok = _run(args + ["--output", out])
    if ok:
        with np.load(out) as npz:
            rows.append(("CLI (pmc-opt + pmc-run)",) + _agreement(reference,
                                                                  {k: npz[k] for k in npz.files}))
        print(f"  bundle: {os.path.getsize(bundle)} bytes")
    else:
        rows.append(("CLI (pmc-opt + pmc-run)", float("nan"), False))

    # 2. The Python API.
    print(f"  >>> exe = pmc.compile({os.path.basename(path)!r}); exe.run(feeds)")
    try:
        import pmc
        exe = pmc.compile(path)
        rows.append(("Python API (pmc.compile)",) + _agreement(reference, exe.run(feeds)))
        print("  plan: " + exe.plan.replace("\n", "\n        "))
    except Exception as e:  # noqa: BLE001 - the demo reports any failure and goes on
        print(f"    failed: {type(e).__name__}: {e}")
        rows.append(("Python API (pmc.compile)", float("nan"), False))

    for how, diff, agree in rows:
        print(f"  {how:<26} max |pmc - onnxruntime| = {diff:.3g}   agrees: "
              f"{'yes' if agree else 'NO'}")
    return all(agree for _, _, agree in rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build-dir", default=os.environ.get("PMC_BUILD_DIR", "build"))
    p.add_argument("--models", default="mlp,resnet_cnn",
                   help=f"comma-separated zoo models ({','.join(make_zoo.MODEL_NAMES)})")
    args = p.parse_args(argv)
    build_dir = os.path.abspath(args.build_dir)
    sys.path.insert(0, os.path.join(build_dir, "python"))
    os.environ.setdefault("PMC_BUILD_DIR", build_dir)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    bad = [n for n in names if n not in make_zoo.BUILDERS]
    if bad:
        p.error(f"unknown model(s) {', '.join(bad)}")

    for tool in ("pmc-opt", "pmc-run"):
        if not os.access(os.path.join(build_dir, "bin", tool), os.X_OK):
            print(f"error: {build_dir}/bin/{tool} is not built; run `make build` or pass "
                  "--build-dir", file=sys.stderr)
            return 2
    print(f"pmc demo: models {', '.join(names)}; tolerance rtol={RTOL}, atol={ATOL}")
    with tempfile.TemporaryDirectory(prefix="pmc-demo-") as work:
        paths = make_zoo.build_zoo(work, names=names)
        results = {n: demo_model(n, paths[n], build_dir, work) for n in names}
    print("\n== summary")
    for n, ok in results.items():
        print(f"  {n:<22} {'agrees with onnxruntime' if ok else 'DISAGREES or failed'}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
