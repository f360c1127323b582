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


# --- ScatterElements / Scatter ----------------------------------------------------

def _scatter_elements(data, indices, updates, opset=18, op="ScatterElements", **attrs):
    return _model(op, [("data", data), ("indices", indices), ("updates", updates)],
                  opset=opset, **attrs)


def _unique_targets(data_shape, index_shape, axis):
    """Indices along `axis`, distinct within every line (no duplicates)."""
    idx = np.empty(index_shape, np.int64)
    moved = np.moveaxis(idx, axis, -1)
    for pos in np.ndindex(moved.shape[:-1]):
        moved[pos] = RNG.permutation(data_shape[axis])[:index_shape[axis]]
    return idx


@pytest.mark.parametrize("data_shape,index_shape,axis", [
    ((5,), (3,), 0), ((4, 6), (4, 6), 1), ((4, 6), (2, 3), 0), ((4, 6), (3, 2), -1),
    ((3, 4, 5), (2, 4, 3), 2), ((3, 4, 5), (3, 2, 1), -2), ((2, 1, 4), (2, 1, 4), 1)])
@pytest.mark.parametrize("opset", [11, 13, 16, 18])
def test_scatter_elements_random_match_onnxruntime(pmc_module, data_shape, index_shape,
                                                     axis, opset):
    data = RNG.standard_normal(data_shape).astype(np.float32)
    idx = _unique_targets(data_shape, index_shape, axis)
    idx = np.where(RNG.random(index_shape) < 0.5, idx - data_shape[axis], idx)  # negatives
    updates = RNG.standard_normal(index_shape).astype(np.float32)
    model = _scatter_elements(data, idx, updates, opset=opset, axis=axis)
    feeds = {"data": data, "indices": idx, "updates": updates}
    np.testing.assert_array_equal(_pmc(pmc_module, model, feeds)[0], _ort(model, feeds)[0])


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_scatter_elements_duplicates_reduce_like_onnxruntime(pmc_module, reduction, dtype):
    """Many updates to few positions; `none` keeps the last one written."""
    data = RNG.integers(-4, 5, (4, 5)).astype(dtype)
    idx = RNG.integers(-5, 5, (3, 7)).astype(np.int64)
    updates = RNG.integers(-3, 4, (3, 7)).astype(dtype)
    model = _scatter_elements(data, idx, updates, axis=1, reduction=reduction)
    feeds = {"data": data, "indices": idx, "updates": updates}
    want = _ort(model, feeds)[0]
    got = _pmc(pmc_module, model, feeds)[0]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_scatter_elements_int32_indices_and_bool_data(pmc_module):
    data = RNG.random((3, 5)) < 0.5
    idx = _unique_targets((3, 5), (3, 3), 1).astype(np.int32)
    updates = RNG.random((3, 3)) < 0.5
    model = _scatter_elements(data, idx, updates, axis=1)
    feeds = {"data": data, "indices": idx, "updates": updates}
    np.testing.assert_array_equal(_pmc(pmc_module, model, feeds)[0], _ort(model, feeds)[0])


def test_scatter_9_is_scatter_elements(pmc_module):
    data = RNG.standard_normal((4, 4)).astype(np.float32)
    idx = _unique_targets((4, 4), (2, 4), 0)
    updates = RNG.standard_normal((2, 4)).astype(np.float32)
    model = _scatter_elements(data, idx, updates, opset=9, op="Scatter", axis=0)
    feeds = {"data": data, "indices": idx, "updates": updates}
    np.testing.assert_array_equal(_pmc(pmc_module, model, feeds)[0], _ort(model, feeds)[0])


def test_scatter_elements_two_devices(pmc_module):
    data = RNG.standard_normal((8, 12)).astype(np.float32)
    idx = RNG.integers(-12, 12, (8, 4)).astype(np.int64)
    updates = RNG.standard_normal((8, 4)).astype(np.float32)
    model = _scatter_elements(data, idx, updates, axis=1, reduction="add")
    feeds = {"data": data, "indices": idx, "updates": updates}
    np.testing.assert_allclose(_pmc(pmc_module, model, feeds, devices=2)[0],
                               _ort(model, feeds)[0], rtol=1e-5, atol=1e-6)


def test_scatter_errors(pmc_module):
    data = np.zeros((3, 4), np.float32)
    idx = np.zeros((2, 2), np.int64)
    upd = np.zeros((2, 2), np.float32)
    _compile_error(pmc_module, _scatter_elements(data, idx, upd, opset=16, reduction="max"),
                   "reduction 'max'", "opset 16")
    const_idx = _model("ScatterElements", [("data", data), ("updates", upd)], opset=18,
                       consts=[("indices", np.array([[0, 4], [1, 1]], np.int64))],
                       order=["data", "indices", "updates"], axis=1)
    _compile_error(pmc_module, const_idx, "index 4", "size 4")


# --- ScatterND ----------------------------------------------------------------

def _scatter_nd(data, indices, updates, opset=18, **attrs):
    return _model("ScatterND", [("data", data), ("indices", indices), ("updates", updates)],
                  opset=opset, **attrs)


@pytest.mark.parametrize("data_shape,index_shape", [
    ((8,), (3, 1)), ((4, 5), (2, 1)), ((4, 5), (3, 2)), ((4, 5, 6), (2, 2, 1)),
    ((4, 5, 6), (3, 2)), ((4, 5, 6), (2, 3)), ((2, 3, 4, 2), (1, 2, 2))])
@pytest.mark.parametrize("opset", [11, 13, 16, 18])
def test_scatter_nd_random_match_onnxruntime(pmc_module, data_shape, index_shape, opset):
    q = index_shape[-1]
    rows = int(np.prod(data_shape[:q]))
    count = int(np.prod(index_shape[:-1]))
    flat = RNG.permutation(rows)[:count]
    idx = np.stack(np.unravel_index(flat, data_shape[:q]), -1).reshape(index_shape)
    idx = np.where(RNG.random(index_shape) < 0.5, idx - np.array(data_shape[:q]), idx)
    data = RNG.standard_normal(data_shape).astype(np.float32)
    updates = RNG.standard_normal(index_shape[:-1] + data_shape[q:]).astype(np.float32)
    model = _scatter_nd(data, idx.astype(np.int64), updates, opset=opset)
    feeds = {"data": data, "indices": idx.astype(np.int64), "updates": updates}
    np.testing.assert_array_equal(_pmc(pmc_module, model, feeds)[0], _ort(model, feeds)[0])


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_scatter_nd_duplicates_reduce_like_onnxruntime(pmc_module, reduction, dtype):
    data = RNG.integers(-4, 5, (3, 4, 2)).astype(dtype)
    idx = np.stack([RNG.integers(-3, 3, (5,)), RNG.integers(-4, 4, (5,))], -1).astype(np.int64)
    updates = RNG.integers(-3, 4, (5, 2)).astype(dtype)
    model = _scatter_nd(data, idx, updates, reduction=reduction)
    feeds = {"data": data, "indices": idx, "updates": updates}
    np.testing.assert_allclose(_pmc(pmc_module, model, feeds)[0], _ort(model, feeds)[0],
                               rtol=1e-6)


def test_scatter_nd_two_devices(pmc_module):
    data = RNG.standard_normal((8, 4, 4)).astype(np.float32)
    idx = np.array([[1], [5], [-1], [0]], np.int64)
    updates = RNG.standard_normal((4, 4, 4)).astype(np.float32)
    model = _scatter_nd(data, idx, updates)
    feeds = {"data": data, "indices": idx, "updates": updates}
    np.testing.assert_array_equal(_pmc(pmc_module, model, feeds, devices=2)[0],
                                  _ort(model, feeds)[0])


def test_scatter_nd_errors(pmc_module):
    data = np.zeros((3, 4), np.float32)
    _compile_error(pmc_module, _scatter_nd(data, np.zeros((2, 1), np.int64),
                                           np.zeros((2, 3), np.float32)), "updates must be")
    _compile_error(pmc_module, _scatter_nd(data, np.zeros((2, 1), np.int64),
                                           np.zeros((2, 4), np.float32), opset=13,
                                           reduction="add"), "reduction")


# --- Einsum -------------------------------------------------------------------

def _einsum(equation, *operands):
    return _model("Einsum", [(f"x{i}", v) for i, v in enumerate(operands)], opset=12,
                  equation=equation)


@pytest.mark.parametrize("equation,shapes", [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("ij,jk", [(3, 4), (4, 5)]),                 # implicit: ik
    ("ba", [(3, 4)]),                            # implicit: ab, a transpose
    ("i,i", [(5,)]*2),                           # inner product, implicit scalar
    ("i,j->ij", [(3,), (4,)]),                   # outer
    ("ij,ij->ij", [(3, 4)]*2),                   # elementwise
    ("ij->", [(3, 4)]),
    ("ii->i", [(4, 4)]),
    ("ii", [(4, 4)]),                            # trace
    ("iij->ji", [(3, 3, 2)]),
    ("ijji->ij", [(2, 3, 3, 2)]),
    ("...ij,...jk->...ik", [(1, 3, 4), (2, 4, 5)]),   # ellipsis broadcast
    ("...ii->...i", [(2, 3, 4, 4)]),
    ("ij...,jk...->ik...", [(3, 4, 2), (4, 5, 2)]),
    ("i...j,j...->...i", [(3, 2, 4), (4, 2)]),
    ("...,...->...", [(2, 3), (1, 3)]),
    ("ijk,ikl,ilm->ijm", [(2, 3, 4), (2, 4, 5), (2, 5, 3)]),
    ("abc,cd,b->ad", [(2, 3, 4), (4, 5), (3,)]),
    ("ab,cd->", [(2, 3), (4, 5)]),
    ("Ab,bA->A", [(3, 4), (4, 3)]),
    ("ab,ab,ab->a", [(2, 3)]*3),
])
def test_einsum_matches_numpy_and_onnxruntime(pmc_module, equation, shapes):
    operands = [RNG.standard_normal(s).astype(np.float32) for s in shapes]
    model = _einsum(equation, *operands)
    feeds = {f"x{i}": v for i, v in enumerate(operands)}
    got = _pmc(pmc_module, model, feeds)[0]
    want = np.einsum(equation, *[v.astype(np.float64) for v in operands])
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got, _ort(model, feeds)[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float64, np.float16])
def test_einsum_dtypes(pmc_module, dtype):
    a = RNG.integers(-5, 6, (2, 3, 4)).astype(dtype)
    b = RNG.integers(-5, 6, (2, 4, 3)).astype(dtype)
    model = _einsum("bij,bjk->bik", a, b)
    got = _pmc(pmc_module, model, {"x0": a, "x1": b})[0]
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, np.einsum("bij,bjk->bik", a, b))


def test_einsum_two_devices(pmc_module):
    a = RNG.standard_normal((4, 8, 16)).astype(np.float32)
    b = RNG.standard_normal((4, 16, 8)).astype(np.float32)
    model = _einsum("bij,bjk->bki", a, b)
    got = _pmc(pmc_module, model, {"x0": a, "x1": b}, devices=2)[0]
    np.testing.assert_allclose(got, np.einsum("bij,bjk->bki", a, b), rtol=1e-4, atol=1e-4)


def test_einsum_errors(pmc_module):
    a = np.zeros((3, 4), np.float32)
    _compile_error(pmc_module, _einsum("ij,jk->ik", a), "2 operand terms for 1")
    _compile_error(pmc_module, _einsum("ij->k", a), "output label 'k'")
    _compile_error(pmc_module, _einsum("ijk->i", a), "names 3 dims")
    _compile_error(pmc_module, _einsum("ii->i", a), "label 'i'", "sizes 3 and 4")
    _compile_error(pmc_module, _einsum("ij,ij->ij", a, np.zeros((3, 5), np.float32)),
                   "label 'j'", "sizes 4 and 5")
