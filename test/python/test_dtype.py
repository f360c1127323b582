"""`--dtype bf16|fp16` end to end: the zoo models run with half-size weights and
half-precision compute on the CPU target, at 1 and 2 devices (data parallel and
Megatron tensor parallel, so bf16/fp16 collectives run), and match onnxruntime's
fp32 results within the precision of the narrow type; `--target cuda --dtype
bf16` produces PTX that ptxas assembles.

Tolerance. A narrow type with a p-bit significand rounds with unit roundoff
u = 2^-p: u = 2^-8 ~ 3.9e-3 for bf16, u = 2^-11 ~ 4.9e-4 for fp16. Every
weight, every input and every intermediate tensor is rounded once (products
and sums accumulate in f32: the GEMMs, the reductions, softmax and LayerNorm
statistics), so an output carries a few roundings' worth of relative error,
amplified mildly through the layers of these shallow models. The bound is about
5 u: rtol = atol = 2e-2 for bf16 and 2.5e-3 for fp16, with the absolute part
scaled by the output's largest magnitude, since a rounding error is relative to
the operands an output was computed from, not to the output itself (an output
near zero by cancellation carries the absolute error of its operands).
"""

import json
import os
import shutil
import sys

import numpy as np
import onnx
import pytest

import make_zoo
from conftest import REPO_ROOT, assert_clean_failure, run_tool

import pmc
from pmc.bundle import BundleInfo

sys.path.insert(0, os.path.join(REPO_ROOT, "test", "Target", "Inputs"))
from bundle_section import read_section  # noqa: E402

TOLERANCE = {"bf16": 2e-2, "fp16": 2.5e-3}
NUMPY_NAME = {"bf16": "bfloat16", "fp16": "float16"}
PTXAS = shutil.which("ptxas") or shutil.which("ptxas", path="/usr/local/cuda/bin")


def assert_close(got, want, dtype, what):
    assert list(got) == list(want), what
    tol = TOLERANCE[dtype]
    for name, ref in want.items():
        assert got[name].dtype == np.float32, f"{what}: {name} must stay float32"
        assert got[name].shape == ref.shape
        scale = max(1.0, float(np.max(np.abs(ref))))
        np.testing.assert_allclose(got[name], ref, rtol=tol, atol=tol * scale,
                                   err_msg=f"{what} output {name}")


def weight_bytes(path):
    return sum(s.size for s in BundleInfo.read(path).weight_sections())


def buffer_dtypes(path, rank=0):
    return {b["dtype"] for b in BundleInfo.read(path).program(rank)["buffers"]}


# (model, dtype, plan): 1 device for every model and both types; 2 devices
# data parallel and Megatron tensor parallel (collectives on the narrow type).
CASES = ([(m, d, "1") for m in make_zoo.MODEL_NAMES for d in ("bf16", "fp16")] +
         [("resnet_cnn", "bf16", "dp"), ("mlp", "fp16", "dp"),
          ("mlp", "bf16", "megatron"), ("gpt_decoder", "bf16", "megatron"),
          ("transformer_encoder", "fp16", "megatron")])


def _compile_kwargs(name, plan):
    if plan == "1":
        return {"devices": 1}
    if plan == "dp":
        return {"devices": 2, "plan": "default"}
    shardings, dims = make_zoo.megatron_shardings(name)
    assert shardings and all(d % 2 == 0 for d in dims)
    return {"devices": 2, "mesh": {"tp": 2}, "shardings": shardings}


@pytest.mark.parametrize("name,dtype,plan", CASES)
def test_zoo_reduced_precision_matches_onnxruntime(name, dtype, plan, zoo, zoo_reference,
                                                   tmp_path):
    feeds, want = zoo_reference[name]
    exe = pmc.compile(zoo[name], dtype=dtype, **_compile_kwargs(name, plan))
    # The boundary stays float32 for users.
    assert [s.dtype for s in exe.inputs] == [str(v.dtype) for v in feeds.values()]
    got = exe.run_dict(feeds)
    assert_close(got, want, dtype, f"{name} {dtype} plan={plan}")

    path = tmp_path / "m.pmc"
    exe.save(path)
    devices = 1 if plan == "1" else 2
    for rank in range(devices):
        assert NUMPY_NAME[dtype] in buffer_dtypes(path, rank)
    if plan == "megatron":
        # The collectives move the narrow type: half the bytes of fp32.
        program = BundleInfo.read(path).program(0)
        buffers = program["buffers"]
        collectives = [c for c in program["commands"]
                       if c["op"] in ("all_reduce", "all_gather", "reduce_scatter",
                                      "all_to_all")]
        assert collectives, f"{name} plan={plan}: expected collectives"
        moved = {buffers[c["in"]]["dtype"] for c in collectives}
        assert NUMPY_NAME[dtype] in moved, f"collectives move {moved}"


@pytest.mark.parametrize("name", ["mlp", "resnet_cnn", "gpt_decoder"])
def test_weights_take_half_the_bytes(name, zoo, pmc_opt, tmp_path):
    sizes = {}
    for dtype in ("fp32", "bf16", "fp16"):
        path = tmp_path / f"{dtype}.pmc"
        proc = run_tool([pmc_opt, "compile", zoo[name], "-o", path, "--dtype", dtype])
        assert proc.returncode == 0, proc.stderr
        sizes[dtype] = weight_bytes(path)
    for dtype in ("bf16", "fp16"):
        ratio = sizes[dtype] / sizes["fp32"]
        # Integer constants (shapes, indices) keep their size: slightly above 1/2.
        assert 0.49 <= ratio <= 0.55, f"{name} {dtype}: weights {sizes[dtype]} vs {sizes}"


def test_bf16_differs_from_fp32(zoo, zoo_reference):
    """The narrow type really is used: bf16 results are not the fp32 ones."""
    feeds, want = zoo_reference["mlp"]
    fp32 = pmc.compile(zoo["mlp"]).run_dict(feeds)
    bf16 = pmc.compile(zoo["mlp"], dtype="bf16").run_dict(feeds)
    for out in want:
        assert not np.allclose(fp32[out], bf16[out], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["bf16", "fp16"])
def test_sums_accumulate_in_fp32(dtype, tmp_path):
    """4096 ones summed by a matmul and by a ReduceSum: exactly 4096 (a power of
    two, exact in both types). Accumulating in bf16 would stop at 256, in fp16
    at 2048, where adding 1 no longer changes the sum."""
    from onnx import TensorProto, helper, numpy_helper
    k = 4096
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["mm"], name="mm"),
         helper.make_node("ReduceSum", ["x", "axes"], ["rs"], name="rs", keepdims=1)],
        "sums", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, k])],
        [helper.make_tensor_value_info("mm", TensorProto.FLOAT, [2, 1]),
         helper.make_tensor_value_info("rs", TensorProto.FLOAT, [2, 1])],
        [numpy_helper.from_array(np.ones((k, 1), np.float32), "w"),
         numpy_helper.from_array(np.array([1], np.int64), "axes")])
    path = str(tmp_path / "sums.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    out = pmc.compile(path, dtype=dtype).run_dict({"x": np.ones((2, k), np.float32)})
    np.testing.assert_array_equal(out["mm"], np.full((2, 1), k, np.float32))
    np.testing.assert_array_equal(out["rs"], np.full((2, 1), k, np.float32))


def test_cli_run_and_bad_dtype(zoo, zoo_reference, pmc_opt, pmc_run, tmp_path):
    feeds, want = zoo_reference["mlp"]
    bundle = tmp_path / "mlp.pmc"
    proc = run_tool([pmc_opt, "compile", zoo["mlp"], "-o", bundle, "--dtype", "bf16",
                     "--devices", "2", "--plan", "default"])
    assert proc.returncode == 0, proc.stderr
    np.savez(tmp_path / "in.npz", **feeds)
    proc = run_tool([pmc_run, bundle, "--inputs", tmp_path / "in.npz",
                     "--output", tmp_path / "out.npz"])
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "out.npz") as npz:
        assert_close({k: npz[k] for k in want}, want, "bf16", "pmc-run mlp bf16")

    proc = run_tool([pmc_opt, "compile", zoo["mlp"], "-o", bundle, "--dtype", "fp8"])
    assert_clean_failure(proc, "--dtype fp8", "expected fp32, bf16 or fp16")
    with pytest.raises(pmc.CompileError, match="expected fp32, bf16 or fp16"):
        pmc.compile(zoo["mlp"], dtype="int4")


def test_emit_mlir_shows_f32_islands(zoo, pmc_opt):
    proc = run_tool([pmc_opt, "compile", zoo["transformer_encoder"], "--emit", "mlir",
                     "--dtype", "bf16"])
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "xbf16>" in text
    # The kernels widen to f32 around the softmax and the LayerNorm statistics.
    assert "arith.extf" in text and "arith.truncf" in text


@pytest.mark.skipif(PTXAS is None, reason="ptxas (CUDA toolkit) not found")
@pytest.mark.parametrize("name,devices", [("mlp", 1), ("gpt_decoder", 2)])
def test_cuda_bf16_ptx_assembles(name, devices, zoo, pmc_opt, tmp_path):
    path = tmp_path / "m.pmc"
    proc = run_tool([pmc_opt, "compile", zoo[name], "--target", "cuda", "--dtype", "bf16",
                     "--devices", devices, "-o", path])
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads(read_section(path, "manifest"))
    assert [p["chip"] for p in manifest["cuda"]["ptx"]] == ["sm_80", "sm_90"]
    assert "bfloat16" in buffer_dtypes(path)
    saw_bf16 = False
    for ptx in manifest["cuda"]["ptx"]:
        text = read_section(path, ptx["section"]).decode()
        saw_bf16 = saw_bf16 or ".bf16" in text or "bf16" in text
        file = tmp_path / f"{ptx['chip']}.ptx"
        file.write_text(text)
        proc = run_tool([PTXAS, f"-arch={ptx['chip']}", file, "-o", tmp_path / "k.cubin"])
        assert proc.returncode == 0, f"ptxas -arch={ptx['chip']}: {proc.stderr}"
    assert saw_bf16, "the kernels convert to and from bf16"
