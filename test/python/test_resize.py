"""Resize and Upsample beyond the backend suites: the legacy forms against
onnxruntime (onnx's reference has no Resize-10 and repeats only integer
Upsample scales), integer and float16 inputs against onnx's reference, the ops
each kind of axis imports to, and the errors for what pmc does not do."""

import numpy as np
import onnx
import onnx.reference
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_clean_failure, run_tool


def _resize_model(x, attrs, op="Resize", opset=19, roi=None, scales=None, sizes=None):
    """A one-node model with roi/scales/sizes as initializers (constants)."""
    inits, names = [], ["X"]
    for name, value in (("roi", roi), ("scales", scales), ("sizes", sizes)):
        if name == "roi" and (op == "Upsample" or opset < 11):
            continue
        if value is None:
            names.append("")
            continue
        inits.append(numpy_helper.from_array(value, name))
        names.append(name)
    while names[-1] == "":
        names.pop()
    node = helper.make_node(op, names, ["Y"], name="the_resize", **attrs)
    elem = helper.np_dtype_to_tensor_dtype(x.dtype)
    graph = helper.make_graph([node], "case", [helper.make_tensor_value_info("X", elem, x.shape)],
                              [helper.make_tensor_value_info("Y", elem, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=8)


def _run(pmc_module, model, x):
    return pmc_module.compile(model).run_dict({"X": x})["Y"]


def _reference(model, x):
    return onnx.reference.ReferenceEvaluator(model).run(None, {"X": x})[0]


RNG = np.random.default_rng(0)


@pytest.mark.parametrize("op,opset,mode,scales", [
    ("Upsample", 9, "nearest", [1, 1, 1.5, 2.5]),
    ("Upsample", 9, "linear", [1, 1, 2, 1.5]),
    ("Resize", 10, "nearest", [1, 1, 0.6, 0.75]),   # downsampling rounds up
    ("Resize", 10, "nearest", [1, 1, 2.5, 1.5]),
    ("Resize", 10, "linear", [1, 1, 0.5, 2.5]),
])
def test_legacy_forms_match_onnxruntime(pmc_module, op, opset, mode, scales):
    """Upsample and Resize-10 sample at x / scale; nearest takes the element
    at or before it (at or after it when Resize-10 downsamples)."""
    x = RNG.standard_normal((1, 2, 4, 5)).astype(np.float32)
    model = _resize_model(x, {"mode": mode}, op=op, opset=opset,
                          scales=np.array(scales, np.float32))
    want = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"X": x})[0]
    np.testing.assert_allclose(_run(pmc_module, model, x), want, rtol=1e-5, atol=1e-6)


def test_upsample_7_scales_attribute(pmc_module):
    x = RNG.standard_normal((1, 1, 2, 3)).astype(np.float32)
    model = _resize_model(x, {"mode": "nearest", "scales": [1.0, 1.0, 2.0, 3.0]},
                          op="Upsample", opset=7)
    want = np.repeat(np.repeat(x, 2, axis=2), 3, axis=3)
    np.testing.assert_array_equal(_run(pmc_module, model, x), want)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int32])
@pytest.mark.parametrize("mode", ["linear", "cubic"])
def test_integers_interpolate_and_round_like_the_reference(pmc_module, dtype, mode):
    """Interpolated integers are rounded half to even and clamped to the
    type's range (cubic overshoots it), as the reference's saturate_cast."""
    info = np.iinfo(dtype)
    x = RNG.integers(max(info.min, -1000), min(info.max, 1000), (1, 3, 5, 4), endpoint=True)
    x = x.astype(dtype)
    attrs = {"mode": mode, "coordinate_transformation_mode": "align_corners"}
    if mode == "cubic":
        attrs["cubic_coeff_a"] = -0.5  # exact in float32, so the reference's coefficients are too
    model = _resize_model(x, attrs, scales=np.array([1, 1, 1.6, 2.5], np.float32))
    got = _run(pmc_module, model, x)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, _reference(model, x))


def test_float16_keeps_its_type(pmc_module):
    x = RNG.standard_normal((2, 3, 4)).astype(np.float16)
    model = _resize_model(x, {"mode": "linear"}, sizes=np.array([2, 5, 7], np.int64))
    got = _run(pmc_module, model, x)
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float32), _reference(model, x).astype(np.float32),
                               rtol=2e-3, atol=1e-3)


def test_nearest_of_uint8_with_extrapolation(pmc_module):
    """tf_crop_and_resize outside the input: the extrapolation value, as the
    type stores it (300 saturates to 255)."""
    x = RNG.integers(0, 255, (1, 1, 4, 4)).astype(np.uint8)
    model = _resize_model(x, {"mode": "nearest", "coordinate_transformation_mode": "tf_crop_and_resize",
                              "extrapolation_value": 300.0},
                          roi=np.array([0, 0, -0.4, 0.2, 1, 1, 0.9, 1.3], np.float32),
                          sizes=np.array([1, 1, 5, 3], np.int64))
    np.testing.assert_array_equal(_run(pmc_module, model, x), _reference(model, x))


def _imported(pmc_opt, model, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    proc = run_tool([pmc_opt, "import", path])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_copies_gather_and_interpolation_multiplies(pmc_opt, tmp_path):
    """Nearest is a gather of constant indices per axis, linear a matmul."""
    x = np.zeros((1, 2, 4, 4), np.float32)
    scales = np.array([1, 1, 2, 2], np.float32)
    nearest = _imported(pmc_opt, _resize_model(x, {"mode": "nearest"}, scales=scales), tmp_path)
    assert nearest.count("pmc.gather") == 2 and "pmc.matmul" not in nearest
    linear = _imported(pmc_opt, _resize_model(x, {"mode": "linear"}, scales=scales), tmp_path)
    assert linear.count("pmc.matmul") == 2 and "pmc.gather" not in linear


def _compile_error(pmc_opt, model, tmp_path, *needles):
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    proc = run_tool([pmc_opt, "compile", path, "-o", tmp_path / "m.pmc"])
    assert_clean_failure(proc, "the_resize", *needles)


def test_bool_interpolation_is_unsupported(pmc_opt, tmp_path):
    x = np.zeros((2, 3), bool)
    model = _resize_model(x, {"mode": "linear"}, scales=np.array([1, 2], np.float32))
    _compile_error(pmc_opt, model, tmp_path, "unsupported", "linear")


def test_huge_matrix_is_an_error(pmc_opt, tmp_path):
    x = np.zeros((1, 5000), np.float32)
    model = _resize_model(x, {"mode": "linear"}, sizes=np.array([1, 5000 * 4], np.int64))
    _compile_error(pmc_opt, model, tmp_path, "axis 1", "2^24")


def test_scales_and_sizes_together_is_an_error(pmc_opt, tmp_path):
    x = np.zeros((2, 3), np.float32)
    model = _resize_model(x, {"mode": "nearest"}, scales=np.array([1, 2], np.float32),
                          sizes=np.array([2, 6], np.int64))
    _compile_error(pmc_opt, model, tmp_path, "exactly one of 'scales' and 'sizes'")


def test_attribute_of_a_later_opset_is_an_error(pmc_opt, tmp_path):
    """antialias exists from opset 18 on: at 13 it is not read, so it is named."""
    x = np.zeros((2, 3), np.float32)
    model = _resize_model(x, {"mode": "linear", "antialias": 1}, opset=13,
                          scales=np.array([1, 0.5], np.float32))
    _compile_error(pmc_opt, model, tmp_path, "antialias")
