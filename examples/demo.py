#!/usr/bin/env python3
"""pmc's main job in two minutes: plan a model for 4 devices, explain the plan,
run it on 4 ranks (threads, then 4 MPI processes) and check the numbers
against one device and against onnxruntime.

    python3 examples/demo.py --build-dir build
    python3 examples/demo.py --build-dir build --model transformer_encoder --devices 8
"""

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO_ROOT, "test", "zoo"))
import make_zoo  # noqa: E402

RTOL, ATOL = 1e-4, 1e-4


#: Shown as folder-less names: the demo's temporary folder and the build's bin/.
_SHORTEN = []


def _show(cmd):
    def short(arg):
        arg = str(arg)
        for folder in _SHORTEN:
            if arg.startswith(folder + os.sep):
                return arg[len(folder) + 1:]
        return arg
    print("  $ " + " ".join(shlex.quote(short(c)) for c in cmd))


def _run(cmd, env=None, timeout=300):
    _show(cmd)
    try:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env,
                              timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        print(f"    cannot run it: {e}")
        return None
    if proc.returncode != 0:
        print(f"    failed with status {proc.returncode}:\n    " +
              (proc.stderr.strip() or proc.stdout.strip()).replace("\n", "\n    "))
        return None
    return proc.stdout


def _max_diff(reference, actual):
    """Largest |a - b| over every output, and whether all are allclose."""
    worst, ok = 0.0, True
    for name, ref in reference.items():
        got = actual.get(name)
        if got is None or got.shape != ref.shape:
            return float("inf"), False
        worst = max(worst, float(np.max(np.abs(got.astype(np.float64) - ref))))
        ok = ok and np.allclose(got, ref, rtol=RTOL, atol=ATOL)
    return worst, ok


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build-dir", default=os.environ.get("PMC_BUILD_DIR", "build"))
    p.add_argument("--model", default="gpt_decoder", choices=make_zoo.MODEL_NAMES)
    p.add_argument("--devices", type=int, default=4)
    args = p.parse_args(argv)
    build_dir = os.path.abspath(args.build_dir)
    sys.path.insert(0, os.path.join(build_dir, "python"))
    os.environ.setdefault("PMC_BUILD_DIR", build_dir)
    tools = {t: os.path.join(build_dir, "bin", t) for t in ("pmc-opt", "pmc-run")}
    for tool, path in tools.items():
        if not os.access(path, os.X_OK):
            print(f"error: {path} is not built; run `make build` or pass --build-dir",
                  file=sys.stderr)
            return 2
    import pmc  # noqa: PLC0415 - from the build folder

    n = args.devices
    rows = []
    with tempfile.TemporaryDirectory(prefix="pmc-demo-") as work:
        mpirun = shutil.which("mpirun")
        _SHORTEN[:] = [work, os.path.join(build_dir, "bin"),
                       os.path.dirname(mpirun) if mpirun else work]
        path = os.path.join(work, f"{args.model}.onnx")
        onnx.save(make_zoo.BUILDERS[args.model](batch=2 * n), path)
        model = onnx.load(path)
        feeds = make_zoo.make_inputs(model, seed=0)
        reference = make_zoo.run_onnxruntime(path, feeds)
        inputs = ", ".join(f"{k}{list(v.shape)}" for k, v in feeds.items())
        print(f"pmc demo: {args.model} ({len(model.graph.node)} ONNX nodes, inputs {inputs}) "
              f"on {n} devices\n")

        print(f"1. Plan and compile for {n} devices; --explain says what was chosen and why.")
        bundle = os.path.join(work, "model.pmc")
        explained = _run([tools["pmc-opt"], "compile", path, "--devices", str(n), "--explain",
                          "-o", bundle])
        if explained is None:
            return 1
        print("    " + explained.strip().replace("\n", "\n    "))

        inputs_npz = os.path.join(work, "inputs.npz")
        np.savez(inputs_npz, **feeds)
        print(f"\n2. Run it on {n} ranks as threads of one process.")
        out = os.path.join(work, "threads.npz")
        if _run([tools["pmc-run"], bundle, "--inputs", inputs_npz, "--output", out]) is not None:
            with np.load(out) as npz:
                rows.append((f"pmc-run, {n} ranks as threads", {k: npz[k] for k in npz.files}))

        print(f"\n3. Run it as {n} MPI processes, one rank each.")
        if mpirun is None:
            print("    skipped: mpirun is not installed (apt-get install openmpi-bin)")
        else:
            env = dict(os.environ, OMPI_MCA_btl_vader_single_copy_mechanism="none")
            out = os.path.join(work, "mpi.npz")
            if _run([mpirun, "--allow-run-as-root", "--oversubscribe", "-np", str(n),
                     "--mca", "btl", "self,vader", tools["pmc-run"], bundle,
                     "--inputs", inputs_npz, "--output", out], env=env) is not None:
                with np.load(out) as npz:
                    rows.append((f"mpirun -np {n} pmc-run", {k: npz[k] for k in npz.files}))

        print("\n4. The same from Python, and one device for comparison.")
        print(f"  >>> pmc.compile({args.model + '.onnx'!r}, devices={n}).run(None, feeds)")
        many = pmc.compile(path, devices=n)
        rows.append((f"pmc.compile(devices={n})", many.run_dict(feeds)))
        one = pmc.compile(path).run_dict(feeds)

    print(f"\n== {n} devices against one device and against onnxruntime "
          f"(rtol={RTOL}, atol={ATOL})")
    print(f"  {'run':<30} {'max |x - 1 device|':>19} {'max |x - onnxruntime|':>22}")
    all_ok = len(rows) == (3 if mpirun else 2)
    for how, got in [("pmc, 1 device", one)] + rows:
        d_one, ok_one = _max_diff(one, got)
        d_ort, ok_ort = _max_diff(reference, got)
        all_ok = all_ok and ok_one and ok_ort
        print(f"  {how:<30} {d_one:>19.3g} {d_ort:>22.3g}"
              f"   {'agrees' if ok_one and ok_ort else 'DIFFERS'}")
    print("\n" + ("every run agrees" if all_ok else "SOMETHING DIFFERS or failed"))
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
