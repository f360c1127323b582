"""Importer cases found on real models and by fuzzing, each in its smallest form:
one device against onnxruntime (or ONNX's reference where onnxruntime has no
kernel), and bad nodes rejected with a message that names them."""

import os

import numpy as np
import onnx
import onnx.reference
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_clean_failure, run_tool

ONNX_DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")


def _model(nodes, inputs, outputs, initializers=(), opset=17):
    graph = helper.make_graph(nodes, "case", inputs, outputs, list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=8)


def _tensor(name, dtype, shape):
    return helper.make_tensor_value_info(name, dtype, shape)


def _check_against_onnxruntime(pmc_module, model, feeds, rtol=1e-5, atol=1e-6):
    expected = ort.InferenceSession(model.SerializeToString()).run(None, feeds)
    got = pmc_module.compile(model).run_dict(feeds)
    for output, want in zip(model.graph.output, expected):
        np.testing.assert_allclose(got[output.name], want, rtol=rtol, atol=atol,
                                   err_msg=output.name)


# --- Variadic operators with an empty input name -----------------------------

@pytest.mark.parametrize("op,names", [("Max", ["a", "", "b"]), ("Min", ["a", ""]),
                                      ("Sum", ["a", "", "b"]), ("Mean", ["", "a"]),
                                      ("Concat", ["a", ""])])
def test_variadic_empty_input_is_an_error(op, names, pmc_opt, tmp_path):
    """Found by mutating the backend models: an empty name in a variadic list
    crashed the importer (SIGSEGV); it is an error naming the node and input."""
    attrs = {"axis": 0} if op == "Concat" else {}
    node = helper.make_node(op, names, ["y"], name="the_node", **attrs)
    model = _model([node], [_tensor("a", TensorProto.FLOAT, [3]),
                            _tensor("b", TensorProto.FLOAT, [3])],
                   [_tensor("y", TensorProto.FLOAT, None)])
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    proc = run_tool([pmc_opt, "compile", path, "-o", tmp_path / "m.pmc"])
    assert_clean_failure(proc, "the_node", op, f"input {names.index('')}", "empty")


def test_missing_required_operand_is_an_error(pmc_opt, tmp_path):
    """An empty name where an operator needs its input (Add's second)."""
    node = helper.make_node("Add", ["a", ""], ["y"], name="adder")
    model = _model([node], [_tensor("a", TensorProto.FLOAT, [3])],
                   [_tensor("y", TensorProto.FLOAT, [3])])
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    proc = run_tool([pmc_opt, "compile", path, "-o", tmp_path / "m.pmc"])
    assert_clean_failure(proc, "adder", "missing")


# --- GatherND (transformers' mask code) --------------------------------------

@pytest.mark.parametrize("data_shape,index_shape,batch_dims", [
    ((4, 5), (3, 2), 0),              # full tuples: elements
    ((4, 5, 6), (2, 3, 1), 0),        # partial tuples: slices
    ((2, 4, 5), (2, 3, 1), 1),        # one batch dim
    ((2, 3, 4, 5), (2, 3, 2, 2), 2),  # two batch dims, a 2-D index grid
])
def test_gathernd_matches_onnxruntime(pmc_module, data_shape, index_shape, batch_dims):
    rng = np.random.default_rng(7)
    data = rng.standard_normal(data_shape).astype(np.float32)
    q = index_shape[-1]
    bounds = np.array(data_shape[batch_dims:batch_dims + q])
    raw = rng.integers(0, 1 << 30, size=index_shape) % bounds
    # Some components count from the end (negative indices).
    raw = np.where(rng.random(index_shape) < 0.3, raw - bounds, raw).astype(np.int64)
    node = helper.make_node("GatherND", ["data", "indices"], ["y"], batch_dims=batch_dims)
    model = _model([node], [_tensor("data", TensorProto.FLOAT, data_shape),
                            _tensor("indices", TensorProto.INT64, index_shape)],
                   [_tensor("y", TensorProto.FLOAT, None)])
    _check_against_onnxruntime(pmc_module, model, {"data": data, "indices": raw})


def test_masked_gathernd_as_exporters_write_it(pmc_module):
    """A padding mask turned into index tuples (NonZero-free form, constant
    indices) and gathered from the hidden states, as transformers exports do."""
    rng = np.random.default_rng(3)
    hidden = rng.standard_normal((2, 6, 8)).astype(np.float32)
    # The last real token of each row: (batch, position) pairs.
    positions = numpy_helper.from_array(np.array([[0, 3], [1, 5]], np.int64), "positions")
    node = helper.make_node("GatherND", ["hidden", "positions"], ["pooled"])
    model = _model([node], [_tensor("hidden", TensorProto.FLOAT, [2, 6, 8])],
                   [_tensor("pooled", TensorProto.FLOAT, [2, 8])], [positions])
    _check_against_onnxruntime(pmc_module, model, {"hidden": hidden})


def test_gathernd_bad_batch_dims(pmc_opt, tmp_path):
    node = helper.make_node("GatherND", ["data", "indices"], ["y"], batch_dims=2,
                            name="gnd")
    model = _model([node], [_tensor("data", TensorProto.FLOAT, [2, 3]),
                            _tensor("indices", TensorProto.INT64, [2, 1])],
                   [_tensor("y", TensorProto.FLOAT, None)])
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    assert_clean_failure(run_tool([pmc_opt, "compile", path, "-o", tmp_path / "m.pmc"]),
                         "gnd", "batch_dims")


# --- LRN (AlexNet, Inception v1, ZFNet) --------------------------------------

def _lrn_reference(x, size, alpha, beta, bias):
    """The ONNX definition: the window over channels is [c - floor((size-1)/2),
    c + ceil((size-1)/2)]. (onnx's reference evaluator loops over the batch
    instead of the channels, and onnxruntime takes odd sizes on 4-D inputs only.)"""
    lo, hi = (size - 1) // 2, size - 1 - (size - 1) // 2
    squares = np.zeros_like(x, dtype=np.float64)
    for c in range(x.shape[1]):
        window = x[:, max(0, c - lo):min(x.shape[1], c + hi + 1)].astype(np.float64)
        squares[:, c] = (window ** 2).sum(axis=1)
    return (x / (bias + alpha / size * squares) ** beta).astype(x.dtype)


@pytest.mark.parametrize("size,shape", [(5, (2, 7, 4, 4)), (3, (1, 6, 3, 5)), (4, (1, 6, 3, 5)),
                                        (1, (2, 3, 4)), (2, (1, 8, 2, 2, 2))])
def test_lrn_matches_definition(pmc_module, size, shape):
    rng = np.random.default_rng(size)
    x = rng.standard_normal(shape).astype(np.float32) * 3
    node = helper.make_node("LRN", ["x"], ["y"], size=size, alpha=2e-3, beta=0.6, bias=1.5)
    model = _model([node], [_tensor("x", TensorProto.FLOAT, shape)],
                   [_tensor("y", TensorProto.FLOAT, shape)])
    got = pmc_module.compile(model).run_dict({"x": x})["y"]
    np.testing.assert_allclose(got, _lrn_reference(x, size, 2e-3, 0.6, 1.5), rtol=1e-5,
                               atol=1e-6)
    if len(shape) == 4 and size % 2 == 1:
        _check_against_onnxruntime(pmc_module, model, {"x": x})


# --- PRelu with a per-channel slope of shape [C] ------------------------------

@pytest.mark.parametrize("case", ["test_PReLU_1d_multiparam", "test_PReLU_2d_multiparam",
                                  "test_PReLU_3d_multiparam"])
def test_prelu_per_channel_slope(pmc_module, case):
    """pytorch-converted exports of old opsets: slope [C] on N x C x ... applies
    along dim 1 (ONNX's reference broadcasts a 1-D slope along the one
    dimension of its size)."""
    folder = os.path.join(ONNX_DATA, "pytorch-converted", case)
    model = onnx.load(os.path.join(folder, "model.onnx"))
    data = os.path.join(folder, "test_data_set_0")
    feeds = {}
    for i, graph_input in enumerate(model.graph.input):
        path = os.path.join(data, f"input_{i}.pb")
        if os.path.exists(path):
            feeds[graph_input.name] = numpy_helper.to_array(onnx.load_tensor(path))
    expected = numpy_helper.to_array(onnx.load_tensor(os.path.join(data, "output_0.pb")))
    initialized = {t.name for t in model.graph.initializer}
    feeds = {k: v for k, v in feeds.items() if k not in initialized}
    got = pmc_module.compile(model).run_dict(feeds)
    np.testing.assert_allclose(got[model.graph.output[0].name], expected, rtol=1e-5,
                               atol=1e-6)


# --- LpNormalization of an all-zero slice -------------------------------------

@pytest.mark.parametrize("p", [1, 2])
def test_lp_normalization_zero_norm_is_zero(pmc_module, p):
    """ONNX (onnx 1.23's test_l2normalization_axis_0): a slice whose norm is 0
    normalizes to 0, never NaN."""
    x = np.array([[0.0, 3.0, 0.0], [0.0, -4.0, 2.0]], np.float32)
    node = helper.make_node("LpNormalization", ["x"], ["y"], axis=0, p=p)
    model = _model([node], [_tensor("x", TensorProto.FLOAT, [2, 3])],
                   [_tensor("y", TensorProto.FLOAT, [2, 3])])
    got = pmc_module.compile(model).run_dict({"x": x})["y"]
    norm = np.abs(x).sum(axis=0) if p == 1 else np.sqrt((x * x).sum(axis=0))
    expected = np.where(norm == 0, 0, x / np.where(norm == 0, 1, norm))
    assert not np.isnan(got).any()
    np.testing.assert_allclose(got, expected, rtol=1e-6)


# --- The opset limit ---------------------------------------------------------

def test_opset_message_states_the_real_limit(pmc_opt, tmp_path):
    node = helper.make_node("Relu", ["x"], ["y"])
    model = _model([node], [_tensor("x", TensorProto.FLOAT, [3])],
                   [_tensor("y", TensorProto.FLOAT, [3])], opset=29)
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    proc = run_tool([pmc_opt, "compile", path, "-o", tmp_path / "m.pmc"])
    assert_clean_failure(proc, "opset 29", "up to 28")
    # ... and 28, the newest of the pinned onnx package, is accepted.
    assert onnx.defs.onnx_opset_version() == 28
    model.opset_import[0].version = 28
    onnx.save(model, path)
    assert run_tool([pmc_opt, "compile", path, "-o", tmp_path / "m.pmc"]).returncode == 0


def test_an_attribute_pmc_does_not_implement_is_an_error(pmc_opt, tmp_path):
    # The schema has no 'bogus'; a new attribute of a later opset would read
    # the same: named, never ignored.
    node = helper.make_node("Relu", ["x"], ["y"], bogus=1)
    model = _model([node], [_tensor("x", TensorProto.FLOAT, [3])],
                   [_tensor("y", TensorProto.FLOAT, [3])], opset=22)
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    proc = run_tool([pmc_opt, "compile", path, "-o", tmp_path / "m.pmc"])
    assert_clean_failure(proc, "has attribute 'bogus', which pmc does not implement for Relu")


def test_space_to_depth_crd_mode_of_opset_28(pmc_opt, pmc_run, tmp_path):
    x = np.arange(2 * 3 * 4 * 6, dtype=np.float32).reshape(2, 3, 4, 6)
    for mode in ("DCR", "CRD"):
        node = helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=2, mode=mode)
        model = _model([node], [_tensor("x", TensorProto.FLOAT, [2, 3, 4, 6])],
                       [_tensor("y", TensorProto.FLOAT, [2, 12, 2, 3])], opset=28)
        path = tmp_path / f"s2d_{mode}.onnx"
        onnx.save(model, path)
        expected = onnx.reference.ReferenceEvaluator(model).run(None, {"x": x})[0]
        bundle = tmp_path / f"s2d_{mode}.pmc"
        assert run_tool([pmc_opt, "compile", path, "-o", bundle]).returncode == 0
        np.save(tmp_path / "x.npy", x)
        out = tmp_path / "y.npz"
        proc = run_tool([pmc_run, bundle, "--input", f"x={tmp_path / 'x.npy'}",
                         "--output", out])
        assert proc.returncode == 0, proc.stderr
        np.testing.assert_array_equal(np.load(out)["y"], expected)


# --- ConvTranspose (pytorch-converted ConvTranspose2d, decoders) --------------

@pytest.mark.parametrize("attrs,x_shape,w_shape,bias", [
    ({}, (2, 4, 5, 5), (4, 3, 3, 3), True),
    ({"strides": [2, 2]}, (1, 4, 4, 5), (4, 2, 3, 3), False),
    ({"strides": [2, 3], "pads": [1, 0, 0, 1], "output_padding": [1, 2]}, (2, 2, 4, 4),
     (2, 3, 3, 3), True),
    ({"group": 2, "strides": [2, 2], "dilations": [2, 1]}, (1, 4, 3, 3), (4, 3, 3, 2), True),
    ({"strides": [2], "auto_pad": "SAME_UPPER"}, (2, 3, 6), (3, 2, 4), False),
    ({"strides": [3, 2], "output_shape": [10, 8]}, (1, 1, 3, 3), (1, 2, 3, 3), False),
    ({"strides": [2, 2, 1]}, (1, 2, 3, 2, 2), (2, 2, 2, 2, 2), True),
])
def test_conv_transpose_matches_onnxruntime(pmc_module, attrs, x_shape, w_shape, bias):
    rng = np.random.default_rng(len(str(attrs)))
    inits = [numpy_helper.from_array(rng.standard_normal(w_shape).astype(np.float32), "w")]
    names = ["x", "w"]
    if bias:
        channels = w_shape[1] * attrs.get("group", 1)
        inits.append(numpy_helper.from_array(rng.standard_normal(channels).astype(np.float32),
                                             "b"))
        names.append("b")
    node = helper.make_node("ConvTranspose", names, ["y"], **attrs)
    model = _model([node], [_tensor("x", TensorProto.FLOAT, x_shape)],
                   [_tensor("y", TensorProto.FLOAT, None)], inits)
    _check_against_onnxruntime(pmc_module, model,
                               {"x": rng.standard_normal(x_shape).astype(np.float32)},
                               rtol=1e-5, atol=1e-5)


# --- Losses: ignored targets outside [0, C) -----------------------------------

@pytest.mark.parametrize("op", ["NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"])
@pytest.mark.parametrize("reduction,weighted,dtype,target_dtype", [
    ("none", True, np.float32, np.int64),
    ("sum", True, np.float16, np.int32),
    ("mean", True, np.float64, np.int64),
    # Without weights the mean divides by the count of targets not ignored (the
    # function body, onnxruntime); onnx's reference divides by all of them when
    # ignore_index is -1.
    ("mean", False, np.float32, np.int32),
])
def test_loss_ignored_target_outside_classes(pmc_module, op, reduction, weighted, dtype,
                                             target_dtype):
    """An ignored target may be -1 (not a class): it must not be gathered, its
    loss and weight are 0."""
    rng = np.random.default_rng(7)
    onnx_type = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    target = rng.integers(0, 5, (3, 4)).astype(target_dtype)
    target[:, 1] = -1
    feeds = {"x": rng.standard_normal((3, 5, 4)).astype(dtype), "t": target}
    names, inputs = ["x", "t"], [_tensor("x", onnx_type, [3, 5, 4]),
                                 _tensor("t", helper.np_dtype_to_tensor_dtype(target.dtype),
                                         [3, 4])]
    if weighted:
        feeds["w"] = rng.random(5).astype(dtype)
        names.append("w")
        inputs.append(_tensor("w", onnx_type, [5]))
    outputs = ["y", "log_prob"] if op == "SoftmaxCrossEntropyLoss" else ["y"]
    node = helper.make_node(op, names, outputs, reduction=reduction, ignore_index=-1)
    model = _model([node], inputs, [_tensor(n, onnx_type, None) for n in outputs], opset=13)
    tol = 2e-3 if dtype == np.float16 else 1e-6
    _check_against_onnxruntime(pmc_module, model, feeds, rtol=tol, atol=tol)


def test_loss_target_of_the_wrong_shape_is_an_error(pmc_opt, tmp_path):
    node = helper.make_node("NegativeLogLikelihoodLoss", ["x", "t"], ["y"], name="nll")
    model = _model([node], [_tensor("x", TensorProto.FLOAT, [3, 5, 4]),
                            _tensor("t", TensorProto.INT64, [3, 5])],
                   [_tensor("y", TensorProto.FLOAT, [])], opset=13)
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    proc = run_tool([pmc_opt, "compile", path, "-o", tmp_path / "m.pmc"])
    assert_clean_failure(proc, "nll", "target must be [N, d...]", "tensor<3x5xi64>")


@pytest.mark.parametrize("op", ["NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"])
def test_loss_ignored_target_over_minus_infinity(pmc_module, op):
    """An ignored target reads class 0 (never out of range); where that
    log-probability is -inf (a masked logit) the ignored loss is still 0, not
    0 * inf = NaN."""
    x = np.array([[-np.inf, 0.5, 1.0], [0.2, -1.0, 0.3]], np.float32)
    node = helper.make_node(op, ["x", "t"], ["y"], reduction="sum", ignore_index=1)
    model = _model([node], [_tensor("x", TensorProto.FLOAT, [2, 3]),
                            _tensor("t", TensorProto.INT64, [2])],
                   [_tensor("y", TensorProto.FLOAT, [])], opset=13)
    _check_against_onnxruntime(pmc_module, model, {"x": x, "t": np.array([1, 2])})
