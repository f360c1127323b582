"""tools/gpu_check.py: `prepare` writes a self-contained folder of CUDA bundles
(zoo at 1 and 4 devices in fp32/bf16/fp16, a pipeline, one-rank NCCL), inputs,
expected outputs, a manifest and a README of what to carry; `run` without a GPU
says so and exits 77 (never a pass); the runner's launch modes and its reading of
the runtime's answers work with the real pmc-run; the comparison flags real
differences."""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("PMC_BUILD_DIR", os.path.join(ROOT, "build"))
PMC_RUN = os.path.join(BUILD, "bin", "pmc-run")
PMC_OPT = os.path.join(BUILD, "bin", "pmc-opt")
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
    for dtype in ("fp32", "bf16", "fp16"):
        assert names[f"zoo/mlp/1dev/{dtype}"]["mode"] == "single"
        assert names[f"zoo/mlp/4dev/{dtype}"]["mode"] == "virtual-ranks"
    for name in ("nccl/mlp/1dev-tp1/single", "nccl/mlp/1dev-tp1/nccl-tcp",
                 "nccl/mlp/1dev-tp1/nccl-mpi", "pipeline/mlp/2dev-2stages-2mb/fp32",
                 "node/test_relu", "node/test_add"):
        assert name in names, sorted(names)
    assert not m["skipped"], m["skipped"]
    assert names["zoo/mlp/1dev/fp32"]["rtol"] == 1e-4
    assert not names["zoo/mlp/1dev/fp32"]["atol_scaled"]
    # The reduced-precision bounds of docs/user-guide.md.
    assert (names["zoo/mlp/4dev/bf16"]["rtol"], names["zoo/mlp/4dev/bf16"]["atol"]) == (2e-2, 2e-2)
    assert (names["zoo/mlp/1dev/fp16"]["rtol"], names["zoo/mlp/1dev/fp16"]["atol"]) == \
        (2.5e-3, 2.5e-3)
    assert names["zoo/mlp/1dev/fp16"]["atol_scaled"]
    for c in m["cases"]:
        for key in ("bundle", "inputs", "expected"):
            assert (prepared / c[key]).exists(), (c["name"], key)
    with np.load(prepared / "zoo" / "mlp.expected.npz") as npz:
        assert npz.files and all(npz[k].dtype == np.float32 for k in npz.files)
    assert (prepared / "gpu_check.py").exists()


def test_bundles_are_what_the_cases_say(prepared):
    m = json.loads((prepared / "manifest.json").read_text())
    names = {c["name"]: c for c in m["cases"]}

    def info(case):
        r = subprocess.run([PMC_RUN, str(prepared / names[case]["bundle"]), "--info"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout
    assert "target:   cuda" in info("zoo/mlp/4dev/bf16")
    assert "devices:  4" in info("zoo/mlp/4dev/fp32")
    # The one-rank NCCL bundle keeps a collective, so NCCL is really created.
    assert re.search(r"\b1 all_reduce\b", info("nccl/mlp/1dev-tp1/nccl-tcp"))
    pipe = names["pipeline/mlp/2dev-2stages-2mb/fp32"]
    assert pipe["devices"] == 2 and pipe["mode"] == "virtual-ranks"
    assert re.search(pipe["unsupported_if"],
                     "the CUDA runtime does not run pipeline bundles yet")
    # What this machine's runtime said of it is recorded, not assumed.
    assert pipe["runtime_here"]


def test_readme_lists_what_to_carry(prepared):
    m = json.loads((prepared / "manifest.json").read_text())
    libs = [lib["name"] for lib in m["runtime_libraries"]]
    assert libs and not [n for n in libs if re.search(r"lib(MLIR|LLVM)", n)], libs
    readme = (prepared / "README.md").read_text()
    for needed in ("build/bin/pmc-run", "numpy", "libcuda.so.1", "libnccl.so.2",
                   "gpu_check.py run --pmc-run", "77"):
        assert needed in readme, needed
    for lib in libs:
        if not lib.startswith(("libc.so", "libm.so", "libstdc++", "libgcc_s", "ld-linux",
                               "linux-vdso")):
            assert f"`{lib}`" in readme, lib


def _runner(prepared, tmp_path):
    import types
    r = gpu_check.Runner(types.SimpleNamespace(dir=str(prepared), pmc_run=PMC_RUN,
                                               timeout=120, filter=None, json=None))
    r.work = str(tmp_path)
    return r


def test_the_runtime_decides_whether_the_pipeline_case_is_supported(prepared, tmp_path):
    """Unsupported only while pmc-run itself rejects CUDA pipeline bundles;
    never a pass without a GPU."""
    runner = _runner(prepared, tmp_path)
    case = next(c for c in runner.manifest["cases"] if c["group"] == "pipeline")
    r = subprocess.run([PMC_RUN, str(prepared / case["bundle"]), "--virtual-ranks",
                        "--inputs", str(prepared / case["inputs"])],
                       capture_output=True, text=True, timeout=120)
    result = runner.run_case(case)
    if re.search(case["unsupported_if"], r.stderr):
        assert result["status"] == "unsupported", result
        assert "pipeline" in result["detail"]
    else:
        assert result["status"] == ("pass" if r.returncode == 0 else "fail"), result
    # An ordinary case that cannot run here is a failure, not "unsupported".
    zoo = next(c for c in runner.manifest["cases"] if c["name"] == "zoo/mlp/1dev/fp32")
    if not have_gpu():
        assert runner.run_case(zoo)["status"] == "fail"


@pytest.mark.parametrize("mode", ["single", "nccl-tcp", "nccl-mpi"])
def test_launch_modes_run_a_real_bundle(prepared, tmp_path, mode):
    """The runner's commands for every mode (plain, a TCP world of one from
    torchrun's variables, mpirun -np 1) run pmc-run to the end; checked with the
    CPU build of the same one-device tp=1 model, since this machine has no GPU."""
    if mode == "nccl-mpi" and not shutil.which("mpirun"):
        pytest.skip("mpirun is not installed")
    runner = _runner(prepared, tmp_path)
    case = next(c for c in runner.manifest["cases"] if c["name"] == f"nccl/mlp/1dev-tp1/{mode}")
    bundle = tmp_path / "cpu.pmc"
    flags = case["compile_flags"]
    assert flags[:2] == ["--target", "cuda"]
    r = subprocess.run([PMC_OPT, "compile", str(prepared / "zoo" / "onnx" / "mlp.onnx"),
                        "-o", str(bundle), "--target", "cpu", *flags[2:]],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    result = runner.run_case(dict(case, bundle=str(bundle)))
    assert result["status"] == "pass", result
    assert result["err"] < 1e-5


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
    # Scaled absolute tolerance: relative to the output's largest magnitude.
    big = np.array([100.0, 0.0], np.float32)
    off = big + np.array([0, 1.5], np.float32)
    assert gpu_check.compare("s", big, off, 2e-2, 2e-2, scaled=True)[0] is None
    assert "1 of 2 elements differ" in gpu_check.compare("s", big, off, 2e-2, 2e-2)[0]
    assert "1 of 2" in gpu_check.compare("s", big, big + [0, 2.5], 2e-2, 2e-2, scaled=True)[0]
