"""Quantization operators beyond the backend suites, bit for bit against
onnxruntime on random inputs: QuantizeLinear / DequantizeLinear per tensor,
per axis (negative axes too) and blocked, with and without zero points, ties
(x / scale = 2.5, -2.5) and saturation at both ends; DynamicQuantizeLinear;
MatMulInteger and ConvInteger; QLinearMatMul and QLinearConv with groups,
pads, strides and per-channel weight scales. Where onnxruntime lacks a form
(float16 division, per-row zero points of MatMulInteger) the reference is
onnx's evaluator or numpy. Also at 2 devices, and the errors for the types pmc
does not have."""

import numpy as np
import onnx
import onnx.reference
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_clean_failure, run_tool

RNG = np.random.default_rng(0)


def _model(op, feeds, attrs=None, opset=21, consts=None, outputs=("y",), order=None):
    """A one-node model: `feeds` are graph inputs, `consts` initializers;
    `order` lists the node's inputs ("" for an absent one)."""
    consts = consts or {}
    order = order or list(feeds) + list(consts)
    node = helper.make_node(op, order, list(outputs), name="the_node", **(attrs or {}))
    inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
              for n, v in feeds.items()]
    inits = [numpy_helper.from_array(v, n) for n, v in consts.items()]
    graph = helper.make_graph([node], "case", inputs, [], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              ir_version=10)
    inferred = {vi.name: vi for vi in
                onnx.shape_inference.infer_shapes(model, strict_mode=True).graph.value_info}
    model.graph.output.extend(inferred[o] for o in outputs)
    return model


def _ort(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _pmc(pmc_module, model, feeds, devices=1):
    out = pmc_module.compile(model, devices=devices).run_dict(feeds)
    return [out[o.name] for o in model.graph.output]


def _same(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        w = np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        np.testing.assert_array_equal(g, w)


def _check(pmc_module, model, feeds, devices=1):
    _same(_pmc(pmc_module, model, feeds, devices), _ort(model, feeds))


INT_TYPES = [np.int8, np.uint8, np.int16, np.uint16]


def _quant_input(shape, scale_like, huge=1e9):
    """Floats that hit ties (x / scale exactly k + 0.5), zero, +-huge (far
    beyond both ends of any 16-bit range), and ordinary random values."""
    x = RNG.standard_normal(shape).astype(np.float32) * 300 * np.max(scale_like)
    flat = x.reshape(-1)
    ties = np.array([2.5, -2.5, 0.5, -0.5, 1.5, -1.5, 127.5, -128.5, 254.5, 3.5], np.float32)
    n = min(len(ties), flat.size // 3)
    flat[:n] = ties[:n] * np.float32(np.min(scale_like))  # exact: the scale is 2^-k
    flat[n:n + 2] = [huge, -huge]
    flat[n + 2] = 0
    return x.astype(np.float32)


def _zero_point(dtype, shape):
    info = np.iinfo(dtype)
    return RNG.integers(info.min // 2, info.max // 2, shape, endpoint=True).astype(dtype)


@pytest.mark.parametrize("dtype", INT_TYPES)
@pytest.mark.parametrize("axis,per_axis", [(1, False), (1, True), (-1, True), (0, True),
                                           (-3, True)])
@pytest.mark.parametrize("with_zp", [True, False])
def test_quantize_matches_onnxruntime(pmc_module, dtype, axis, per_axis, with_zp):
    shape = (3, 4, 5)
    n = shape[axis] if per_axis else None
    # Powers of two make the ties exact; one odd scale rounds a quotient.
    scale = (np.float32(2.0) ** RNG.integers(-6, 2, n)).astype(np.float32) if per_axis \
        else np.array(0.125, np.float32)
    if per_axis:
        scale[0] = 0.37
    x = _quant_input(shape, scale)
    consts = {"s": scale}
    if with_zp:
        consts["z"] = _zero_point(dtype, scale.shape)
        attrs = {"axis": axis}
    else:
        attrs = {"axis": axis, "output_dtype": helper.np_dtype_to_tensor_dtype(np.dtype(dtype))}
    model = _model("QuantizeLinear", {"x": x}, attrs, consts=consts)
    _check(pmc_module, model, {"x": x})


@pytest.mark.parametrize("opset", [10, 13, 19])
def test_quantize_older_opsets(pmc_module, opset):
    x = _quant_input((2, 3, 4), [0.25])
    consts = {"s": np.array(0.25, np.float32), "z": np.array(-3, np.int8)}
    model = _model("QuantizeLinear", {"x": x}, opset=opset, consts=consts)
    _check(pmc_module, model, {"x": x})


def test_quantize_without_zero_point_gives_uint8(pmc_module):
    x = _quant_input((4, 6), [0.5])
    model = _model("QuantizeLinear", {"x": x}, consts={"s": np.array(0.5, np.float32)})
    got = _pmc(pmc_module, model, {"x": x})[0]
    assert got.dtype == np.uint8
    _same([got], _ort(model, {"x": x}))


def test_quantize_nan_and_infinities_saturate_like_onnxruntime(pmc_module):
    x = np.array([np.nan, np.inf, -np.inf, 1.0, -1.0, np.nan], np.float32)
    for dtype in (np.int8, np.uint8):
        model = _model("QuantizeLinear", {"x": x},
                       consts={"s": np.array(0.1, np.float32), "z": np.array(7, dtype)})
        _check(pmc_module, model, {"x": x})


@pytest.mark.parametrize("dtype", INT_TYPES)
@pytest.mark.parametrize("shape,axis,block", [((4, 6), 1, 2), ((4, 7), 1, 3), ((6, 4), 0, 4),
                                              ((2, 5, 3), -2, 2)])
def test_quantize_blocked_matches_onnxruntime(pmc_module, dtype, shape, axis, block):
    """Blocked scales repeat along the axis, the last block may be short."""
    ax = axis % len(shape)
    sshape = list(shape)
    sshape[ax] = -(-shape[ax] // block)
    scale = (np.float32(2.0) ** RNG.integers(-4, 2, sshape)).astype(np.float32)
    # Saturating values whose quotient stays within int32: the blocked kernel of
    # onnxruntime (and the reference) overflow an int32 conversion beyond it.
    x = _quant_input(shape, scale, huge=1e5)
    zp = _zero_point(dtype, sshape)
    model = _model("QuantizeLinear", {"x": x}, {"axis": axis, "block_size": block},
                   consts={"s": scale, "z": zp})
    _check(pmc_module, model, {"x": x})


def test_quantize_float16_divides_in_float16(pmc_module):
    """A float16 scale divides in float16 (the spec: the scale's type is the
    division's precision, as the reference); onnxruntime divides in float32,
    which rounds about 1% of these quotients differently."""
    x = (RNG.standard_normal(4000) * 30).astype(np.float16)
    consts = {"s": np.array(0.37, np.float16), "z": np.array(3, np.uint8)}
    model = _model("QuantizeLinear", {"x": x}, consts=consts)
    want = onnx.reference.ReferenceEvaluator(model).run(None, {"x": x})
    _same(_pmc(pmc_module, model, {"x": x}), want)
    # precision=FLOAT asks for onnxruntime's float32 division.
    model = _model("QuantizeLinear", {"x": x}, {"precision": TensorProto.FLOAT}, opset=23,
                   consts=consts)
    _same(_pmc(pmc_module, model, {"x": x}),
          _ort(_model("QuantizeLinear", {"x": x}, consts=consts), {"x": x}))


def test_quantize_int32_input(pmc_module):
    x = RNG.integers(-100000, 100000, (3, 8)).astype(np.int32)
    x[0, :4] = [5, -5, 15, -15]                       # ties at scale 2 and 10
    for scale in (2.0, 10.0, 0.3):
        model = _model("QuantizeLinear", {"x": x}, opset=19,
                       consts={"s": np.array(scale, np.float32), "z": np.array(1, np.int8)})
        want = onnx.reference.ReferenceEvaluator(model).run(None, {"x": x})
        _same(_pmc(pmc_module, model, {"x": x}), want)


@pytest.mark.parametrize("dtype", INT_TYPES + [np.int32])
@pytest.mark.parametrize("axis,per_axis", [(1, False), (1, True), (-1, True), (-3, True)])
def test_dequantize_matches_onnxruntime(pmc_module, dtype, axis, per_axis):
    shape = (3, 4, 5)
    info = np.iinfo(dtype)
    x = RNG.integers(max(info.min, -10**6), min(info.max, 10**6), shape, endpoint=True).astype(dtype)
    n = shape[axis] if per_axis else None
    scale = (RNG.random(n) * 0.1 + 0.001).astype(np.float32) if per_axis \
        else np.array(0.0371, np.float32)
    consts = {"s": scale}
    if dtype != np.int32:                              # onnxruntime: no int32 zero point
        consts["z"] = _zero_point(dtype, scale.shape)
    model = _model("DequantizeLinear", {"x": x}, {"axis": axis}, consts=consts)
    _check(pmc_module, model, {"x": x})


@pytest.mark.parametrize("dtype", [np.int8, np.uint16])
def test_dequantize_float16_scale(pmc_module, dtype):
    """The product is taken in float32 and rounded once to float16."""
    x = RNG.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, (6, 7), endpoint=True).astype(dtype)
    consts = {"s": (RNG.random(7) * 0.1).astype(np.float16), "z": _zero_point(dtype, (7,))}
    model = _model("DequantizeLinear", {"x": x}, {"axis": -1}, consts=consts)
    want = onnx.reference.ReferenceEvaluator(model).run(None, {"x": x})
    _same(_pmc(pmc_module, model, {"x": x}), want)
    _check(pmc_module, model, {"x": x})


@pytest.mark.parametrize("shape,axis,block", [((4, 6), 1, 2), ((5, 4), 0, 2), ((2, 3, 7), 2, 4)])
def test_dequantize_blocked_and_output_dtype(pmc_module, shape, axis, block):
    ax = axis % len(shape)
    sshape = list(shape)
    sshape[ax] = -(-shape[ax] // block)
    x = RNG.integers(-128, 127, shape, endpoint=True).astype(np.int8)
    consts = {"s": (RNG.random(sshape) + 0.01).astype(np.float32), "z": _zero_point(np.int8, sshape)}
    model = _model("DequantizeLinear", {"x": x}, {"axis": axis, "block_size": block},
                   consts=consts)
    want = onnx.reference.ReferenceEvaluator(model).run(None, {"x": x})
    _same(_pmc(pmc_module, model, {"x": x}), want)
    model = _model("DequantizeLinear", {"x": x}, {"axis": axis, "block_size": block,
                   "output_dtype": TensorProto.FLOAT16}, opset=23, consts=consts)
    want = onnx.reference.ReferenceEvaluator(model).run(None, {"x": x})
    _same(_pmc(pmc_module, model, {"x": x}), want)


@pytest.mark.parametrize("kind", ["mixed", "positive", "negative", "zeros", "wide"])
def test_dynamic_quantize_matches_onnxruntime(pmc_module, kind):
    x = RNG.standard_normal((3, 4, 5)).astype(np.float32)
    x = {"mixed": x, "positive": np.abs(x) + 0.5, "negative": -np.abs(x) - 0.5,
         "zeros": np.zeros_like(x), "wide": x * 1e4}[kind]
    model = _model("DynamicQuantizeLinear", {"x": x}, opset=11,
                   outputs=("y", "y_scale", "y_zero_point"))
    _check(pmc_module, model, {"x": x})


def _ints(dtype, shape):
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


# onnxruntime's uint8 x int8 products (MatMulInteger, QLinearMatMul, the
# convolutions) add pairs of products in saturating int16 on AVX2 machines
# (VPMADDUBSW), so its sums are off where a pair exceeds 32767; pmc's are exact.
# Those cases are checked against exact numpy, the others against onnxruntime too.
def _ort_exact(ta, tb):
    return not (ta == np.uint8 and tb == np.int8)


@pytest.mark.parametrize("ta,tb", [(np.uint8, np.uint8), (np.uint8, np.int8),
                                   (np.int8, np.uint8), (np.int8, np.int8)])
@pytest.mark.parametrize("sa,sb", [((5, 7), (7, 3)), ((2, 5, 7), (7, 3)), ((2, 1, 5, 7), (3, 7, 4)),
                                   ((7,), (7, 3)), ((5, 7), (7,))])
@pytest.mark.parametrize("with_zp", [True, False])
def test_matmul_integer_is_exact(pmc_module, ta, tb, sa, sb, with_zp):
    a, bm = _ints(ta, sa), _ints(tb, sb)
    consts, az, bz = {}, 0, 0
    if with_zp:
        az = _zero_point(ta, ())
        # Per column for a matrix B (onnxruntime takes no 1-D one for a batch of them).
        bz = _zero_point(tb, (sb[-1],) if len(sb) == 2 else ())
        consts = {"az": az, "bz": bz}
    model = _model("MatMulInteger", {"a": a, "b": bm}, opset=10, consts=consts)
    want = np.matmul(a.astype(np.int64) - az, bm.astype(np.int64) - bz).astype(np.int32)
    got = _pmc(pmc_module, model, {"a": a, "b": bm})
    _same(got, [want])
    if _ort_exact(ta, tb):
        _same(got, _ort(model, {"a": a, "b": bm}))


def test_matmul_integer_long_sums_and_per_row_zero_points(pmc_module):
    """A long contraction at the extremes (sums far beyond float32's 2^24)
    and per-row zero points of A (the spec; onnxruntime takes a scalar only),
    against numpy in int64."""
    a = np.full((4, 4096), 255, np.uint8)
    a[1] = 0
    bm = np.full((4096, 3), 0, np.uint8)
    bm[:, 1] = 255
    az, bz = np.array([0, 255, 3, 128], np.uint8), np.array([255, 0, 7], np.uint8)
    model = _model("MatMulInteger", {"a": a, "b": bm}, opset=10, consts={"az": az, "bz": bz})
    want = ((a.astype(np.int64) - az[:, None]) @ (bm.astype(np.int64) - bz)).astype(np.int32)
    assert np.abs(want).max() > 2**24
    _same(_pmc(pmc_module, model, {"a": a, "b": bm}), [want])


@pytest.mark.parametrize("tx,tw", [(np.uint8, np.uint8), (np.uint8, np.int8), (np.int8, np.int8)])
@pytest.mark.parametrize("attrs,xs,ws", [
    ({}, (1, 3, 6, 6), (4, 3, 3, 3)),
    ({"pads": [1, 2, 1, 0], "strides": [2, 1]}, (2, 4, 7, 6), (6, 4, 3, 2)),
    ({"group": 2, "pads": [1, 1, 1, 1], "dilations": [2, 1]}, (1, 4, 6, 6), (6, 2, 2, 3)),
    ({"auto_pad": "SAME_UPPER", "strides": [2]}, (2, 3, 9), (4, 3, 4)),
])
def test_conv_integer_matches_onnxruntime(pmc_module, tx, tw, attrs, xs, ws):
    x, w = _ints(tx, xs), _ints(tw, ws)
    consts = {"w": w, "xz": _zero_point(tx, ()), "wz": _zero_point(tw, ())}
    model = _model("ConvInteger", {"x": x}, attrs, opset=10, consts=consts,
                   order=["x", "w", "xz", "wz"])
    _check(pmc_module, model, {"x": x})


def test_conv_integer_per_channel_weight_zero_points(pmc_module):
    """Against the reference: onnxruntime's ConvInteger takes scalar zero points."""
    x, w = _ints(np.uint8, (1, 2, 5, 5)), _ints(np.uint8, (3, 2, 2, 2))
    consts = {"w": w, "xz": np.array(9, np.uint8), "wz": np.array([1, 200, 77], np.uint8)}
    model = _model("ConvInteger", {"x": x}, {"pads": [1, 1, 1, 1]}, opset=10, consts=consts,
                   order=["x", "w", "xz", "wz"])
    want = onnx.reference.ReferenceEvaluator(model).run(None, {"x": x})
    _same(_pmc(pmc_module, model, {"x": x}), want)


def _qparams(dtype, shape, low=0.002, high=0.05, scale_type=np.float32):
    return ((RNG.random(shape) * (high - low) + low).astype(scale_type),
            _zero_point(dtype, shape))


def _output_qparams(dtype, acc, input_scale, scale_type=np.float32):
    """An output scale that spreads the products over about 80 steps, and a
    zero point that puts their mean in the middle of the range: few saturate."""
    info = np.iinfo(dtype)
    real = acc * input_scale
    scale = np.float32((np.std(real) + 1e-3) / 40)
    zp = (int(info.min) + int(info.max)) // 2 - int(np.round(np.mean(real) / scale))
    return np.array(scale, scale_type), np.array(np.clip(zp, info.min, info.max), dtype)


def _requantized(acc, multiplier, zp, dtype):
    """MLAS's requantization: float32(int32 acc) * float32 multiplier, rounded
    half to even, plus the zero point, saturated."""
    info = np.iinfo(dtype)
    r = np.rint(acc.astype(np.int32).astype(np.float32) * multiplier.astype(np.float32))
    return np.clip(r + zp, info.min, info.max).astype(dtype)


@pytest.mark.parametrize("ta,tb,ty", [(np.uint8, np.uint8, np.uint8), (np.int8, np.int8, np.int8),
                                      (np.uint8, np.int8, np.uint8), (np.int8, np.uint8, np.int8)])
@pytest.mark.parametrize("sa,sb,per_column", [((5, 16), (16, 3), False), ((5, 16), (16, 3), True),
                                              ((2, 5, 16), (2, 16, 4), False),
                                              ((2, 5, 16), (16, 4), True)])
def test_qlinear_matmul_matches_onnxruntime(pmc_module, ta, tb, ty, sa, sb, per_column):
    a, bm = _ints(ta, sa), _ints(tb, sb)
    a_s, a_z = _qparams(ta, ())
    b_s, b_z = _qparams(tb, (sb[-1],) if per_column else ())
    acc = np.matmul(a.astype(np.int64) - a_z, bm.astype(np.int64) - b_z)
    y_s, y_z = _output_qparams(ty, acc, a_s * b_s)
    consts = {"as": a_s, "az": a_z, "b": bm, "bs": b_s, "bz": b_z, "ys": y_s, "yz": y_z}
    model = _model("QLinearMatMul", {"a": a}, opset=10, consts=consts,
                   order=["a", "as", "az", "b", "bs", "bz", "ys", "yz"])
    got = _pmc(pmc_module, model, {"a": a})[0]
    _same([got], [_requantized(acc, a_s * b_s / y_s, y_z, ty)])
    assert len(np.unique(got)) > 10                    # not all saturated
    if _ort_exact(ta, tb) and ta == tb:                # onnxruntime has no int8 x uint8
        _same([got], _ort(model, {"a": a}))


@pytest.mark.parametrize("ta", [np.uint8, np.int8])
def test_qlinear_matmul_float16_scales(pmc_module, ta):
    """Opset 21's float16 scales: the multiplier in float32 of the widened
    scales, as onnxruntime (the reference's float16 multiplier differs by 1
    in about one case in four)."""
    a, bm = _ints(ta, (6, 32)), _ints(ta, (32, 5))
    a_s, a_z = _qparams(ta, (), scale_type=np.float16)
    b_s, b_z = _qparams(ta, (), scale_type=np.float16)
    acc = np.matmul(a.astype(np.int64) - a_z, bm.astype(np.int64) - b_z)
    y_s, y_z = _output_qparams(ta, acc, np.float32(a_s) * np.float32(b_s), np.float16)
    consts = {"as": a_s, "az": a_z, "b": bm, "bs": b_s, "bz": b_z, "ys": y_s, "yz": y_z}
    model = _model("QLinearMatMul", {"a": a}, opset=21, consts=consts,
                   order=["a", "as", "az", "b", "bs", "bz", "ys", "yz"])
    _check(pmc_module, model, {"a": a})


@pytest.mark.parametrize("tx,tw", [(np.uint8, np.uint8), (np.int8, np.int8), (np.uint8, np.int8)])
@pytest.mark.parametrize("attrs,xs,ws,per_channel,bias", [
    ({}, (1, 3, 6, 6), (4, 3, 3, 3), False, False),
    ({"pads": [1, 1, 1, 1], "strides": [2, 2]}, (2, 4, 7, 6), (6, 4, 3, 3), True, True),
    ({"group": 2, "pads": [0, 1, 2, 1]}, (1, 4, 6, 6), (6, 2, 2, 3), True, True),
    ({"group": 4, "dilations": [2, 2]}, (1, 4, 7, 7), (4, 1, 3, 3), True, False),
    ({"auto_pad": "SAME_LOWER", "strides": [2]}, (2, 3, 9), (4, 3, 4), True, True),
])
def test_qlinear_conv_matches_onnxruntime(pmc_module, tx, tw, attrs, xs, ws, per_channel, bias):
    x, w = _ints(tx, xs), _ints(tw, ws)
    m = ws[0]
    x_s, x_z = _qparams(tx, ())
    w_s, w_z = _qparams(tw, (m,) if per_channel else ())
    if tw == np.int8:
        w_z = np.zeros_like(w_z)                       # onnxruntime: symmetric int8 weights
    consts = {"xs": x_s, "xz": x_z, "w": w, "ws": w_s, "wz": w_z}
    order = ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"]
    # The exact accumulator: the reference's float64 Conv of the centered
    # operands (integers, exact), plus the bias.
    channel = (1, m) + (1,) * (len(xs) - 2)
    wz = w_z.reshape((m,) + (1,) * (len(xs) - 1)) if per_channel else w_z
    conv = _model("Conv", {"x": x.astype(np.float64)}, attrs, opset=11,
                  consts={"w": w.astype(np.float64) - wz}, order=["x", "w"])
    acc = onnx.reference.ReferenceEvaluator(conv).run(
        None, {"x": x.astype(np.float64) - x_z})[0].astype(np.int64)
    if bias:
        consts["B"] = RNG.integers(-5000, 5000, (m,)).astype(np.int32)
        order.append("B")
        acc += consts["B"].reshape(channel)
    consts["ys"], consts["yz"] = _output_qparams(
        tx, acc, (x_s * w_s).reshape(channel) if per_channel else x_s * w_s)
    y_s, y_z = consts["ys"], consts["yz"]
    model = _model("QLinearConv", {"x": x}, attrs, opset=10, consts=consts, order=order)
    got = _pmc(pmc_module, model, {"x": x})[0]
    multiplier = (x_s * w_s / y_s).reshape(channel) if per_channel else x_s * w_s / y_s
    _same([got], [_requantized(acc, multiplier, y_z, tx)])
    assert len(np.unique(got)) > 10
    if _ort_exact(tx, tw):
        _same([got], _ort(model, {"x": x}))


def test_two_devices(pmc_module):
    """A QLinearMatMul with per-column scales and a DynamicQuantizeLinear
    planned on 2 devices are exact / equal onnxruntime."""
    a, bm = _ints(np.uint8, (8, 16)), _ints(np.uint8, (16, 8))
    a_s, a_z = _qparams(np.uint8, ())
    b_s, b_z = _qparams(np.uint8, (8,))
    consts = {"as": a_s, "az": a_z, "b": bm, "bs": b_s, "bz": b_z,
              "ys": np.array(0.1, np.float32), "yz": np.array(120, np.uint8)}
    model = _model("QLinearMatMul", {"a": a}, opset=10, consts=consts,
                   order=["a", "as", "az", "b", "bs", "bz", "ys", "yz"])
    _check(pmc_module, model, {"a": a}, devices=2)
    x = RNG.standard_normal((8, 16)).astype(np.float32)
    model = _model("DynamicQuantizeLinear", {"x": x}, opset=11,
                   outputs=("y", "y_scale", "y_zero_point"))
    _check(pmc_module, model, {"x": x}, devices=2)
    x, w = _ints(np.uint8, (2, 4, 6, 6)), _ints(np.uint8, (8, 2, 3, 3))
    consts = {"xs": np.array(0.02, np.float32), "xz": np.array(100, np.uint8), "w": w,
              "ws": _qparams(np.uint8, (8,))[0], "wz": _zero_point(np.uint8, (8,)),
              "ys": np.array(0.2, np.float32), "yz": np.array(128, np.uint8),
              "B": RNG.integers(-5000, 5000, (8,)).astype(np.int32)}
    model = _model("QLinearConv", {"x": x}, {"group": 2, "pads": [1, 1, 1, 1]}, opset=10,
                   consts=consts, order=["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "B"])
    _check(pmc_module, model, {"x": x}, devices=2)


def test_integer_products_are_float64_contractions(pmc_opt, tmp_path):
    """QLinearMatMul imports as a float64 matmul of the centered operands, to
    int32 through int64, then float32 requantization."""
    a = np.zeros((4, 8), np.uint8)
    consts = {"as": np.array(0.1, np.float32), "az": np.array(1, np.uint8),
              "b": np.ones((8, 2), np.uint8), "bs": np.array(0.1, np.float32),
              "bz": np.array(1, np.uint8), "ys": np.array(0.1, np.float32),
              "yz": np.array(1, np.uint8)}
    model = _model("QLinearMatMul", {"a": a}, opset=10, consts=consts,
                   order=["a", "as", "az", "b", "bs", "bz", "ys", "yz"])
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    proc = run_tool([pmc_opt, "import", path])
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "(tensor<4x8xf64>, tensor<8x2xf64>) -> tensor<4x2xf64>" in text
    assert "tensor<4x2xf64> to tensor<4x2xi64>" in text
    assert "tensor<4x2xi64> to tensor<4x2xi32>" in text
    assert "pmc.round" in text and "tensor<4x2xf32> to tensor<4x2xui8>" in text


def _compile_error(pmc_opt, model, tmp_path, *needles):
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    proc = run_tool([pmc_opt, "compile", path, "-o", tmp_path / "m.pmc"])
    assert_clean_failure(proc, *needles)


def test_float8_and_int4_are_unsupported(pmc_opt, tmp_path):
    x = np.zeros((2, 3), np.float32)
    for dtype, name in ((TensorProto.FLOAT8E4M3FN, "FLOAT8E4M3FN"), (TensorProto.INT4, "INT4"),
                        (TensorProto.FLOAT4E2M1, "FLOAT4E2M1")):
        model = _model("QuantizeLinear", {"x": x}, {"output_dtype": dtype}, opset=23,
                       consts={"s": np.array(0.5, np.float32)})
        _compile_error(pmc_opt, model, tmp_path, "the_node", "unsupported element type " + name)
    # A float8 zero point: the initializer cannot be read.
    model = _model("QuantizeLinear", {"x": x}, opset=21, consts={"s": np.array(0.5, np.float32)})
    model.graph.initializer.append(helper.make_tensor("z", TensorProto.FLOAT8E5M2, [], [0.0]))
    model.graph.node[0].input.append("z")
    _compile_error(pmc_opt, model, tmp_path, "unsupported element type FLOAT8E5M2")


def test_invalid_forms_are_errors(pmc_opt, tmp_path):
    x = np.zeros((4, 6), np.float32)
    # block_size is an opset-21 attribute.
    model = _model("QuantizeLinear", {"x": x}, {"block_size": 2}, opset=21,
                   consts={"s": np.ones((4, 3), np.float32)})
    model.opset_import[0].version = 19
    _compile_error(pmc_opt, model, tmp_path, "the_node", "block_size")
    # Blocks that do not cover the axis.
    model = _model("QuantizeLinear", {"x": x}, {"block_size": 2}, opset=21,
                   consts={"s": np.ones((4, 2), np.float32)})
    _compile_error(pmc_opt, model, tmp_path, "the_node", "y_scale", "block_size 2")
    # A per-axis scale of the wrong length.
    model = _model("QuantizeLinear", {"x": x}, {"axis": 0}, opset=21,
                   consts={"s": np.ones(6, np.float32)})
    _compile_error(pmc_opt, model, tmp_path, "the_node", "y_scale has 6 elements")
    # Quantizing to int32 is not in the schema.
    model = _model("QuantizeLinear", {"x": x}, opset=21,
                   consts={"s": np.array(1, np.float32)})
    model.graph.node[0].attribute.append(helper.make_attribute("output_dtype", TensorProto.INT32))
    _compile_error(pmc_opt, model, tmp_path, "the_node", "int32", "unsupported")
