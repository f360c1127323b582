"""DFT, STFT, the window functions and MelWeightMatrix against onnxruntime,
beyond the backend suites: every axis, padded and truncated transform
lengths, complex inputs to the one-sided inverse, windows as run-time inputs,
and the errors for what the operators forbid."""

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_clean_failure, run_tool

F, D, I64 = TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64
RNG = np.random.default_rng(11)


def _model(nodes, inputs, outputs, inits=(), opset=20):
    graph = helper.make_graph(nodes, "spectral", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=9)


def _vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def _check(pmc_module, model, feeds, rtol=1e-4, atol=1e-5, **compile_args):
    expected = ort.InferenceSession(model.SerializeToString(),
                                    providers=["CPUExecutionProvider"]).run(None, feeds)
    got = pmc_module.compile(model, **compile_args).run_dict(feeds)
    for out, ref in zip(model.graph.output, expected):
        assert got[out.name].shape == ref.shape, (got[out.name].shape, ref.shape)
        np.testing.assert_allclose(got[out.name], ref, rtol=rtol, atol=atol)


def _dft_model(shape, elem, axis, n=None, inverse=0, onesided=0, opset=20):
    inits, names = [], ["x"]
    names.append("n" if n is not None else "")
    if n is not None:
        inits.append(numpy_helper.from_array(np.array(n, np.int64), "n"))
    if opset >= 20:
        names.append("axis")
        inits.append(numpy_helper.from_array(np.array(axis, np.int64), "axis"))
        attrs = {}
    else:
        attrs = {"axis": axis}
    while names[-1] == "":
        names.pop()
    node = helper.make_node("DFT", names, ["y"], inverse=inverse, onesided=onesided, **attrs)
    return _model([node], [_vi("x", elem, list(shape))], [_vi("y", elem, None)], inits,
                  opset=opset)


@pytest.mark.parametrize("shape,axis,n,inverse,onesided,opset", [
    ((2, 8, 1), 1, None, 0, 0, 20),       # real forward
    ((2, 8, 2), 1, None, 0, 0, 20),       # complex forward
    ((2, 8, 2), 1, None, 1, 0, 20),       # complex inverse
    ((3, 5, 4, 2), 2, None, 0, 0, 20),    # a middle axis
    ((3, 5, 4, 1), -3, None, 0, 1, 20),   # negative axis, one-sided
    ((2, 7, 1), 1, 10, 0, 0, 20),         # zero-padded to 10
    ((2, 9, 2), 1, 6, 0, 0, 20),          # truncated to 6
    ((2, 9, 1), 1, 9, 0, 1, 17),          # odd one-sided, opset-17 attribute
    ((4, 6, 2), 1, None, 1, 0, 17),
])
def test_dft_matches_onnxruntime(pmc_module, shape, axis, n, inverse, onesided, opset):
    x = RNG.standard_normal(shape).astype(np.float32)
    _check(pmc_module, _dft_model(shape, F, axis, n, inverse, onesided, opset), {"x": x})


def test_dft_double_and_two_devices(pmc_module):
    x = RNG.standard_normal((4, 16, 2))
    _check(pmc_module, _dft_model(x.shape, D, 1), {"x": x}, rtol=1e-10, atol=1e-10,
           devices=2)


def test_irfft_against_numpy(pmc_module):
    """The one-sided inverse (onnxruntime has none): numpy.fft.irfft."""
    spectrum = np.fft.rfft(RNG.standard_normal((3, 10)), axis=1)
    x = np.stack([spectrum.real, spectrum.imag], -1).astype(np.float32)
    model = _dft_model(x.shape, F, 1, n=10, inverse=1, onesided=1)
    got = pmc_module.compile(model).run_dict({"x": x})["y"]
    np.testing.assert_allclose(got[..., 0], np.fft.irfft(spectrum, n=10, axis=1),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("with_window,onesided,frame_length", [
    (False, 1, 16), (True, 1, None), (True, 0, None)])
def test_stft_matches_onnxruntime(pmc_module, with_window, onesided, frame_length):
    """Frames of 16 samples every 6 over 64, weighted by a run-time window."""
    inits = [numpy_helper.from_array(np.array(6, np.int64), "step")]
    names = ["signal", "step", "window" if with_window else ""]
    inputs = [_vi("signal", F, [2, 64, 1])]
    if with_window:
        inputs.append(_vi("window", F, [16]))
    if frame_length is not None:
        inits.append(numpy_helper.from_array(np.array(frame_length, np.int64), "flen"))
        names.append("flen")
    model = _model([helper.make_node("STFT", names, ["y"], onesided=onesided)],
                   inputs, [_vi("y", F, None)], inits, opset=17)
    feeds = {"signal": RNG.standard_normal((2, 64, 1)).astype(np.float32)}
    if with_window:
        feeds["window"] = np.hanning(16).astype(np.float32)
    _check(pmc_module, model, feeds)


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic,dtype", [(1, F), (0, D), (1, TensorProto.INT32)])
def test_windows_match_onnxruntime(pmc_module, op, periodic, dtype):
    """A window of constant size times an input (so the program has one)."""
    node = helper.make_node(op, ["size"], ["w"], periodic=periodic, output_datatype=dtype)
    cast = helper.make_node("Cast", ["w"], ["wf"], to=F)
    mul = helper.make_node("Mul", ["wf", "x"], ["y"])
    model = _model([node, cast, mul], [_vi("x", F, [12])], [_vi("y", F, [12])],
                   [numpy_helper.from_array(np.array(12, np.int64), "size")], opset=17)
    _check(pmc_module, model, {"x": RNG.standard_normal(12).astype(np.float32)},
           rtol=1e-6, atol=1e-6)


def test_mel_weight_matrix_matches_onnxruntime(pmc_module):
    inits = [numpy_helper.from_array(np.array(v, dtype), n) for n, v, dtype in [
        ("bins", 8, np.int64), ("dft", 64, np.int64), ("rate", 16000, np.int64),
        ("low", 100.0, np.float32), ("high", 6000.0, np.float32)]]
    nodes = [helper.make_node("MelWeightMatrix", ["bins", "dft", "rate", "low", "high"], ["m"]),
             helper.make_node("MatMul", ["x", "m"], ["y"])]
    model = _model(nodes, [_vi("x", F, [3, 33])], [_vi("y", F, [3, 8])], inits, opset=17)
    _check(pmc_module, model, {"x": RNG.standard_normal((3, 33)).astype(np.float32)})


def test_dft_errors(pmc_opt, tmp_path):
    """The axis may not be the real/imaginary dim; a runtime dft_length is named."""
    cases = [
        (_dft_model((2, 8, 2), F, 2), ["axis", "real/imaginary"]),
        (_dft_model((2, 8, 3), F, 1), ["last dim must be 1 (real) or 2"]),
        (_dft_model((2, 8, 2), F, 1, onesided=1), ["onesided", "real signal"]),
    ]
    node = helper.make_node("DFT", ["x", "n"], ["y"])
    cases.append((_model([node], [_vi("x", F, [2, 8, 1]), _vi("n", I64, [])],
                         [_vi("y", F, None)]), ["dft_length", "'n'", "--bind"]))
    for i, (model, needles) in enumerate(cases):
        path = tmp_path / f"dft{i}.onnx"
        path.write_bytes(model.SerializeToString())
        assert_clean_failure(run_tool([pmc_opt, "compile", path, "-o", tmp_path / "o.pmc"]),
                             "DFT", *needles)
