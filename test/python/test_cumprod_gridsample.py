"""CumProd (pmc.cumprod) and GridSample (gathers of the neighbours) beyond the
backend suites: random inputs against onnx's reference (CumProd-26 is newer
than onnxruntime) and onnxruntime (GridSample 16 and 20), every mode, padding
mode and align_corners, points outside the input, 3-D volumes, dtypes and 2
devices."""

import numpy as np
import onnx.reference
import pytest
from onnx import helper, numpy_helper

RNG = np.random.default_rng(0)


def _model(op, inputs, opset, consts=(), **attrs):
    names = [n for n, _ in inputs] + [n for n, _ in consts]
    node = helper.make_node(op, names, ["y"], name="the_node", **attrs)
    graph = helper.make_graph(
        [node], "case",
        [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
         for n, v in inputs],
        [helper.make_empty_tensor_value_info("y")],
        [numpy_helper.from_array(v, n) for n, v in consts])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=8 if opset <= 21 else 11)


def _pmc(pmc_module, model, feeds, devices=1):
    return pmc_module.compile(model, devices=devices).run_dict(feeds)["y"]


# --- CumProd ------------------------------------------------------------------

def _cumprod(x, axis, **attrs):
    return _model("CumProd", [("x", x)], 26, consts=[("axis", np.array(axis, np.int64))],
                  **attrs)


@pytest.mark.parametrize("shape,axis", [((7,), 0), ((3, 5), 1), ((3, 5), -2),
                                        ((2, 3, 4), 1), ((2, 3, 4), -1), ((1, 4, 1), 2)])
@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
def test_cumprod_matches_the_reference(pmc_module, shape, axis, exclusive, reverse):
    x = RNG.uniform(-1.5, 1.5, shape).astype(np.float32)
    x.flat[::7] = 0  # zeros and signs: no log/exp shortcut
    model = _cumprod(x, axis, exclusive=exclusive, reverse=reverse)
    want = onnx.reference.ReferenceEvaluator(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(_pmc(pmc_module, model, {"x": x}), want, rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float64, np.float16, np.uint32])
def test_cumprod_dtypes(pmc_module, dtype):
    x = RNG.integers(0 if dtype == np.uint32 else -3, 4, (3, 6)).astype(dtype)
    model = _cumprod(x, 1, reverse=1)
    got = _pmc(pmc_module, model, {"x": x})
    want = onnx.reference.ReferenceEvaluator(model).run(None, {"x": x})[0]
    assert got.dtype == dtype
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-3)


def test_cumprod_two_devices(pmc_module):
    x = RNG.uniform(0.5, 1.5, (8, 16)).astype(np.float32)
    model = _cumprod(x, 1, exclusive=1)
    want = onnx.reference.ReferenceEvaluator(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(_pmc(pmc_module, model, {"x": x}, devices=2), want, rtol=1e-6)
