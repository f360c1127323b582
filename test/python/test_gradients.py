"""Reverse-mode autodiff (--pmc-autodiff, the gradient rules of
lib/Dialect/PMC/IR/Gradients.cpp) checked by finite differences in float64.

Each case is an ONNX model of float64 inputs whose loss is sum(f(inputs) * R)
with a fixed random R (so the seed gradient is not all ones). The model is
imported, differentiated and compiled by pmc; for every input x the gradient
pmc computes is checked against the central difference of the loss along a
random direction v:

    (L(x + eps v) - L(x - eps v)) / (2 eps)  ==  <dL/dx, v>

the losses coming from the same compiled program. The differentiated program
is an ordinary pmc program: it is also planned and partitioned over 2 and 4
devices, and must give the gradients of one device.
"""

import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

D = TensorProto.DOUBLE
EPS = 1e-6


def _model(nodes, inputs, output, shape_of_output, rng, inits=()):
    """`nodes` computing `output`, then loss = ReduceSum(output * R)."""
    r = rng.standard_normal(shape_of_output)
    nodes = list(nodes) + [
        helper.make_node("Mul", [output, "pmc_r"], ["pmc_weighted"]),
        helper.make_node("ReduceSum", ["pmc_weighted"], ["loss"], keepdims=0)]
    graph = helper.make_graph(
        nodes, "case",
        [helper.make_tensor_value_info(n, D, v.shape) for n, v in inputs.items()],
        [helper.make_tensor_value_info("loss", D, [])],
        initializer=[numpy_helper.from_array(r, "pmc_r")] +
                    [numpy_helper.from_array(v, n) for n, v in inits])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _differentiate(pmc_opt, model, tmp_path):
    onnx_path, mlir_path = tmp_path / "model.onnx", tmp_path / "grad.mlir"
    onnx.save(model, onnx_path)
    imported = subprocess.run([pmc_opt, "import", str(onnx_path), "--print-large-constants"],
                              capture_output=True, text=True, timeout=120)
    assert imported.returncode == 0, imported.stderr
    grad = subprocess.run([pmc_opt, "-", "--pmc-autodiff", "-o", str(mlir_path)],
                          input=imported.stdout, capture_output=True, text=True, timeout=120)
    assert grad.returncode == 0, grad.stderr
    return str(mlir_path)


def _check_gradients(pmc_module, pmc_opt, model, feeds, tmp_path, devices=(1,), rtol=1e-6):
    """`devices`: (count, plan) pairs or counts (the planner's plan)."""
    rng = np.random.default_rng(7)
    path = _differentiate(pmc_opt, model, tmp_path)
    reference = None
    for entry in devices:
        n, plan = entry if isinstance(entry, tuple) else (entry, "auto")
        exe = pmc_module.compile(path, devices=n, plan=plan)
        out = exe.run_dict(feeds)
        assert set(out) == {"loss"} | {f"{k}.grad" for k in feeds}
        if reference is None:
            reference = out
            for name, x in feeds.items():
                g = out[f"{name}.grad"]
                assert g.shape == x.shape and g.dtype == x.dtype, name
                v = rng.standard_normal(x.shape)
                plus = exe.run_dict({**feeds, name: x + EPS * v})["loss"]
                minus = exe.run_dict({**feeds, name: x - EPS * v})["loss"]
                numeric = float(plus - minus) / (2 * EPS)
                analytic = float(np.sum(g * v))
                assert abs(numeric - analytic) <= rtol * max(1.0, abs(numeric)), \
                    f"d loss / d {name}: finite difference {numeric}, pmc {analytic}"
        else:
            for key, value in reference.items():
                np.testing.assert_allclose(out[key], value, rtol=1e-10, atol=1e-12,
                                           err_msg=f"{key} at {n} devices, plan {plan}")


def _x(rng, *shape, positive=False):
    x = rng.standard_normal(shape)
    return np.abs(x) + 0.5 if positive else x


UNARY = ["Exp", "Tanh", "Sigmoid", "Neg", "Relu", "Sin", "Cos", "Abs", "Erf", "Softplus",
         "Sinh", "Cosh", "Asinh", "Atan"]
POSITIVE = ["Log", "Sqrt", "Reciprocal"]
# Inside (-1, 1): Asin, Acos, Atanh, Tan; above 1: Acosh.
UNIT = ["Asin", "Acos", "Atanh", "Tan"]


@pytest.mark.parametrize("op", UNARY + POSITIVE + UNIT + ["Acosh"])
def test_unary(pmc_module, pmc_opt, tmp_path, op):
    rng = np.random.default_rng(1)
    x = _x(rng, 3, 4, positive=op in POSITIVE)
    if op in UNIT:
        x = rng.uniform(-0.8, 0.8, (3, 4))
    if op == "Acosh":
        x = rng.uniform(1.2, 3.0, (3, 4))
    if op in ("Relu", "Abs"):
        x[np.abs(x) < 1e-3] = 0.1  # away from the kink, where differences are exact
    model = _model([helper.make_node(op, ["x"], ["y"])], {"x": x}, "y", x.shape, rng)
    _check_gradients(pmc_module, pmc_opt, model, {"x": x}, tmp_path)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div", "Max", "Min", "Pow"])
@pytest.mark.parametrize("rhs_shape", [(3, 4), (4,), (3, 1), (1, 1)])
def test_broadcasting_binary(pmc_module, pmc_opt, tmp_path, op, rhs_shape):
    rng = np.random.default_rng(2)
    x = _x(rng, 3, 4, positive=op == "Pow")
    y = _x(rng, *rhs_shape, positive=op == "Div")
    model = _model([helper.make_node(op, ["x", "y"], ["z"])], {"x": x, "y": y}, "z", (3, 4), rng)
    _check_gradients(pmc_module, pmc_opt, model, {"x": x, "y": y}, tmp_path)


@pytest.mark.parametrize("a_shape,b_shape", [((3, 5), (5, 4)), ((2, 3, 5), (5, 4)),
                                             ((2, 3, 5), (2, 5, 4)), ((3, 5), (2, 5, 4))])
def test_matmul(pmc_module, pmc_opt, tmp_path, a_shape, b_shape):
    rng = np.random.default_rng(3)
    a, b = _x(rng, *a_shape), _x(rng, *b_shape)
    out = np.matmul(a, b).shape
    model = _model([helper.make_node("MatMul", ["a", "b"], ["c"])], {"a": a, "b": b}, "c",
                   out, rng)
    _check_gradients(pmc_module, pmc_opt, model, {"a": a, "b": b}, tmp_path)


@pytest.mark.parametrize("trans_a,trans_b", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_gemm_transposes(pmc_module, pmc_opt, tmp_path, trans_a, trans_b):
    rng = np.random.default_rng(4)
    a = _x(rng, *((5, 3) if trans_a else (3, 5)))
    b = _x(rng, *((4, 5) if trans_b else (5, 4)))
    c = _x(rng, 4)
    model = _model([helper.make_node("Gemm", ["a", "b", "c"], ["y"], transA=trans_a,
                                     transB=trans_b, alpha=0.5, beta=2.0)],
                   {"a": a, "b": b, "c": c}, "y", (3, 4), rng)
    _check_gradients(pmc_module, pmc_opt, model, {"a": a, "b": b, "c": c}, tmp_path)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax(pmc_module, pmc_opt, tmp_path, op, axis):
    rng = np.random.default_rng(5)
    x = _x(rng, 3, 5)
    model = _model([helper.make_node(op, ["x"], ["y"], axis=axis)], {"x": x}, "y", x.shape, rng)
    _check_gradients(pmc_module, pmc_opt, model, {"x": x}, tmp_path)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean"])
@pytest.mark.parametrize("axes,keepdims", [([1], 1), ([0, 2], 0), ([2], 0)])
def test_reductions(pmc_module, pmc_opt, tmp_path, op, axes, keepdims):
    rng = np.random.default_rng(6)
    x = _x(rng, 2, 3, 4)
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape) if keepdims or i not in axes)
    model = _model([helper.make_node(op, ["x", "axes"], ["y"], keepdims=keepdims)], {"x": x},
                   "y", shape, rng, inits=[("axes", np.array(axes, np.int64))])
    model.opset_import[0].version = 18
    _check_gradients(pmc_module, pmc_opt, model, {"x": x}, tmp_path)


def test_data_movement(pmc_module, pmc_opt, tmp_path):
    """Reshape, Transpose, Expand, Concat, Slice and Where in one graph, the
    input used several times (its gradients are summed)."""
    rng = np.random.default_rng(8)
    x = _x(rng, 2, 3, 4)
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[2, 0, 1]),
        helper.make_node("Reshape", ["t", "shape"], ["r"]),
        helper.make_node("Slice", ["r", "starts", "ends", "axes"], ["s"]),
        helper.make_node("Expand", ["s", "expand"], ["e"]),
        helper.make_node("Concat", ["e", "r"], ["c"], axis=0),
        helper.make_node("Mul", ["c", "c"], ["c2"]),
        helper.make_node("Where", ["mask", "c", "c2"], ["w"]),
    ]
    mask = rng.uniform(size=(5, 6)) < 0.5
    model = _model(nodes, {"x": x}, "w", (5, 6), rng, inits=[
        ("shape", np.array([4, 6], np.int64)), ("starts", np.array([1, 2], np.int64)),
        ("ends", np.array([2, 3], np.int64)), ("axes", np.array([0, 1], np.int64)),
        ("expand", np.array([1, 6], np.int64)), ("mask", mask)])
    _check_gradients(pmc_module, pmc_opt, model, {"x": x}, tmp_path)


def test_mlp_gradients_partitioned(pmc_module, pmc_opt, tmp_path):
    """A two-layer MLP: its gradient program planned over 2 and 4 devices (the
    planner's plans and random legal ones, which split weights and
    contractions) gives the gradients of one device."""
    rng = np.random.default_rng(9)
    feeds = {"x": _x(rng, 8, 16), "w1": _x(rng, 16, 32) / 4, "b1": _x(rng, 32),
             "w2": _x(rng, 32, 8) / 6, "b2": _x(rng, 8)}
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]),
             helper.make_node("Add", ["h", "b1"], ["hb"]),
             helper.make_node("Tanh", ["hb"], ["a"]),
             helper.make_node("MatMul", ["a", "w2"], ["o"]),
             helper.make_node("Add", ["o", "b2"], ["ob"]),
             helper.make_node("LogSoftmax", ["ob"], ["y"], axis=-1)]
    model = _model(nodes, feeds, "y", (8, 8), rng)
    plans = [(n, f"random:{seed}") for n in (2, 4) for seed in range(1, 5)]
    _check_gradients(pmc_module, pmc_opt, model, feeds, tmp_path, devices=[1, 2, 4] + plans)


def test_op_without_rule_is_an_error(pmc_opt, tmp_path):
    """Every float op an ONNX model imports to has a rule; a pmc program can
    still reach one without (a random draw's counter), which is an error
    naming it."""
    program = tmp_path / "m.mlir"
    program.write_text("""
func.func @main(%t: tensor<f32>) -> tensor<3x4xf32> {
  %u = pmc.random_uniform %t {key = 3 : i64} : (tensor<f32>) -> tensor<3x4xf32>
  return %u : tensor<3x4xf32>
}
""")
    grad = subprocess.run([pmc_opt, str(program), "--pmc-autodiff"], capture_output=True,
                          text=True, timeout=120)
    assert grad.returncode != 0
    assert "pmc.random_uniform has no gradient rule" in grad.stderr


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin", "ReduceProd"])
@pytest.mark.parametrize("axes,keepdims", [([1], 1), ([0, 2], 0)])
def test_reduce_extremes(pmc_module, pmc_opt, tmp_path, op, axes, keepdims):
    rng = np.random.default_rng(11)
    x = _x(rng, 2, 3, 4)
    if op == "ReduceProd":
        x[0, 1, 2] = 0.0  # a zero factor: the rule does not divide by x
    shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape) if keepdims or i not in axes)
    model = _model([helper.make_node(op, ["x", "axes"], ["y"], keepdims=keepdims)], {"x": x},
                   "y", shape, rng, inits=[("axes", np.array(axes, np.int64))])
    model.opset_import[0].version = 18
    _check_gradients(pmc_module, pmc_opt, model, {"x": x}, tmp_path)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(pmc_module, pmc_opt, tmp_path, approximate):
    rng = np.random.default_rng(12)
    x = _x(rng, 3, 4)
    model = _model([helper.make_node("Gelu", ["x"], ["y"], approximate=approximate)], {"x": x},
                   "y", x.shape, rng)
    model.opset_import[0].version = 20
    _check_gradients(pmc_module, pmc_opt, model, {"x": x}, tmp_path)


@pytest.mark.parametrize("axis,bias", [(-1, True), (1, True), (2, False)])
def test_layer_norm(pmc_module, pmc_opt, tmp_path, axis, bias):
    rng = np.random.default_rng(13)
    x = _x(rng, 2, 3, 4)
    norm_shape = x.shape[axis:]
    feeds = {"x": x, "scale": _x(rng, *norm_shape)}
    if bias:
        feeds["bias"] = _x(rng, *norm_shape)
    model = _model([helper.make_node("LayerNormalization", list(feeds), ["y"], axis=axis,
                                     epsilon=1e-5)], feeds, "y", x.shape, rng)
    _check_gradients(pmc_module, pmc_opt, model, feeds, tmp_path)


@pytest.mark.parametrize("axis", [0, 1])
def test_gather(pmc_module, pmc_opt, tmp_path, axis):
    """An embedding-style gather: repeated and negative indices add up."""
    rng = np.random.default_rng(14)
    table = _x(rng, 5, 3)
    ids = np.array([[0, 2, -1], [2, 2, 1]], np.int64)
    out = np.take(table, ids, axis=axis).shape
    model = _model([helper.make_node("Gather", ["table", "ids"], ["y"], axis=axis)],
                   {"table": table}, "y", out, rng, inits=[("ids", ids)])
    _check_gradients(pmc_module, pmc_opt, model, {"table": table}, tmp_path)


def test_gather_elements(pmc_module, pmc_opt, tmp_path):
    rng = np.random.default_rng(15)
    x = _x(rng, 3, 5)
    idx = np.array([[0, 4, 4], [1, -1, 2], [3, 3, 3]], np.int64)
    model = _model([helper.make_node("GatherElements", ["x", "idx"], ["y"], axis=1)],
                   {"x": x}, "y", idx.shape, rng, inits=[("idx", idx[:, :3])])
    # indices narrower than the data on the axis (3 of 5 columns): rows match.
    _check_gradients(pmc_module, pmc_opt, model, {"x": x}, tmp_path)


@pytest.mark.parametrize("pads", [[0, 1, 2, 0], [1, -1, 0, 2]])
def test_pad(pmc_module, pmc_opt, tmp_path, pads):
    rng = np.random.default_rng(16)
    x = _x(rng, 3, 4)
    shape = (3 + pads[0] + pads[2], 4 + pads[1] + pads[3])
    model = _model([helper.make_node("Pad", ["x", "pads", "value"], ["y"])],
                   {"x": x, "value": np.array(0.5)}, "y", shape, rng,
                   inits=[("pads", np.array(pads, np.int64))])
    _check_gradients(pmc_module, pmc_opt, model, {"x": x, "value": np.array(0.5)}, tmp_path)


@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cumsum(pmc_module, pmc_opt, tmp_path, exclusive, reverse):
    rng = np.random.default_rng(17)
    x = _x(rng, 3, 4)
    model = _model([helper.make_node("CumSum", ["x", "axis"], ["y"], exclusive=exclusive,
                                     reverse=reverse)], {"x": x}, "y", x.shape, rng,
                   inits=[("axis", np.array(1, np.int64))])
    _check_gradients(pmc_module, pmc_opt, model, {"x": x}, tmp_path)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_softmax_cross_entropy_loss(pmc_module, pmc_opt, tmp_path, reduction):
    """ONNX's SoftmaxCrossEntropyLoss with an ignored label: the loss a
    training graph ends in."""
    rng = np.random.default_rng(18)
    scores = _x(rng, 4, 5)
    labels = np.array([1, 4, -100, 0], np.int64)
    model = _model([helper.make_node("SoftmaxCrossEntropyLoss", ["scores", "labels"], ["l"],
                                     reduction=reduction, ignore_index=-100)],
                   {"scores": scores}, "l", (), rng, inits=[("labels", labels)])
    _check_gradients(pmc_module, pmc_opt, model, {"scores": scores}, tmp_path)


# --- Whole models ----------------------------------------------------------------

def _trainable_f64(model, rng):
    """The zoo model in float64 with its float initializers as graph inputs
    (the parameters) and loss = sum(output * R). Returns (model, feeds)."""
    import make_zoo  # noqa: PLC0415 - conftest puts test/zoo on the path

    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    feeds = {vi.name: v for vi, v in zip(g.input, make_zoo.make_inputs(model).values())}
    params = [t for t in g.initializer if t.data_type == TensorProto.FLOAT]
    for t in params:
        feeds[t.name] = numpy_helper.to_array(t).astype(np.float64)
    kept = [t for t in g.initializer if t.data_type != TensorProto.FLOAT]
    del g.initializer[:]
    g.initializer.extend(kept)
    for name, v in list(feeds.items()):
        if v.dtype == np.float32:
            feeds[name] = v.astype(np.float64)
    existing = {vi.name for vi in g.input}
    g.input.extend(helper.make_tensor_value_info(t.name, D, t.dims) for t in params
                   if t.name not in existing)
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.type.tensor_type.elem_type == TensorProto.FLOAT:
            vi.type.tensor_type.elem_type = D
    for node in g.node:
        for a in node.attribute:
            if a.name == "to" and a.i == TensorProto.FLOAT:
                a.i = D
            if a.HasField("t") and a.t.data_type == TensorProto.FLOAT:
                a.t.CopyFrom(numpy_helper.from_array(
                    numpy_helper.to_array(a.t).astype(np.float64), a.t.name))
    out = g.output[0]
    shape = [d.dim_value for d in out.type.tensor_type.shape.dim]
    r = rng.standard_normal(shape)
    g.initializer.append(numpy_helper.from_array(r, "pmc_r"))
    g.node.extend([helper.make_node("Mul", [out.name, "pmc_r"], ["pmc_weighted"]),
                   helper.make_node("ReduceSum", ["pmc_weighted"], ["loss"], keepdims=0)])
    del g.output[:]
    g.output.append(helper.make_tensor_value_info("loss", D, []))
    return m, feeds


@pytest.mark.parametrize("name", ["mlp", "resnet_cnn", "transformer_encoder", "gpt_decoder"])
def test_zoo_model_directional_derivative(pmc_module, pmc_opt, tmp_path, name):
    """d/de L(theta + e v) == <grad L, v> over every parameter of a zoo model
    in float64, and the gradients at 2 and 4 devices (the planner's plans)
    equal one device's."""
    import make_zoo  # noqa: PLC0415

    rng = np.random.default_rng(19)
    model, feeds = _trainable_f64(getattr(make_zoo, f"make_{name}")(), rng)
    path = _differentiate(pmc_opt, model, tmp_path)
    exe = pmc_module.compile(path)
    out = exe.run_dict(feeds)
    trainable = [n for n, v in feeds.items() if v.dtype == np.float64]
    assert set(out) == {"loss"} | {f"{n}.grad" for n in trainable}
    direction = {n: rng.standard_normal(feeds[n].shape) for n in trainable}
    analytic = sum(float(np.sum(out[f"{n}.grad"] * v)) for n, v in direction.items())
    step = lambda sign: exe.run_dict(  # noqa: E731
        {**feeds, **{n: feeds[n] + sign * EPS * v for n, v in direction.items()}})["loss"]
    numeric = float(step(1) - step(-1)) / (2 * EPS)
    assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(numeric)), (numeric, analytic)
    for devices in (2, 4):
        got = pmc_module.compile(path, devices=devices).run_dict(feeds)
        for key, value in out.items():
            np.testing.assert_allclose(got[key], value, rtol=1e-9, atol=1e-11,
                                       err_msg=f"{key} at {devices} devices")


@pytest.mark.parametrize("x_shape,w_shape,attrs", [
    ((2, 3, 7, 6), (4, 3, 3, 3), dict(pads=[1, 1, 1, 1])),
    ((2, 3, 8, 7), (4, 3, 3, 2), dict(strides=[2, 2], pads=[1, 0, 0, 1])),
    ((1, 2, 9, 9), (2, 2, 3, 3), dict(dilations=[2, 1], strides=[1, 3])),
    ((2, 4, 6, 6), (6, 2, 3, 3), dict(group=2, pads=[1, 1, 1, 1], strides=[2, 1])),
    ((1, 3, 5, 5), (3, 1, 3, 3), dict(group=3)),
    ((2, 3, 10), (2, 3, 4), dict(strides=[3], pads=[2, 1])),
])
def test_conv(pmc_module, pmc_opt, tmp_path, x_shape, w_shape, attrs):
    rng = np.random.default_rng(20)
    feeds = {"x": _x(rng, *x_shape), "w": _x(rng, *w_shape) / 3, "b": _x(rng, w_shape[0])}
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], **attrs)
    probe = helper.make_model(helper.make_graph(
        [node], "probe", [helper.make_tensor_value_info(k, D, v.shape) for k, v in feeds.items()],
        [helper.make_tensor_value_info("y", D, None)]),
        opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    inferred = onnx.shape_inference.infer_shapes(probe).graph.output[0]
    shape = [d.dim_value for d in inferred.type.tensor_type.shape.dim]
    model = _model([node], feeds, "y", shape, rng)
    _check_gradients(pmc_module, pmc_opt, model, feeds, tmp_path)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
@pytest.mark.parametrize("attrs", [
    dict(kernel_shape=[2, 2], strides=[2, 2]),
    dict(kernel_shape=[3, 3], strides=[2, 1], pads=[1, 1, 1, 0]),
    dict(kernel_shape=[3, 2], strides=[2, 2], ceil_mode=1),
    dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1),
    dict(kernel_shape=[2, 2], dilations=[2, 1], strides=[1, 2]),
])
def test_pooling(pmc_module, pmc_opt, tmp_path, op, attrs):
    if op == "MaxPool" and "count_include_pad" in attrs:
        attrs = {k: v for k, v in attrs.items() if k != "count_include_pad"}
    rng = np.random.default_rng(21)
    x = _x(rng, 2, 3, 7, 6)
    node = helper.make_node(op, ["x"], ["y"], **attrs)
    probe = helper.make_model(helper.make_graph(
        [node], "probe", [helper.make_tensor_value_info("x", D, x.shape)],
        [helper.make_tensor_value_info("y", D, None)]),
        opset_imports=[helper.make_opsetid("", 19)], ir_version=9)
    inferred = onnx.shape_inference.infer_shapes(probe).graph.output[0]
    shape = [d.dim_value for d in inferred.type.tensor_type.shape.dim]
    model = _model([node], {"x": x}, "y", shape, rng)
    model.opset_import[0].version = 19
    _check_gradients(pmc_module, pmc_opt, model, {"x": x}, tmp_path)


def test_global_pools(pmc_module, pmc_opt, tmp_path):
    rng = np.random.default_rng(22)
    x = _x(rng, 2, 3, 4, 5)
    model = _model([helper.make_node("GlobalAveragePool", ["x"], ["a"]),
                    helper.make_node("GlobalMaxPool", ["x"], ["m"]),
                    helper.make_node("Add", ["a", "m"], ["y"])], {"x": x}, "y", (2, 3, 1, 1), rng)
    _check_gradients(pmc_module, pmc_opt, model, {"x": x}, tmp_path)


def _inferred_shape(node, feeds, opset=17, inits=()):
    probe = helper.make_model(helper.make_graph(
        [node], "probe", [helper.make_tensor_value_info(k, D, v.shape) for k, v in feeds.items()],
        [helper.make_tensor_value_info(node.output[0], D, None)],
        initializer=[numpy_helper.from_array(v, n) for n, v in inits]),
        opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    inferred = onnx.shape_inference.infer_shapes(probe, data_prop=True).graph.output[0]
    return [d.dim_value for d in inferred.type.tensor_type.shape.dim]


@pytest.mark.parametrize("starts,ends,axes,steps", [
    ([0], [7], [0], [2]),
    ([1, 5], [7, 0], [0, 1], [3, -2]),
    ([-1], [-100], [1], [-1]),
    ([6, 0], [0, 6], [0, 1], [-3, 4]),
])
def test_strided_slice(pmc_module, pmc_opt, tmp_path, starts, ends, axes, steps):
    """Slices of any step (negative: backwards): g goes back to the
    positions read, zeros elsewhere; on 2 and 4 devices too."""
    rng = np.random.default_rng(30)
    x = _x(rng, 7, 6)
    inits = [("starts", np.array(starts, np.int64)), ("ends", np.array(ends, np.int64)),
             ("axes", np.array(axes, np.int64)), ("steps", np.array(steps, np.int64))]
    node = helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"])
    shape = _inferred_shape(node, {"x": x}, inits=inits)
    model = _model([node], {"x": x}, "y", shape, rng, inits=inits)
    _check_gradients(pmc_module, pmc_opt, model, {"x": x}, tmp_path, devices=(1, 2, 4))


@pytest.mark.parametrize("attrs", [dict(strides=[2, 2]), dict(strides=[2, 1], pads=[1, 0, 1, 1]),
                                   dict(strides=[3, 2], output_padding=[1, 0], group=2)])
def test_conv_transpose(pmc_module, pmc_opt, tmp_path, attrs):
    rng = np.random.default_rng(31)
    group = attrs.get("group", 1)
    feeds = {"x": _x(rng, 2, 4, 3, 4), "w": _x(rng, 4, 6 // group, 3, 2) / 3, "b": _x(rng, 6)}
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], **attrs)
    shape = _inferred_shape(node, feeds)
    model = _model([node], feeds, "y", shape, rng)
    _check_gradients(pmc_module, pmc_opt, model, feeds, tmp_path)


@pytest.mark.parametrize("mode", ["reflect", "edge", "wrap"])
@pytest.mark.parametrize("pads", [[1, 2, 2, 1], [0, 3, 1, -1]])
def test_folded_pad(pmc_module, pmc_opt, tmp_path, mode, pads):
    """Reflect, edge and wrap padding: the gradient of an input element sums
    g over every output position that reads it; on 2 devices too."""
    rng = np.random.default_rng(32)
    x = _x(rng, 4, 5)
    shape = (4 + pads[0] + pads[2], 5 + pads[1] + pads[3])
    model = _model([helper.make_node("Pad", ["x", "pads"], ["y"], mode=mode)], {"x": x}, "y",
                   shape, rng, inits=[("pads", np.array(pads, np.int64))])
    model.opset_import[0].version = 19  # wrap
    _check_gradients(pmc_module, pmc_opt, model, {"x": x}, tmp_path, devices=(1, 2))


@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cumprod(pmc_module, pmc_opt, tmp_path, exclusive, reverse):
    """CumProd (opset 26) without dividing by x: a zero in the data gets its
    exact gradient (the product of the others)."""
    rng = np.random.default_rng(33)
    x = _x(rng, 3, 5)
    x[1, 2] = 0.0
    model = _model([helper.make_node("CumProd", ["x", "axis"], ["y"], exclusive=exclusive,
                                     reverse=reverse)], {"x": x}, "y", x.shape, rng,
                   inits=[("axis", np.array(1, np.int64))])
    model.opset_import[0].version = 26
    model.ir_version = 11
    _check_gradients(pmc_module, pmc_opt, model, {"x": x}, tmp_path)


@pytest.mark.parametrize("y_shape", [(3, 4), (4,)])
def test_fmod(pmc_module, pmc_opt, tmp_path, y_shape):
    rng = np.random.default_rng(34)
    x = _x(rng, 3, 4) * 3
    y = _x(rng, *y_shape, positive=True) * np.where(rng.random(y_shape) < 0.5, -1, 1)
    # Away from the jumps of trunc(x / y), where differences are exact.
    ratio = x / y
    x = np.where(np.abs(ratio - np.round(ratio)) < 0.05, x + 0.2 * y, x)
    model = _model([helper.make_node("Mod", ["x", "y"], ["z"], fmod=1)], {"x": x, "y": y}, "z",
                   (3, 4), rng)
    _check_gradients(pmc_module, pmc_opt, model, {"x": x, "y": y}, tmp_path)
