"""--target cuda on every zoo model at 1 and 4 devices and as 2-stage pipelines:
the bundle is well formed (launch commands reference real buffers and PTX
entries), every PTX module assembles with ptxas, every rank program validates,
and pmc-run / pmc.load either run it and equal onnxruntime (a GPU) or fail
clearly naming the missing driver (none)."""

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
from conftest import REPO_ROOT, assert_clean_failure, assert_matches, run_tool
from pmc.bundle import BundleInfo

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
    # The MLP's bias adds and ReLUs are all matmul epilogues (cuBLASLt): no kernel,
    # so no PTX.
    elementwise = name != "mlp"
    assert [p["chip"] for p in cuda["ptx"]] == (["sm_80", "sm_90"] if elementwise else [])

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
        assert bool(launches) == elementwise, "the model has elementwise work"
        if not elementwise:
            assert all("bias" in c for c in program["commands"] if c["op"] == "matmul")
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


def _cuda_state():
    """("no-driver", reason), ("no-gpu", reason) or ("gpu", description): what
    this machine can do with a cuda bundle (the runtime dlopens libcuda.so.1)."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError as e:
        return "no-driver", f"libcuda.so.1 could not be loaded: {e}"
    count = ctypes.c_int(0)
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return "no-gpu", "cuInit/cuDeviceGetCount failed: the CUDA driver sees no usable GPU"
    if count.value == 0:
        return "no-gpu", "the CUDA driver sees no GPU"
    return "gpu", f"{count.value} GPU(s)"


NO_DRIVER = ["this bundle targets CUDA", "no CUDA driver was found",
             "libcuda.so.1 could not be loaded"]


def _feed_args(feeds, folder):
    args = []
    for key, value in feeds.items():
        np.save(folder / f"{key}.npy", value)
        args += ["--input", f"{key}={folder / (key + '.npy')}"]
    return args


def _run_and_compare(pmc_run, bundle, model, feeds, tmp_path, *options):
    """pmc-run the bundle on the GPU and compare with onnxruntime."""
    out = tmp_path / "out.npz"
    proc = run_tool([pmc_run, bundle, *_feed_args(feeds, tmp_path), "--output", out, *options])
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as got:
        assert_matches(make_zoo.run_onnxruntime(model, feeds), dict(got), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("devices,options", [(1, ()), (4, ("--virtual-ranks",))])
def test_pmc_run_cuda_bundle(zoo, cuda_bundles, pmc_run, tmp_path, devices, options):
    """No driver: pmc-run says so (exit status 1, no crash). A GPU: the bundle runs
    and equals onnxruntime. A driver without a GPU: skipped, saying so."""
    feeds = make_zoo.make_inputs(onnx.load(zoo["mlp"]))
    state, why = _cuda_state()
    bundle = cuda_bundles[("mlp", devices)]
    if state == "no-driver":
        proc = run_tool([pmc_run, bundle, *_feed_args(feeds, tmp_path), *options])
        assert_clean_failure(proc, *NO_DRIVER)
        return
    if state == "no-gpu":
        pytest.skip(f"a CUDA driver but no GPU: {why}")
    _run_and_compare(pmc_run, bundle, zoo["mlp"], feeds, tmp_path, *options)


PIPE_BATCH = 8


@pytest.fixture(scope="module")
def cuda_pipeline_bundles(pmc_opt, tmp_path_factory):
    """{model: (onnx path, bundle)}: the zoo at batch 8 compiled with
    `--target cuda --devices 4 --stages 2 --microbatches 2` (pp=2 x dp=2)."""
    out = tmp_path_factory.mktemp("cudapipe")
    bundles = {}
    for name in make_zoo.MODEL_NAMES:
        model = out / f"{name}.onnx"
        onnx.save(make_zoo.BUILDERS[name](batch=PIPE_BATCH), model)
        path = out / f"{name}.pp.pmc"
        proc = run_tool([pmc_opt, "compile", model, "--target", "cuda", "--devices", 4,
                         "--stages", 2, "--microbatches", 2, "-o", path])
        assert proc.returncode == 0, f"{name}: {proc.stderr}"
        bundles[name] = (model, path)
    return bundles


@pytest.mark.parametrize("name", make_zoo.MODEL_NAMES)
def test_cuda_pipeline_bundle_validates_and_runs(name, cuda_pipeline_bundles, pmc_run, tmp_path):
    """Every rank program of a cuda pipeline bundle validates without a GPU
    (step shapes, the other stage's outputs, send/recv pairs in program order),
    and running it is no longer refused as a pipeline: without a driver the
    message is the missing driver; on a GPU (virtual ranks) it equals onnxruntime."""
    model, bundle = cuda_pipeline_bundles[name]
    manifest = json.loads(read_section(bundle, "manifest"))
    assert manifest["pipeline"]["stages"] == 2 and manifest["pipeline"]["microbatches"] == 2
    for rank in range(4):
        proc = run_tool([pmc_run, bundle, "--info", "--rank", rank])
        assert proc.returncode == 0, f"rank {rank}: {proc.stderr}"
        ops = "send" if rank < 2 else "recv"
        assert re.search(rf"rank {rank}: .*\d+ {ops}", proc.stdout), proc.stdout
    feeds = make_zoo.make_inputs(onnx.load(model), seed=3)
    state, why = _cuda_state()
    if state == "no-driver":
        proc = run_tool([pmc_run, bundle, *_feed_args(feeds, tmp_path)])
        assert_clean_failure(proc, *NO_DRIVER)
        assert "pipeline" not in proc.stderr
        return
    if state == "no-gpu":
        pytest.skip(f"a CUDA driver but no GPU: {why}")
    _run_and_compare(pmc_run, bundle, str(model), feeds, tmp_path, "--virtual-ranks")


def test_load_takes_cuda_options(cuda_bundles, mlp_bundle, pmc_module):
    """pmc.load(path, virtual_ranks=, device=, cuda_graphs=): checked in Python,
    passed to the runtime; a cuda bundle without a driver raises the runtime's
    RuntimeError (not a crash); a cpu bundle ignores the options."""
    pmc = pmc_module
    exe = pmc.load(mlp_bundle, virtual_ranks=True, device=0, cuda_graphs=False)
    assert exe.inputs[0].name == "x"
    for bad, error, needle in [(dict(device=-1), ValueError, "device must be >= 0"),
                               (dict(device="0"), TypeError, "device must be a GPU index"),
                               (dict(virtual_ranks=1), TypeError, "virtual_ranks must be a bool"),
                               (dict(cuda_graphs=None), TypeError, "cuda_graphs must be a bool")]:
        with pytest.raises(error, match=needle):
            pmc.load(mlp_bundle, **bad)
    bundle = cuda_bundles[("mlp", 4)]
    state, why = _cuda_state()
    if state == "no-driver":
        with pytest.raises(RuntimeError) as info:
            pmc.load(bundle, virtual_ranks=True, device=0, cuda_graphs=True)
        for needle in NO_DRIVER:
            assert needle in str(info.value)
        assert str(bundle) in str(info.value)
        return
    if state == "no-gpu":
        pytest.skip(f"a CUDA driver but no GPU: {why}")
    exe = pmc.load(bundle, virtual_ranks=True, device=0, cuda_graphs=False)
    assert exe.inputs[0].name == "x"
    # The plan of a cuda bundle opened on a GPU (Session::program() threw).
    assert exe.plan.startswith("4 devices, target cuda")
    assert exe.arena_bytes == exe.plan_dict["arena_bytes"] > 0


@needs_ptxas
@pytest.mark.parametrize("devices", [1, 4])
def test_zoo_elementwise_launches_are_vectorized(devices, cuda_bundles):
    """Some elementwise launch of the zoo reads and writes 16 bytes per access
    (4 x f32), and every vector access is at most 16 bytes wide."""
    vector_loads = vector_stores = 0
    for name in make_zoo.MODEL_NAMES:
        path = cuda_bundles[(name, devices)]
        if not BundleInfo.read(str(path)).has_section("kernels.ptx.sm_90"):
            continue  # every op became a library command (the mlp: matmul epilogues)
        ptx = read_section(path, "kernels.ptx.sm_90").decode()
        vector_loads += len(re.findall(r"ld\.global(\.nc)?\.v4\.b32", ptx))
        vector_stores += len(re.findall(r"st\.global\.v4\.b32", ptx))
        wide = re.findall(r"(ld|st)\.global(\.nc)?\.v(8|16)\.\w+", ptx)
        assert not wide, f"{name}: wider than 16-byte access {wide[:3]}"
        wide64 = re.findall(r"(ld|st)\.global(\.nc)?\.v4\.b64", ptx)
        assert not wide64, f"{name}: 32-byte access {wide64[:3]}"
    assert vector_loads > 0 and vector_stores > 0
