"""--target cuda on every zoo model at 1 and 4 devices, compile-only: the bundle is
well formed (launch commands reference real buffers and PTX entries), every PTX
module assembles with ptxas, and pmc-run refuses the bundle clearly."""

import ctypes
import json
import os
import re
import shutil
import sys

import numpy as np
import onnx
import pytest

import make_zoo
from conftest import REPO_ROOT, assert_clean_failure, run_tool

sys.path.insert(0, os.path.join(REPO_ROOT, "test", "Target", "Inputs"))
from bundle_section import read_section  # noqa: E402

PTXAS = shutil.which("ptxas") or shutil.which("ptxas", path="/usr/local/cuda/bin")
needs_ptxas = pytest.mark.skipif(PTXAS is None, reason="ptxas (CUDA toolkit) not found")


@pytest.fixture(scope="module")
def cuda_bundles(zoo, pmc_opt, tmp_path_factory):
    """{(model, devices): bundle path}, compiled once for the module."""
    out = tmp_path_factory.mktemp("cuda")
    bundles = {}
    for name in make_zoo.MODEL_NAMES:
        for devices in (1, 4):
            path = out / f"{name}.{devices}.pmc"
            proc = run_tool([pmc_opt, "compile", zoo[name], "--target", "cuda",
                             "--devices", devices, "-o", path])
            assert proc.returncode == 0, f"{name} at {devices}: {proc.stderr}"
            bundles[(name, devices)] = path
    return bundles


def _entries(ptx):
    return set(re.findall(r"\.visible \.entry (\w+)\(", ptx))


@needs_ptxas
@pytest.mark.parametrize("devices", [1, 4])
@pytest.mark.parametrize("name", make_zoo.MODEL_NAMES)
def test_zoo_compiles_for_cuda(name, devices, cuda_bundles, tmp_path):
    path = cuda_bundles[(name, devices)]
    manifest = json.loads(read_section(path, "manifest"))
    assert manifest["target"] == "cuda"
    assert manifest["devices"] == devices
    assert "kernel_library" not in manifest
    cuda = manifest["cuda"]
    assert cuda["kernel_abi"] == "bare-pointer"
    assert "NVPTX" in cuda["producer"]
    assert [p["chip"] for p in cuda["ptx"]] == ["sm_80", "sm_90"]

    entries = None
    for ptx in cuda["ptx"]:
        text = read_section(path, ptx["section"]).decode()
        assert f".target {ptx['chip']}" in text
        assert "__nv_" not in text, "libdevice was not linked"
        file = tmp_path / f"{ptx['chip']}.ptx"
        file.write_text(text)
        proc = run_tool([PTXAS, f"-arch={ptx['chip']}", file, "-o", tmp_path / "k.cubin"])
        assert proc.returncode == 0, f"ptxas -arch={ptx['chip']}: {proc.stderr}"
        # Both chips hold the same entries.
        assert entries is None or _entries(text) == entries
        entries = _entries(text)

    for rank in range(devices):
        program = json.loads(read_section(path, f"rank{rank}.program"))
        buffers = program["buffers"]
        ops = [c["op"] for c in program["commands"]]
        assert "kernel" not in ops, "kernel commands must become launches"
        launches = [c for c in program["commands"] if c["op"] == "launch"]
        assert launches, "the model has elementwise work"
        for c in launches:
            assert c["function"] in entries
            assert len(c["grid"]) == 3 and len(c["block"]) == 3
            assert all(g >= 1 for g in c["grid"])
            threads = c["block"][0] * c["block"][1] * c["block"][2]
            assert 1 <= threads <= 1024
            assert c["shared_bytes"] == 0
            assert all(0 <= a < len(buffers) for a in c["args"])
            assert set(c["writes"]) <= set(c["args"])
            for w in c["writes"]:
                assert buffers[w]["kind"] in ("temp", "scratch"), f"launch writes {buffers[w]}"
        # Every scratch buffer is used by launches of one kernel only.
        for b in buffers:
            if b["kind"] == "scratch":
                users = {c["kernel"] for c in launches if b["id"] in c["args"]}
                assert len(users) <= 1
        if name == "resnet_cnn":
            assert "conv" in ops, "conv stays a library command"
        if name in ("mlp", "transformer_encoder", "gpt_decoder"):
            assert "matmul" in ops, "matmul stays a library command"


def test_pmc_run_refuses_cuda_bundle(zoo, cuda_bundles, pmc_run, tmp_path):
    """Without a CUDA driver pmc-run says so; with one, that it has no CUDA
    backend yet. Either way: exit status 1 and no crash."""
    feeds = make_zoo.make_inputs(onnx.load(zoo["mlp"]))
    args = []
    for key, value in feeds.items():
        np.save(tmp_path / f"{key}.npy", value)
        args += ["--input", f"{key}={tmp_path / (key + '.npy')}"]
    proc = run_tool([pmc_run, cuda_bundles[("mlp", 1)], *args])
    try:
        ctypes.CDLL("libcuda.so.1")
        needles = ["this bundle targets CUDA", "cannot execute CUDA bundles"]
    except OSError:
        needles = ["this bundle targets CUDA", "no CUDA driver was found",
                   "libcuda.so.1 could not be loaded"]
    assert_clean_failure(proc, *needles)
