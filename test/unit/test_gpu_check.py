"""tools/gpu_check.py: `prepare` writes a self-contained folder of CUDA bundles,
inputs, expected outputs and a manifest; `run` without a GPU says so and exits 77
(never a pass); the comparison flags real differences."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("PMC_BUILD_DIR", os.path.join(ROOT, "build"))
SCRIPT = os.path.join(ROOT, "tools", "gpu_check.py")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import gpu_check  # noqa: E402


def have_gpu():
    return gpu_check.probe_gpu()[0]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    if not os.path.exists(os.path.join(BUILD, "bin", "pmc-opt")):
        pytest.skip("pmc-opt is not built")
    out = tmp_path_factory.mktemp("gpu-check")
    r = subprocess.run([sys.executable, SCRIPT, "prepare", "--build-dir", BUILD, "--out",
                        str(out), "--models", "mlp", "--node-filter", "^test_(relu|add)$",
                        "--jobs", "1"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr + r.stdout
    return out


def test_prepare_writes_a_self_contained_folder(prepared):
    m = json.loads((prepared / "manifest.json").read_text())
    assert m["format"] == "pmc-gpu-check"
    names = {c["name"]: c for c in m["cases"]}
    for name in ("zoo/mlp/1dev/fp32", "zoo/mlp/4dev/fp32", "zoo/mlp/1dev/fp32/nccl-tcp",
                 "zoo/mlp/1dev/fp32/nccl-mpi", "node/test_relu", "node/test_add"):
        assert name in names, sorted(names)
    assert names["zoo/mlp/4dev/fp32"]["mode"] == "virtual-ranks"
    assert names["zoo/mlp/1dev/fp32"]["rtol"] == 1e-4
    for c in m["cases"]:
        for key in ("bundle", "inputs", "expected"):
            assert (prepared / c[key]).exists(), (c["name"], key)
    with np.load(prepared / "zoo" / "mlp.expected.npz") as npz:
        assert npz.files and all(npz[k].dtype == np.float32 for k in npz.files)
    # bf16 is either compiled or skipped with its reason, never silently absent.
    bf16 = [c for c in m["cases"] if c.get("dtype") == "bf16"] + \
        [s for s in m["skipped"] if "bf16" in s["name"]]
    assert bf16
    assert (prepared / "gpu_check.py").exists()


@pytest.mark.skipif(have_gpu(), reason="this machine has a GPU")
def test_run_without_gpu_is_a_skip_not_a_pass(prepared):
    r = subprocess.run([sys.executable, str(prepared / "gpu_check.py"), "run",
                        "--pmc-run", os.path.join(BUILD, "bin", "pmc-run")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == gpu_check.SKIP_EXIT, r.stdout + r.stderr
    assert r.stdout.startswith("no GPU: ")
    assert "passed" not in r.stdout


def test_run_without_a_prepared_folder_says_what_to_do(tmp_path):
    r = subprocess.run([sys.executable, SCRIPT, "run", "--dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "make gpu-bundles" in r.stderr


def test_compare():
    e = np.array([1.0, 2.0, 0.0], np.float32)
    assert gpu_check.compare("y", e, e + 1e-6, 1e-4, 1e-5)[0] is None
    problem, err = gpu_check.compare("y", e, e + np.float32(1e-3), 1e-4, 1e-5)
    assert "output 'y': 3 of 3 elements differ" in problem and err == pytest.approx(1e-3, 1e-3)
    assert "shape [2]" in gpu_check.compare("y", e, e[:2], 1e-4, 1e-5)[0]
    i = np.array([1, 2], np.int64)
    assert gpu_check.compare("i", i, np.array([1, 3], np.int64), 0, 0)[0] == \
        "output 'i': 1 of 2 elements differ"
    bits = np.array([0x3F80, 0x4000], np.uint16)  # bfloat16 1.0, 2.0
    assert gpu_check.compare("b", bits, bits.view("V2"), 1e-2, 0, bf16=True)[0] is None
