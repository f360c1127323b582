"""ReverseSequence, the optimizers of ai.onnx.preview.training (Momentum,
Adagrad, Adam) and BatchNormalization in training mode, all exact
decompositions into pmc ops, on random inputs at 1 and 2 devices: against
onnxruntime where it has the operator, against onnx's reference otherwise."""

import numpy as np
import onnx.reference
import onnxruntime as ort
import pytest
from onnx import helper

TRAINING = "ai.onnx.preview.training"
RNG = np.random.default_rng(7)


def _model(node, inputs, outputs, opsets, out_dtype=None):
    """One node; the outputs have the element type of `out_dtype` (default:
    that of the first input)."""
    out_dtype = out_dtype or next(iter(inputs.values())).dtype
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(out_dtype))
    graph = helper.make_graph(
        [node], "case",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
         for n, v in inputs.items()],
        [helper.make_tensor_value_info(n, elem, None) for n in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets],
                             ir_version=8)


def _pmc(pmc_module, model, feeds, devices):
    return pmc_module.compile(model, devices=devices).run_dict(feeds)


def _check(got, want, names, rtol=1e-5, atol=1e-6):
    for name, w in zip(names, want):
        assert got[name].dtype == w.dtype, name
        np.testing.assert_allclose(got[name], w, rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("devices", [1, 2])
@pytest.mark.parametrize("shape,batch_axis,time_axis", [
    ((5, 4, 3), 1, 0), ((4, 6), 0, 1), ((4, 5, 2, 3), 0, 1), ((1, 1), 1, 0)])
def test_reverse_sequence_matches_onnxruntime(pmc_module, devices, shape, batch_axis, time_axis):
    x = RNG.standard_normal(shape).astype(np.float32)
    steps, batch = shape[time_axis], shape[batch_axis]
    lens = RNG.integers(1, steps + 1, size=batch).astype(np.int64)
    node = helper.make_node("ReverseSequence", ["x", "lens"], ["y"],
                            batch_axis=batch_axis, time_axis=time_axis)
    model = _model(node, {"x": x, "lens": lens}, ["y"], [("", 10)])
    feeds = {"x": x, "lens": lens}
    want = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, feeds)
    _check(_pmc(pmc_module, model, feeds, devices), want, ["y"], rtol=0, atol=0)


def test_reverse_sequence_int_input_and_invalid_axes(pmc_module):
    x = np.arange(12, dtype=np.int64).reshape(3, 4)
    lens = np.array([4, 0, 2], np.int64)  # 0 leaves the row unchanged
    node = helper.make_node("ReverseSequence", ["x", "lens"], ["y"], batch_axis=0, time_axis=1)
    model = _model(node, {"x": x, "lens": lens}, ["y"], [("", 10)])
    got = _pmc(pmc_module, model, {"x": x, "lens": lens}, 1)["y"]
    np.testing.assert_array_equal(got, [[3, 2, 1, 0], [4, 5, 6, 7], [9, 8, 10, 11]])
    bad = helper.make_node("ReverseSequence", ["x", "lens"], ["y"], batch_axis=0, time_axis=0)
    with pytest.raises(Exception, match="batch_axis"):
        pmc_module.compile(_model(bad, {"x": x, "lens": lens}, ["y"], [("", 10)]))


def _optimizer_case(op, groups, dtype, attrs, step):
    shapes = [(3, 4), (5,), (2, 3, 2)][:groups]
    states = 2 if op == "Adam" else 1
    feeds = {"R": np.array(0.1, dtype), "T": np.array(step, np.int64)}
    xs, gs, ss = [], [], [[] for _ in range(states)]
    for i, s in enumerate(shapes):
        feeds[f"X{i}"] = RNG.standard_normal(s).astype(dtype)
        feeds[f"G{i}"] = RNG.standard_normal(s).astype(dtype)
        for k in range(states):
            v = RNG.standard_normal(s).astype(dtype)
            feeds[f"S{k}_{i}"] = np.abs(v) if (op != "Momentum" and k == states - 1) else v
        xs.append(f"X{i}")
        gs.append(f"G{i}")
        for k in range(states):
            ss[k].append(f"S{k}_{i}")
    ins = ["R", "T"] + xs + gs + sum(ss, [])
    outs = [f"X{i}_new" for i in range(groups)] + [
        f"S{k}_{i}_new" for k in range(states) for i in range(groups)]
    node = helper.make_node(op, ins, outs, domain=TRAINING, **attrs)
    model = _model(node, {n: feeds[n] for n in ins}, outs, [("", 17), (TRAINING, 1)],
                   out_dtype=dtype)
    return model, feeds, outs


OPTIMIZERS = [
    ("Momentum", {"alpha": 0.9, "beta": 0.1, "norm_coefficient": 0.01, "mode": "standard"}),
    ("Momentum", {"alpha": 0.8, "beta": 0.3, "norm_coefficient": 0.0, "mode": "nesterov"}),
    ("Adagrad", {"decay_factor": 0.1, "epsilon": 1e-5, "norm_coefficient": 0.02}),
    ("Adagrad", {}),
    ("Adam", {"alpha": 0.85, "beta": 0.95, "epsilon": 1e-4, "norm_coefficient": 0.05,
              "norm_coefficient_post": 0.01}),
    ("Adam", {}),
]


@pytest.mark.parametrize("devices", [1, 2])
@pytest.mark.parametrize("step", [0, 3])
@pytest.mark.parametrize("groups", [1, 3])
@pytest.mark.parametrize("op,attrs", OPTIMIZERS)
def test_optimizers_match_reference(pmc_module, op, attrs, groups, step, devices):
    model, feeds, outs = _optimizer_case(op, groups, np.float32, attrs, step)
    # The reference returns float64 for a single Adam group (its float64
    # learning rate leaks into X); the operator's outputs have X's type.
    want = [w.astype(np.float32) for w in
            onnx.reference.ReferenceEvaluator(model).run(None, feeds)]
    _check(_pmc(pmc_module, model, feeds, devices), want, outs)


@pytest.mark.parametrize("op,attrs", [OPTIMIZERS[0], OPTIMIZERS[2], OPTIMIZERS[4]])
def test_optimizers_in_double(pmc_module, op, attrs):
    model, feeds, outs = _optimizer_case(op, 2, np.float64, attrs, 2)
    want = onnx.reference.ReferenceEvaluator(model).run(None, feeds)
    _check(_pmc(pmc_module, model, feeds, 1), [w.astype(np.float64) for w in want], outs,
           rtol=1e-6)


def test_optimizer_errors(pmc_module):
    model, feeds, outs = _optimizer_case("Momentum", 1, np.float32,
                                         {"alpha": 0.9, "beta": 0.1, "mode": "standard"}, 1)
    with pytest.raises(Exception, match="norm_coefficient"):
        pmc_module.compile(model)
    model, _, _ = _optimizer_case("Momentum", 1, np.float32,
                                  {"alpha": 0.9, "beta": 0.1, "norm_coefficient": 0.0,
                                   "mode": "heavy"}, 1)
    with pytest.raises(Exception, match="heavy"):
        pmc_module.compile(model)
    # A default-domain node of the same name is not the training operator.
    x = np.ones(3, np.float32)
    node = helper.make_node("Adam", ["x"], ["y"])
    with pytest.raises(Exception, match="unsupported ONNX operator 'Adam'"):
        pmc_module.compile(_model(node, {"x": x}, ["y"], [("", 17)]))


@pytest.mark.parametrize("devices", [1, 2])
@pytest.mark.parametrize("opset", [14, 15])
@pytest.mark.parametrize("shape,attrs", [
    ((4, 3, 5, 2), {}), ((6, 2), {"momentum": 0.7, "epsilon": 1e-3}),
    ((2, 4, 7), {"momentum": 0.0})])
def test_batchnorm_training_matches_reference(pmc_module, devices, opset, shape, attrs):
    c = shape[1]
    feeds = {"x": (RNG.standard_normal(shape) * 2 + 1).astype(np.float32),
             "s": RNG.standard_normal(c).astype(np.float32),
             "bias": RNG.standard_normal(c).astype(np.float32),
             "mean": RNG.standard_normal(c).astype(np.float32),
             "var": RNG.random(c).astype(np.float32) + 0.5}
    node = helper.make_node("BatchNormalization", list(feeds), ["y", "rm", "rv"],
                            training_mode=1, **attrs)
    model = _model(node, feeds, ["y", "rm", "rv"], [("", opset)])
    want = onnx.reference.ReferenceEvaluator(model).run(None, feeds)
    _check(_pmc(pmc_module, model, feeds, devices), want, ["y", "rm", "rv"], rtol=1e-4, atol=1e-5)
