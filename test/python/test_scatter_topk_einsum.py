"""TopK, ScatterElements / Scatter / ScatterND and Einsum beyond the backend
suites: random inputs against onnxruntime (and numpy's einsum, onnx's
reference where onnxruntime's order is not a total one), every reduction,
duplicate and negative indices, dtypes, ties and NaN, 2 devices, and the
errors for what pmc does not do."""

import numpy as np
import onnx
import onnx.reference
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(0)


def _model(op, inputs, n_outputs=1, opset=18, consts=(), **attrs):
    """A one-node model: `inputs` (name -> array) are graph inputs, `consts`
    (name -> array) initializers, in the order given by `order`."""
    names = [name for name, _ in inputs] + [name for name, _ in consts]
    order = attrs.pop("order", names)
    outs = [f"out{i}" for i in range(n_outputs)]
    node = helper.make_node(op, order, outs, name="the_node", **attrs)
    graph = helper.make_graph(
        [node], "case",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
         for n, v in inputs],
        [helper.make_empty_tensor_value_info(o) for o in outs],
        [numpy_helper.from_array(v, n) for n, v in consts])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=8)


def _ort(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _pmc(pmc_module, model, feeds, devices=1):
    got = pmc_module.compile(model, devices=devices).run_dict(feeds)
    return [got[o.name] for o in model.graph.output]


def _compile_error(pmc_module, model, *needles):
    with pytest.raises(pmc_module.CompileError) as info:
        pmc_module.compile(model)
    text = str(info.value)
    for needle in ("the_node",) + needles:
        assert needle in text, text


# --- TopK ---------------------------------------------------------------------

def _topk_model(x, k, opset=11, **attrs):
    if opset < 10:
        return _model("TopK", [("x", x)], 2, opset=opset, k=k, **attrs)
    return _model("TopK", [("x", x)], 2, opset=opset,
                  consts=[("k", np.array([k], np.int64))], **attrs)


@pytest.mark.parametrize("shape,axis,k", [
    ((7,), 0, 3), ((4, 9), -1, 9), ((4, 9), 0, 2), ((3, 5, 6), 1, 5),
    ((3, 5, 6), -3, 1), ((2, 1, 8), 1, 1), ((2, 3, 4, 5), 2, 4)])
@pytest.mark.parametrize("largest", [1, 0])
def test_topk_random_floats_match_onnxruntime(pmc_module, shape, axis, k, largest):
    x = RNG.standard_normal(shape).astype(np.float32)
    model = _topk_model(x, k, axis=axis, largest=largest)
    want = _ort(model, {"x": x})
    got = _pmc(pmc_module, model, {"x": x})
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert got[1].dtype == np.int64


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("largest", [1, 0])
def test_topk_ties_take_the_lower_index(pmc_module, dtype, largest):
    """Few distinct values: every round ties; onnxruntime takes the lower index."""
    x = RNG.integers(0, 3, (5, 11)).astype(dtype)
    model = _topk_model(x, 7, axis=1, largest=largest)
    want = _ort(model, {"x": x})
    got = _pmc(pmc_module, model, {"x": x})
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint64, np.float16])
def test_topk_other_dtypes_match_the_reference(pmc_module, dtype):
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        x = RNG.integers(info.min, info.max, (3, 10), dtype=dtype, endpoint=True)
        x[0, :3] = info.min  # the extremes tie with what a round masks out
        x[1, :3] = info.max
    else:
        x = RNG.standard_normal((3, 10)).astype(dtype)
    for largest in (1, 0):
        model = _topk_model(x, 6, axis=1, largest=largest)
        want = onnx.reference.ReferenceEvaluator(model).run(None, {"x": x})
        got = _pmc(pmc_module, model, {"x": x})
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("opset", [1, 10])
def test_topk_legacy_opsets(pmc_module, opset):
    """TopK-1 has k as an attribute, TopK-10 as an input; both largest, sorted."""
    x = RNG.standard_normal((5, 6)).astype(np.float32)
    model = _topk_model(x, 4, opset=opset, axis=0 if opset == 1 else -1)
    want = _ort(model, {"x": x})
    got = _pmc(pmc_module, model, {"x": x})
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_topk_infinities_and_nan_follow_the_reference_order(pmc_module):
    """NaN is larger than every number (the reference's stable lexsort):
    first for largest, last for smallest; -inf/+inf tie with the values a
    round has masked out without being lost."""
    nan, inf = np.nan, np.inf
    x = np.array([[1, nan, 3, nan, 2, 3, -inf, inf, -inf, inf],
                  [-inf, -inf, -inf, nan, -inf, inf, inf, inf, nan, 0]], np.float32)
    for k in (1, 3, 6, 10):
        for largest in (1, 0):
            model = _topk_model(x, k, axis=1, largest=largest)
            want = onnx.reference.ReferenceEvaluator(model).run(None, {"x": x})
            got = _pmc(pmc_module, model, {"x": x})
            np.testing.assert_array_equal(got[1], want[1], err_msg=f"k={k} largest={largest}")
            np.testing.assert_array_equal(got[0], want[0])


def test_topk_unsorted_holds_the_same_elements(pmc_module):
    x = RNG.standard_normal((4, 12)).astype(np.float32)
    model = _topk_model(x, 5, axis=1, sorted=0)
    want = _ort(model, {"x": x})
    got = _pmc(pmc_module, model, {"x": x})
    for g, w in zip(got[1], want[1]):
        assert sorted(g) == sorted(w)
    np.testing.assert_array_equal(np.take_along_axis(x, got[1], 1), got[0])


def test_topk_k_zero_gives_empty_outputs(pmc_module):
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    got = _pmc(pmc_module, _topk_model(x, 0, axis=1), {"x": x})
    assert got[0].shape == (3, 0) and got[1].shape == (3, 0)


def test_topk_two_devices(pmc_module):
    x = RNG.standard_normal((8, 16)).astype(np.float32)
    model = _topk_model(x, 5, axis=1, largest=0)
    want = _ort(model, {"x": x})
    got = _pmc(pmc_module, model, {"x": x}, devices=2)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_topk_errors(pmc_module):
    x = np.zeros((3, 4), np.float32)
    _compile_error(pmc_module, _topk_model(x, 5, axis=1), "K = 5", "size 4")
    runtime_k = _model("TopK", [("x", x), ("k", np.array([2], np.int64))], 2, opset=11)
    _compile_error(pmc_module, runtime_k, "K")
