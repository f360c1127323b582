"""Matmul epilogues (pmc-outline-kernels folds bias adds and ReLU/GELU into the
matmul command, bundle.md "matmul"): the zoo transformer loses its GELU kernel
and keeps onnxruntime's numbers, cuda bundles fold only what cuBLASLt has, and
small ONNX graphs with Gemm+Relu and tanh/erf Gelu match onnxruntime."""

import json
import os
import re
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import make_zoo
from conftest import REPO_ROOT, assert_matches, run_tool

sys.path.insert(0, os.path.join(REPO_ROOT, "test", "Target", "Inputs"))
from bundle_section import read_section  # noqa: E402


def _commands(bundle, rank=0):
    return json.loads(read_section(bundle, f"rank{rank}.program"))["commands"]


def _kernel_calls(pmc_opt, mlir, fold):
    proc = run_tool([pmc_opt, mlir, f"--pmc-outline-kernels=fold-epilogues={str(fold).lower()}"])
    assert proc.returncode == 0, proc.stderr
    return len(re.findall(r"call @kernel_\d+", proc.stdout)), proc.stdout


@pytest.mark.parametrize("model", ["transformer_encoder", "gpt_decoder"])
def test_transformer_matmuls_carry_their_epilogues(model, zoo, zoo_reference, pmc_opt,
                                                    pmc_run, tmp_path):
    mlir = tmp_path / "m.mlir"
    proc = run_tool([pmc_opt, "import", zoo[model], "-o", mlir])
    assert proc.returncode == 0, proc.stderr
    unfolded, _ = _kernel_calls(pmc_opt, mlir, False)
    folded, text = _kernel_calls(pmc_opt, mlir, True)
    # The erf GELU after each MLP up-projection was a kernel of its own.
    assert folded < unfolded, (folded, unfolded)
    assert 'pmc.epilogue = "bias_gelu"' in text

    bundle = tmp_path / "m.pmc"
    proc = run_tool([pmc_opt, "compile", zoo[model], "-o", bundle])
    assert proc.returncode == 0, proc.stderr
    commands = _commands(bundle)
    kernels = [c for c in commands if c["op"] == "kernel"]
    matmuls = [c for c in commands if c["op"] == "matmul"]
    assert len(kernels) == folded
    # Every Linear (q, k, v, out, up, down per layer) has its bias folded; the
    # attention matmuls (scores, context) and an LM head have none.
    with_bias = [c for c in matmuls if "bias" in c]
    layers = 1 if model == "transformer_encoder" else len(
        [n for n in onnx.load(zoo[model]).graph.node if n.op_type == "Erf"])
    assert len(with_bias) == 6 * layers
    assert sum(c.get("activation") == "gelu" for c in matmuls) == layers
    # No kernel reads a bias matmul's output only to add the bias: the numbers
    # still equal onnxruntime's.
    feeds, reference = zoo_reference[model]
    args = [pmc_run, bundle]
    for name, value in feeds.items():
        np.save(tmp_path / f"{name}.npy", value)
        args += ["--input", f"{name}={tmp_path / f'{name}.npy'}"]
    proc = run_tool(args + ["--output", tmp_path / "out.npz"])
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "out.npz") as npz:
        assert_matches(reference, {k: npz[k] for k in npz.files})


def test_cuda_folds_the_bias_but_not_erf_gelu(zoo, pmc_opt, tmp_path):
    bundle = tmp_path / "t.pmc"
    proc = run_tool([pmc_opt, "compile", zoo["transformer_encoder"], "--target", "cuda",
                     "-o", bundle])
    assert proc.returncode == 0, proc.stderr
    matmuls = [c for c in _commands(bundle) if c["op"] == "matmul"]
    assert sum("bias" in c for c in matmuls) == 6
    # cuBLASLt's GELU is the tanh approximation: an erf GELU stays a kernel.
    assert all(c.get("activation", "none") == "none" for c in matmuls)


def _linear_model(path, activation, gemm):
    """x[4, 16] -> Gemm/MatMul+Add (bias [24]) -> activation -> y[4, 24]."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((24, 16) if gemm else (16, 24)).astype(np.float32) * 0.5
    b = rng.standard_normal(24).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")]
    if gemm:
        nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1)]
    else:
        nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]),
                 helper.make_node("Add", ["m", "b"], ["h"])]
    if activation == "relu":
        nodes.append(helper.make_node("Relu", ["h"], ["y"]))
    else:
        nodes.append(helper.make_node("Gelu", ["h"], ["y"], approximate=activation))
    graph = helper.make_graph(
        nodes, "linear", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 24])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 9
    onnx.save(model, path)


@pytest.mark.parametrize("activation,gemm,expect", [
    ("relu", True, "relu"),
    ("tanh", False, "gelu_tanh"),
    ("none", False, "gelu"),
])
def test_linear_activation_matches_onnxruntime(activation, gemm, expect, pmc_opt, pmc_run,
                                               tmp_path):
    model = tmp_path / "linear.onnx"
    _linear_model(model, activation, gemm)
    bundle = tmp_path / "linear.pmc"
    proc = run_tool([pmc_opt, "compile", model, "-o", bundle])
    assert proc.returncode == 0, proc.stderr
    commands = _commands(bundle)
    assert [c["op"] for c in commands] == ["matmul"], commands
    assert commands[0]["activation"] == expect and "bias" in commands[0]

    x = np.random.default_rng(5).standard_normal((4, 16)).astype(np.float32)
    reference = make_zoo.run_onnxruntime(str(model), {"x": x})
    np.save(tmp_path / "x.npy", x)
    proc = run_tool([pmc_run, bundle, "--input", f"x={tmp_path / 'x.npy'}",
                     "--output", tmp_path / "out.npz"])
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "out.npz") as npz:
        assert_matches(reference, {k: npz[k] for k in npz.files})


def _ort_check(pmc_module, model, feeds):
    import onnxruntime as ort
    expected = ort.InferenceSession(model.SerializeToString(),
                                    providers=["CPUExecutionProvider"]).run(None, feeds)
    got = pmc_module.compile(model).run_dict(feeds)
    for out, ref in zip(model.graph.output, expected):
        np.testing.assert_allclose(got[out.name], ref, rtol=1e-5, atol=1e-5)


def test_sum_of_two_matmuls_folds_one_bias(pmc_module):
    """add(matmul, matmul) with a [1, N] result: each matmul's result is a
    last-dim bias of the other; only the first may take the add (both did,
    and the compile failed)."""
    rng = np.random.default_rng(3)
    vi = helper.make_tensor_value_info
    model = helper.make_model(helper.make_graph(
        [helper.make_node("MatMul", ["a", "w1"], ["p"]),
         helper.make_node("MatMul", ["b", "w2"], ["q"]),
         helper.make_node("Add", ["p", "q"], ["y"])], "two_matmuls",
        [vi("a", TensorProto.FLOAT, [1, 4]), vi("b", TensorProto.FLOAT, [1, 4]),
         vi("w1", TensorProto.FLOAT, [4, 8]), vi("w2", TensorProto.FLOAT, [4, 8])],
        [vi("y", TensorProto.FLOAT, [1, 8])]),
        opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    feeds = {n: rng.standard_normal(s).astype(np.float32)
             for n, s in [("a", (1, 4)), ("b", (1, 4)), ("w1", (4, 8)), ("w2", (4, 8))]}
    _ort_check(pmc_module, model, feeds)


def test_equal_outputs_get_their_own_buffers(pmc_module):
    """Two graph outputs computing the same thing: CSE merges them inside the
    kernel, which then returns one value twice (buffer-results-to-out-params
    crashed on it)."""
    vi = helper.make_tensor_value_info
    model = helper.make_model(helper.make_graph(
        [helper.make_node("Tanh", ["a"], ["y1"]), helper.make_node("Tanh", ["a"], ["y2"]),
         helper.make_node("MatMul", ["a", "a"], ["m1"]),
         helper.make_node("MatMul", ["a", "a"], ["m2"])], "equal_outputs",
        [vi("a", TensorProto.FLOAT, [4, 4])],
        [vi(n, TensorProto.FLOAT, [4, 4]) for n in ("y1", "y2", "m1", "m2")]),
        opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    _ort_check(pmc_module, model,
               {"a": np.random.default_rng(4).standard_normal((4, 4)).astype(np.float32)})
