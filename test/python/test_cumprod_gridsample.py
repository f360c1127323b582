"""CumProd (pmc.cumprod) and GridSample (gathers of the neighbours) beyond the
backend suites: random inputs against onnx's reference (CumProd-26 is newer
than onnxruntime) and onnxruntime (GridSample 16 and 20), every mode, padding
mode and align_corners, points outside the input, 3-D volumes, dtypes and 2
devices."""

import numpy as np
import onnx.reference
import onnxruntime as ort
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


# --- GridSample ----------------------------------------------------------------

def _grid_sample(x, grid, opset, **attrs):
    return _model("GridSample", [("x", x), ("grid", grid)], opset, **attrs)


def _ort(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [0, 1])
def test_gridsample_16_matches_onnxruntime(pmc_module, mode, padding_mode, align_corners):
    x = RNG.standard_normal((2, 3, 5, 7)).astype(np.float32)
    grid = RNG.uniform(-1.6, 1.6, (2, 4, 6, 2)).astype(np.float32)  # some points outside
    model = _grid_sample(x, grid, 16, mode=mode, padding_mode=padding_mode,
                         align_corners=align_corners)
    feeds = {"x": x, "grid": grid}
    got = _pmc(pmc_module, model, feeds)
    np.testing.assert_allclose(got, _ort(model, feeds), rtol=1e-5, atol=1e-5)
    # The reference knows opset 20's names only.
    renamed = _grid_sample(x, grid, 20, mode={"bilinear": "linear", "bicubic": "cubic"}.get(
        mode, mode), padding_mode=padding_mode, align_corners=align_corners)
    want = onnx.reference.ReferenceEvaluator(renamed).run(None, feeds)[0]
    if not (mode == "bicubic" and padding_mode == "border"):
        # The reference clamps the point before taking the cubic's taps;
        # onnxruntime (and PyTorch) clamp the taps only, and pmc follows them.
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["linear", "nearest", "cubic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_gridsample_20_far_outside_and_single_row(pmc_module, mode, padding_mode):
    """Points many sizes outside (reflections fold several times) and a
    one-row input (align_corners: the only row is read)."""
    x = RNG.standard_normal((1, 2, 1, 6)).astype(np.float32)
    grid = RNG.uniform(-5, 5, (1, 3, 8, 2)).astype(np.float32)
    for align_corners in (0, 1):
        model = _grid_sample(x, grid, 20, mode=mode, padding_mode=padding_mode,
                             align_corners=align_corners)
        feeds = {"x": x, "grid": grid}
        np.testing.assert_allclose(_pmc(pmc_module, model, feeds), _ort(model, feeds),
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["linear", "nearest"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_gridsample_volumes_match_the_reference(pmc_module, mode, padding_mode):
    x = RNG.standard_normal((2, 2, 3, 4, 5)).astype(np.float32)
    grid = RNG.uniform(-1.3, 1.3, (2, 2, 3, 4, 3)).astype(np.float32)
    for align_corners in (0, 1):
        model = _grid_sample(x, grid, 22, mode=mode, padding_mode=padding_mode,
                             align_corners=align_corners)
        feeds = {"x": x, "grid": grid}
        want = onnx.reference.ReferenceEvaluator(model).run(None, feeds)[0]
        np.testing.assert_allclose(_pmc(pmc_module, model, feeds), want, rtol=1e-5, atol=1e-5)


def test_gridsample_dtypes(pmc_module):
    x = RNG.standard_normal((1, 2, 4, 4))
    grid = RNG.uniform(-1.2, 1.2, (1, 3, 3, 2))
    # (The reference denormalizes in float32 whatever the type.)
    for xt, gt, tol in ((np.float64, np.float64, 1e-6), (np.float64, np.float32, 1e-6),
                        (np.float16, np.float16, 2e-2)):
        model = _grid_sample(x.astype(xt), grid.astype(gt), 20)
        feeds = {"x": x.astype(xt), "grid": grid.astype(gt)}
        want = onnx.reference.ReferenceEvaluator(model).run(None, feeds)[0]
        got = _pmc(pmc_module, model, feeds)
        assert got.dtype == xt
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                                   rtol=tol, atol=tol)


def test_gridsample_two_devices(pmc_module):
    x = RNG.standard_normal((4, 8, 8, 8)).astype(np.float32)
    grid = RNG.uniform(-1.1, 1.1, (4, 4, 8, 2)).astype(np.float32)
    model = _grid_sample(x, grid, 16, mode="bicubic", padding_mode="border")
    feeds = {"x": x, "grid": grid}
    np.testing.assert_allclose(_pmc(pmc_module, model, feeds, devices=2), _ort(model, feeds),
                               rtol=1e-5, atol=1e-5)


def test_gridsample_errors(pmc_module):
    x = np.zeros((1, 1, 2, 2, 2), np.float32)
    grid = np.zeros((1, 2, 2, 2, 3), np.float32)
    for model, needles in (
            (_grid_sample(x, grid, 16), ("4-D",)),
            (_grid_sample(x[:, :, 0], grid[:, :, 0, :, :2], 20, mode="bilinear"),
             ("mode 'bilinear'",)),
            (_grid_sample(x[:, :, 0], grid[:, :, 0, :, :2], 16, padding_mode="mirror"),
             ("padding_mode 'mirror'",)),
            (_grid_sample(x[:, :, 0].astype(np.int32), grid[:, :, 0, :, :2], 20),
             ("integer",))):
        with pytest.raises(pmc_module.CompileError) as info:
            pmc_module.compile(model)
        for needle in ("the_node",) + needles:
            assert needle in str(info.value), str(info.value)
