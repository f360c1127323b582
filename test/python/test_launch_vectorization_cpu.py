"""The CUDA launch vectorization, executed on the CPU (there is no GPU here).

`vectorizeParallelLoops` (lib/Target/Vectorize) rewrites the elementwise
scf.parallel loops of the CUDA kernels to load and store W elements at a time.
`pmc-opt compile --cpu-kernel-pipeline='pmc-test-cpu-vectorized-kernels{bytes=16}'`
(a registered test pipeline, lib/Target/CPU/KernelPipelines.cpp) lowers the CPU kernels through
the same scf.parallel form, runs the same transformation, then lowers the
vector ops to LLVM; kernels with temporaries first get the CUDA target's shape
(temporaries as trailing parameters of `<kernel>_scratch`, as allocsToScratch
makes them scratch buffers). Each model is compiled with and without the hook
and run on the same random inputs: the outputs must be bit-identical (the
transformation only regroups elementwise work lane by lane; math calls stay
the same libm/LLVM functions per lane). The hook's remarks ("N of M parallel
loops vectorized in F") and the IR after the hook show that something was
vectorized, at which width.
"""

import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import make_zoo
from conftest import assert_clean_failure, run_tool

import pmc

HOOK = "--cpu-kernel-pipeline=pmc-test-cpu-vectorized-kernels{bytes=16}"
REMARK = re.compile(r"launch vectorization \(cpu test hook\): (\d+) of (\d+) parallel loops"
                    r" vectorized in (\w+)")


def compile_bundle(pmc_opt, model, out, *extra):
    """Compiles `model` to `out`; returns the CompletedProcess (asserted to succeed)."""
    proc = run_tool([pmc_opt, "compile", model, "-o", out, "--target", "cpu", *extra])
    assert proc.returncode == 0, proc.stderr
    return proc


def vectorized_loops(stderr):
    """(loops vectorized, parallel loops seen) summed over the hook's remarks."""
    found = [(int(m[1]), int(m[2])) for m in REMARK.finditer(stderr)]
    assert found, f"the test hook left no remark:\n{stderr[-4000:]}"
    return sum(v for v, _ in found), sum(n for _, n in found)


def run_bundle(path, feeds):
    return pmc.load(path).run_dict(feeds)


def assert_same(plain, vectorized, what):
    assert list(plain) == list(vectorized), what
    for name, ref in plain.items():
        got = vectorized[name]
        assert got.dtype == ref.dtype and got.shape == ref.shape, f"{what}: {name}"
        np.testing.assert_array_equal(got, ref,
                                      err_msg=f"{what}: output {name} differs once vectorized")


def compare(pmc_opt, model_path, feeds, tmp_path, *extra):
    """Compiles with and without the hook, runs both on `feeds`, asserts equal
    outputs; returns (vectorized, loops, the hook's compile stderr)."""
    plain = tmp_path / "plain.pmc"
    vector = tmp_path / "vector.pmc"
    compile_bundle(pmc_opt, model_path, plain, *extra)
    proc = compile_bundle(pmc_opt, model_path, vector, HOOK, *extra)
    assert_same(run_bundle(plain, feeds), run_bundle(vector, feeds), str(model_path))
    return (*vectorized_loops(proc.stderr), proc.stderr)


# --- The zoo -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["fp32", "bf16", "fp16"])
@pytest.mark.parametrize("name", [m for m in make_zoo.MODEL_NAMES if m != "mlp"])
def test_zoo_same_outputs_once_vectorized(name, dtype, zoo, pmc_opt, tmp_path):
    feeds = make_zoo.make_inputs(onnx.load(zoo[name]), seed=7)
    vectorized, loops, stderr = compare(pmc_opt, zoo[name], feeds, tmp_path, "--dtype", dtype)
    assert loops > 0
    assert vectorized > 0, f"{name} ({dtype}): none of {loops} loops was vectorized"
    # Loops over temporaries (scratch parameters on CUDA) are exercised too.
    assert any(int(m[1]) > 0 and m[3].endswith("_scratch") for m in REMARK.finditer(stderr)), \
        f"{name} ({dtype}): no loop over a temporary was vectorized"


def test_zoo_mlp_has_no_kernel_to_vectorize(zoo, pmc_opt, tmp_path):
    """The MLP's elementwise work folds into GEMM epilogues: no kernel, no remark,
    and the hook changes nothing."""
    feeds = make_zoo.make_inputs(onnx.load(zoo["mlp"]), seed=7)
    compile_bundle(pmc_opt, zoo["mlp"], tmp_path / "a.pmc")
    proc = compile_bundle(pmc_opt, zoo["mlp"], tmp_path / "b.pmc", HOOK)
    assert not REMARK.search(proc.stderr)
    assert_same(run_bundle(tmp_path / "a.pmc", feeds), run_bundle(tmp_path / "b.pmc", feeds),
                "mlp")


# --- Hand-made shapes ----------------------------------------------------------


def make_model(path, inputs, output_shape, nodes, output_type=TensorProto.FLOAT,
               initializers=()):
    """A one-output model: `inputs` {name: shape} (float32), `nodes` ending in "y"."""
    graph = helper.make_graph(
        nodes, "vec",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info("y", output_type, output_shape)],
        initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return str(path)


def random_feeds(inputs, seed=3):
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal(s).astype(np.float32) for n, s in inputs.items()}


def add_tanh(a, b):
    """y = tanh(a + b) * a: loads, a binary op, a math call, a second use of a."""
    return [helper.make_node("Add", ["a", "b"], ["s"]),
            helper.make_node("Tanh", ["s"], ["t"]),
            helper.make_node("Mul", ["t", "a"], ["y"])]


# (id, {input: shape}, output shape, vector type expected in the IR or None).
SHAPES = [
    ("inner_div4", {"a": [6, 16], "b": [6, 16]}, [6, 16], "vector<4xf32>"),
    ("inner_div2_only", {"a": [5, 6], "b": [5, 6]}, [5, 6], "vector<2xf32>"),
    ("inner_odd", {"a": [4, 7], "b": [4, 7]}, [4, 7], None),
    ("one_dim", {"a": [36], "b": [36]}, [36], "vector<4xf32>"),
    ("broadcast_inner", {"a": [6, 8], "b": [6, 1]}, [6, 8], "vector<4xf32>"),
    ("broadcast_outer", {"a": [6, 8], "b": [8]}, [6, 8], "vector<4xf32>"),
    ("broadcast_scalar", {"a": [3, 4, 12], "b": [1]}, [3, 4, 12], "vector<4xf32>"),
    ("broadcast_both", {"a": [6, 1], "b": [1, 10]}, [6, 10], "vector<2xf32>"),
    ("rank3_div2", {"a": [2, 3, 10], "b": [2, 3, 10]}, [2, 3, 10], "vector<2xf32>"),
]


@pytest.mark.parametrize("case", SHAPES, ids=[c[0] for c in SHAPES])
def test_shapes_same_outputs_once_vectorized(case, pmc_opt, tmp_path):
    _, inputs, out_shape, vector_type = case
    model = make_model(tmp_path / "m.onnx", inputs, out_shape, add_tanh("a", "b"))
    feeds = random_feeds(inputs)
    vectorized, loops, _ = compare(pmc_opt, model, feeds, tmp_path)
    assert loops > 0
    if vector_type is None:
        assert vectorized == 0, f"{case[0]}: an odd inner dimension cannot vectorize"
        return
    assert vectorized > 0, f"{case[0]}: none of {loops} loops was vectorized"
    ir = run_tool([pmc_opt, "compile", model, "-o", tmp_path / "ir.pmc", HOOK,
                   "--mlir-print-ir-after-all"])
    assert ir.returncode == 0, ir.stderr
    accesses = re.findall(r"vector\.(?:load|store) .*", ir.stderr)
    assert any("vector.load" in a for a in accesses), ir.stderr[-4000:]
    assert any("vector.store" in a for a in accesses), ir.stderr[-4000:]
    assert all(vector_type in a for a in accesses), (
        f"{case[0]}: expected {vector_type} accesses, got {sorted(set(accesses))}")


def test_transpose_then_elementwise(pmc_opt, tmp_path):
    """The transpose loop reads along a non-inner dimension: it must stay
    scalar; the elementwise loop after it (in place on the output) vectorizes."""
    inputs = {"a": [8, 12], "b": [12, 8]}
    nodes = [helper.make_node("Transpose", ["a"], ["at"], perm=[1, 0]),
             helper.make_node("Add", ["at", "b"], ["s"]),
             helper.make_node("Sigmoid", ["s"], ["y"])]
    model = make_model(tmp_path / "t.onnx", inputs, [12, 8], nodes)
    vectorized, loops, _ = compare(pmc_opt, model, random_feeds(inputs), tmp_path)
    assert 0 < vectorized < loops


def const(name, values, dtype=np.int64):
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


# Slices are subviews of a kernel parameter: the view's offset and strides
# decide the width (the parameter itself is 64-byte aligned).
SLICES = [("offset4", 4, "vector<4xf32>"), ("offset2", 2, "vector<2xf32>"),
          ("offset1", 1, None)]


@pytest.mark.parametrize("case", SLICES, ids=[c[0] for c in SLICES])
def test_slice_offsets(case, pmc_opt, tmp_path):
    _, start, vector_type = case
    inputs = {"a": [4, 16], "b": [4, 8]}
    nodes = [helper.make_node("Slice", ["a", "starts", "ends", "axes"], ["sa"]),
             helper.make_node("Add", ["sa", "b"], ["s"]),
             helper.make_node("Exp", ["s"], ["y"])]
    model = make_model(tmp_path / "s.onnx", inputs, [4, 8], nodes, initializers=[
        const("starts", [start]), const("ends", [start + 8]), const("axes", [1])])
    vectorized, loops, _ = compare(pmc_opt, model, random_feeds(inputs), tmp_path)
    ir = run_tool([pmc_opt, "compile", model, "-o", tmp_path / "ir.pmc", HOOK,
                   "--mlir-print-ir-after-all"])
    assert ir.returncode == 0, ir.stderr
    accesses = set(re.findall(r"vector\.(?:load|store) .*", ir.stderr))
    if vector_type is None:
        # b and the output still line up, but the slice of a does not.
        assert vectorized == 0 and not accesses, sorted(accesses)
    else:
        assert vectorized > 0 and accesses
        assert all(vector_type in a for a in accesses), sorted(accesses)


def test_concat_and_cast(pmc_opt, tmp_path):
    """Stores into subviews of the output (Concat) and mixed element types (a
    round trip through int32 truncates: same lanes as the scalar loop)."""
    inputs = {"a": [4, 8], "b": [4, 12]}
    nodes = [helper.make_node("Mul", ["a", "ten"], ["a10"]),
             helper.make_node("Cast", ["a10"], ["ai"], to=TensorProto.INT32),
             helper.make_node("Cast", ["ai"], ["af"], to=TensorProto.FLOAT),
             helper.make_node("Relu", ["b"], ["rb"]),
             helper.make_node("Concat", ["af", "rb"], ["y"], axis=1)]
    model = make_model(tmp_path / "c.onnx", inputs, [4, 20], nodes,
                       initializers=[const("ten", [10.0], np.float32)])
    vectorized, loops, _ = compare(pmc_opt, model, random_feeds(inputs), tmp_path)
    assert vectorized > 0, f"none of {loops} loops was vectorized"


def test_int64_and_bool_elements(pmc_opt, tmp_path):
    """8-byte lanes (2 per 16 bytes) and a bool input (i1 loads stay scalar)."""
    path = tmp_path / "i.onnx"
    graph = helper.make_graph(
        [helper.make_node("Mul", ["a", "b"], ["m"]),
         helper.make_node("Add", ["m", "a"], ["s"]),
         helper.make_node("Where", ["c", "s", "b"], ["y"])], "ints",
        [helper.make_tensor_value_info("a", TensorProto.INT64, [3, 8]),
         helper.make_tensor_value_info("b", TensorProto.INT64, [3, 8]),
         helper.make_tensor_value_info("c", TensorProto.BOOL, [3, 8])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [3, 8])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    rng = np.random.default_rng(11)
    feeds = {"a": rng.integers(-1000, 1000, [3, 8]), "b": rng.integers(-1000, 1000, [3, 8]),
             "c": rng.integers(0, 2, [3, 8]).astype(bool)}
    _, loops, _ = compare(pmc_opt, str(path), feeds, tmp_path)
    assert loops > 0
    # Without the bool operand the loop vectorizes at 2 x i64.
    graph = helper.make_graph(
        [helper.make_node("Mul", ["a", "b"], ["m"]), helper.make_node("Add", ["m", "a"], ["y"])],
        "ints2", [helper.make_tensor_value_info(n, TensorProto.INT64, [3, 8]) for n in "ab"],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [3, 8])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    vectorized, _, _ = compare(pmc_opt, str(path), {k: feeds[k] for k in "ab"}, tmp_path)
    assert vectorized > 0
    ir = run_tool([pmc_opt, "compile", path, "-o", tmp_path / "ir.pmc", HOOK,
                   "--mlir-print-ir-after-all"])
    assert "vector<2xi64>" in ir.stderr


def test_where_and_compare(pmc_opt, tmp_path):
    """i1 lanes: a comparison feeding a select."""
    inputs = {"a": [4, 8], "b": [4, 8]}
    nodes = [helper.make_node("Greater", ["a", "b"], ["g"]),
             helper.make_node("Where", ["g", "a", "b"], ["w"]),
             helper.make_node("Relu", ["w"], ["y"])]
    model = make_model(tmp_path / "w.onnx", inputs, [4, 8], nodes)
    vectorized, _, _ = compare(pmc_opt, model, random_feeds(inputs), tmp_path)
    assert vectorized > 0


def test_bf16_shapes(pmc_opt, tmp_path):
    """--dtype bf16: 2-byte elements (8 lanes per 16 bytes) next to the f32
    graph inputs and outputs."""
    inputs = {"a": [4, 24], "b": [24]}
    weight = numpy_helper.from_array(
        np.random.default_rng(5).standard_normal([4, 24]).astype(np.float32), "w")
    nodes = [helper.make_node("Mul", ["a", "w"], ["m"]),
             helper.make_node("Add", ["m", "b"], ["s"]),
             helper.make_node("Sigmoid", ["s"], ["y"])]
    model = make_model(tmp_path / "b.onnx", inputs, [4, 24], nodes, initializers=[weight])
    vectorized, loops, _ = compare(pmc_opt, model, random_feeds(inputs), tmp_path,
                                   "--dtype", "bf16")
    assert vectorized > 0, f"none of {loops} loops was vectorized"


def test_hook_rejects_bad_values(pmc_opt, zoo, tmp_path):
    proc = run_tool([pmc_opt, "compile", zoo["mlp"], "-o", tmp_path / "x.pmc",
                     "--cpu-kernel-pipeline=no-such-pipeline"])
    assert_clean_failure(proc, "--cpu-kernel-pipeline", "no-such-pipeline")
    proc = run_tool([pmc_opt, "compile", zoo["mlp"], "-o", tmp_path / "x.pmc",
                     "--target", "cuda", HOOK])
    assert_clean_failure(proc, "--target cpu")
