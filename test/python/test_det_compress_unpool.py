"""Det (an unrolled LU factorization with partial pivoting) and the operators
whose output shape depends on values (Compress, NonZero, MaxUnpool: that
operand must be a constant, an initializer or a bound input), against
onnxruntime (numpy's LAPACK Det for float64) on random inputs at 1 and 2
devices."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(11)


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    """The graph of `nodes`; the outputs' types come from onnx's shape inference."""
    graph = helper.make_graph(
        nodes, "case",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
         for n, v in inputs.items()],
        [onnx.ValueInfoProto(name=n) for n in outputs],
        initializer=[numpy_helper.from_array(v, n) for n, v in initializers])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              ir_version=8)
    inferred = {vi.name: vi for vi in onnx.shape_inference.infer_shapes(model).graph.output}
    for vi in model.graph.output:
        vi.type.CopyFrom(inferred[vi.name].type)
    return model


def _onnxruntime(model, feeds):
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


@pytest.mark.parametrize("devices", [1, 2])
@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (3, 3), (4, 4), (6, 6), (4, 3, 3),
                                   (2, 2, 5, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_det_matches_onnxruntime(pmc_module, devices, shape, dtype):
    x = RNG.standard_normal(shape).astype(dtype)
    model = _model([helper.make_node("Det", ["x"], ["y"])], {"x": x}, ["y"])
    # onnxruntime has Det for float32 only; numpy's is LAPACK's, as onnx's reference.
    want = (_onnxruntime(model, {"x": x})["y"] if dtype == np.float32
            else np.asarray(np.linalg.det(x), dtype))
    got = pmc_module.compile(model, devices=devices).run_dict({"x": x})["y"]
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


def test_det_pivots_singular_and_permutations(pmc_module):
    # A zero leading entry needs a row swap; a singular matrix is 0 (not NaN);
    # permutation matrices are +-1 exactly; a scaled identity is its power.
    x = np.stack([
        np.array([[0, 2, 1], [3, 0, 1], [1, 1, 0]], np.float32),
        np.array([[1, 2, 3], [2, 4, 6], [1, 0, 1]], np.float32),
        np.zeros((3, 3), np.float32),
        np.eye(3, dtype=np.float32)[[1, 0, 2]],
        np.eye(3, dtype=np.float32)[[1, 2, 0]],
        2 * np.eye(3, dtype=np.float32),
    ])
    model = _model([helper.make_node("Det", ["x"], ["y"])], {"x": x}, ["y"])
    got = pmc_module.compile(model).run_dict({"x": x})["y"]
    np.testing.assert_allclose(got, [5, 0, 0, -1, 1, 8], rtol=1e-6, atol=0)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, _onnxruntime(model, {"x": x})["y"], rtol=1e-5, atol=1e-6)


def test_det_rejects_non_square(pmc_module):
    x = np.ones((2, 3), np.float32)
    model = _model([helper.make_node("Det", ["x"], ["y"])], {"x": x}, ["y"])
    with pytest.raises(pmc_module.CompileError, match=r"float \[\.\.\., n, n\]"):
        pmc_module.compile(model)


@pytest.mark.parametrize("devices", [1, 2])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_compress_with_a_bound_condition(pmc_module, devices, axis):
    x = RNG.standard_normal((4, 6)).astype(np.float32)
    length = {None: 17, 0: 3, 1: 6, -1: 5}[axis]  # shorter than the axis drops the rest
    condition = RNG.integers(0, 2, size=length).astype(bool)
    condition[0] = True
    attrs = {} if axis is None else {"axis": axis}
    model = _model([helper.make_node("Compress", ["x", "c"], ["y"], **attrs)],
                   {"x": x, "c": condition}, ["y"])
    want = _onnxruntime(model, {"x": x, "c": condition})["y"]
    exe = pmc_module.compile(model, devices=devices, bind={"c": condition})
    np.testing.assert_array_equal(exe.run_dict({"x": x})["y"], want)


def test_compress_needs_a_constant_condition(pmc_module):
    x = np.ones((4, 2), np.float32)
    c = np.array([1, 0, 1, 1], bool)
    model = _model([helper.make_node("Compress", ["x", "c"], ["y"], axis=0)],
                   {"x": x, "c": c}, ["y"])
    with pytest.raises(pmc_module.CompileError,
                       match=r"'condition'\) must be a compile-time constant.*'c'"):
        pmc_module.compile(model)
    with pytest.raises(pmc_module.CompileError, match="selects nothing"):
        pmc_module.compile(model, bind={"c": np.zeros(4, bool)})
    longer = _model([helper.make_node("Compress", ["x", "c"], ["y"], axis=0)],
                    {"x": x, "c": np.ones(5, bool)}, ["y"])
    with pytest.raises(pmc_module.CompileError, match="selects position 4 of an axis of size 4"):
        pmc_module.compile(longer, bind={"c": np.ones(5, bool)})


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_nonzero_of_a_constant(pmc_module, dtype):
    x = RNG.standard_normal((3, 1, 4)).astype(np.float32)
    value = (x > 0.3).astype(dtype) if dtype != np.float32 else np.where(x > 0.3, x, 0)
    value.flat[0] = 1
    model = _model([helper.make_node("NonZero", ["v"], ["y"]),
                    helper.make_node("Cast", ["y"], ["yf"], to=TensorProto.FLOAT),
                    helper.make_node("Add", ["yf", "x"], ["z"])],
                   {"x": np.zeros((1,), np.float32)}, ["y", "z"], [("v", value)])
    feeds = {"x": np.array([0.5], np.float32)}
    want = _onnxruntime(model, feeds)
    got = pmc_module.compile(model).run_dict(feeds)
    np.testing.assert_array_equal(got["y"], want["y"])
    np.testing.assert_array_equal(got["z"], want["z"])


@pytest.mark.parametrize("devices", [1, 2])
@pytest.mark.parametrize("kernel,strides,pads,output_shape", [
    ((2, 2), (2, 2), (0, 0, 0, 0), None),
    ((3, 3), (2, 2), (1, 1, 1, 1), (2, 3, 8, 8)),
    ((2, 2), (2, 2), (0, 0, 0, 0), (2, 3, 9, 9)),
    ((2, 3), (1, 2), (0, 1, 0, 1), (2, 3, 8, 8)),
])
def test_maxunpool_inverts_maxpool(pmc_module, devices, kernel, strides, pads, output_shape):
    """MaxPool's Indices (from onnxruntime) bound as MaxUnpool's I."""
    x = RNG.standard_normal((2, 3, 8, 8)).astype(np.float32)
    pool = _model([helper.make_node("MaxPool", ["x"], ["p", "i"], kernel_shape=kernel,
                                    strides=strides, pads=pads)], {"x": x}, ["p", "i"])
    pooled = _onnxruntime(pool, {"x": x})
    values, indices = pooled["p"], pooled["i"]
    inputs = {"v": values, "i": indices}
    names = ["v", "i"]
    if output_shape:
        inputs["s"] = np.array(output_shape, np.int64)
        names.append("s")
    model = _model([helper.make_node("MaxUnpool", names, ["y"], kernel_shape=kernel,
                                     strides=strides, pads=pads)], inputs, ["y"], opset=11)
    want = _onnxruntime(model, inputs)["y"]
    bind = {n: inputs[n] for n in names[1:]}
    got = pmc_module.compile(model, devices=devices, bind=bind).run_dict({"v": values})["y"]
    np.testing.assert_array_equal(got, want)


def test_maxunpool_errors(pmc_module):
    v = np.ones((1, 1, 2, 2), np.float32)
    model = _model([helper.make_node("MaxUnpool", ["v", "i"], ["y"], kernel_shape=[2, 2],
                                     strides=[2, 2])], {"v": v, "i": np.zeros_like(v, np.int64)},
                   ["y"], opset=11)
    with pytest.raises(pmc_module.CompileError, match=r"'I'\) must be a compile-time constant"):
        pmc_module.compile(model)
    with pytest.raises(pmc_module.CompileError, match="index 16 is outside the output of 16"):
        pmc_module.compile(model, bind={"i": np.array([[[[0, 1], [2, 16]]]], np.int64)})
