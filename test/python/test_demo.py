"""`make demo` (examples/demo.py) shows the main job and passes: a plan for 4
devices with its explanation, runs on 4 ranks as threads and as MPI
processes, and every run equal to one device and to onnxruntime."""

import os
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_demo_runs_four_devices_and_agrees(pmc_opt):
    build_dir = os.path.dirname(os.path.dirname(pmc_opt))
    proc = subprocess.run([sys.executable, os.path.join(REPO, "examples", "demo.py"),
                           "--build-dir", build_dir], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "plan for 4 devices" in out and "alternatives:" in out, out
    assert "pmc-run, 4 ranks as threads" in out
    if shutil.which("mpirun"):
        assert "mpirun -np 4 pmc-run" in out
    assert "every run agrees" in out
