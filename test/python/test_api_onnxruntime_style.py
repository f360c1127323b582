"""The Python API as a user of onnxruntime, torch and JAX guesses it:
`run(output_names, feeds)` returns a list, feeds come through DLPack or
`__array__`, pmc.compile's options are explicit, typed parameters, and the
options reach the compiler as structured values."""

import inspect
import os

import numpy as np
import onnxruntime as ort
import pytest

import make_zoo


def _feeds(path):
    import onnx
    return make_zoo.make_inputs(onnx.load(path), seed=1)


def test_run_returns_a_list_as_onnxruntime(zoo, pmc_module):
    feeds = _feeds(zoo["mlp"])
    expected = ort.InferenceSession(zoo["mlp"]).run(None, feeds)
    exe = pmc_module.compile(zoo["mlp"])
    got = exe.run(None, feeds)
    assert isinstance(got, list) and len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    name = exe.outputs[0].name
    only, = exe.run([name], feeds)
    np.testing.assert_array_equal(only, got[0])
    assert list(exe.run_dict(feeds)) == [o.name for o in exe.outputs]


def test_run_with_a_dict_first_names_the_two_forms(zoo, pmc_module):
    exe = pmc_module.compile(zoo["mlp"])
    feeds = _feeds(zoo["mlp"])
    with pytest.raises(TypeError, match=r"run_dict\(feeds\)"):
        exe.run(feeds)
    with pytest.raises(TypeError, match="output_names"):
        exe.run("y", feeds)
    with pytest.raises(ValueError, match="unknown output 'nope'"):
        exe.run(["nope"], feeds)
    with pytest.raises(ValueError, match="run_options"):
        exe.run(None, feeds, run_options=object())


class _DLPackOnly:
    """Exports an array through DLPack only (no __array__), as a device
    array library would."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


class _ArrayOnly:
    def __init__(self, array):
        self._array = array

    def __array__(self, dtype=None, copy=None):
        return self._array if dtype is None else self._array.astype(dtype)


def test_feeds_through_dlpack_and_array_protocols(zoo, pmc_module):
    exe = pmc_module.compile(zoo["mlp"])
    feeds = _feeds(zoo["mlp"])
    want = exe.run(None, feeds)
    for wrap in (_DLPackOnly, _ArrayOnly):
        got = exe.run(None, {k: wrap(v) for k, v in feeds.items()})
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a, b)
    # The dtype is checked after the conversion, as for numpy feeds.
    bad = {k: _DLPackOnly(v.astype(np.float64)) for k, v in feeds.items()}
    with pytest.raises(ValueError, match="expected dtype float32, got float64"):
        exe.run(None, bad)
    with pytest.raises(TypeError, match="DLPack"):
        exe.run(None, {k: object() for k in feeds})


def test_torch_cpu_tensor_feed(zoo, pmc_module):
    torch = pytest.importorskip("torch", reason="torch is not installed (the DLPack path is "
                                "tested with a DLPack-only exporter above)")
    exe = pmc_module.compile(zoo["mlp"])
    feeds = _feeds(zoo["mlp"])
    want = exe.run(None, feeds)
    got = exe.run(None, {k: torch.from_numpy(v) for k, v in feeds.items()})
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_compile_options_are_explicit_and_typed(pmc_module):
    signature = inspect.signature(pmc_module.compile)
    for name in ("devices", "target", "input_shapes", "mesh", "shardings", "plan",
                 "device_spec", "dtype", "stages", "microbatches", "schedule", "bind",
                 "base_dir", "verify"):
        parameter = signature.parameters[name]
        assert parameter.annotation is not inspect.Parameter.empty, name
        assert name in pmc_module.compile.__doc__, f"{name} is documented"
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD
                   for p in signature.parameters.values()), "no **options"
    package = os.path.dirname(pmc_module.__file__)
    assert os.path.isfile(os.path.join(package, "py.typed"))


@pytest.mark.parametrize("option, value, error", [
    ("devices", "4", TypeError), ("devices", 0, ValueError), ("stages", -1, ValueError),
    ("dtype", 16, TypeError), ("verify", "yes", TypeError),
    # Values are the compiler's to judge: it knows the choices.
    ("target", "tpu", "CompileError"), ("dtype", "fp8", "CompileError"),
    ("schedule", "zigzag", "CompileError"), ("plan", "best", "CompileError")])
def test_bad_option_values_name_the_option(zoo, pmc_module, option, value, error):
    if error == "CompileError":
        error = pmc_module.CompileError
    with pytest.raises(error, match=option if error is not pmc_module.CompileError else value):
        pmc_module.compile(zoo["mlp"], **{option: value}, **(
            {"devices": 2, "stages": 2} if option == "schedule" else {}))


def test_mesh_axis_names_are_checked_in_the_compiler(zoo, pmc_module):
    with pytest.raises(pmc_module.CompileError, match="'d p' is not a name"):
        pmc_module.compile(zoo["mlp"], devices=2, mesh={"d p": 2})
    with pytest.raises(pmc_module.CompileError, match="appears twice"):
        pmc_module.compile(zoo["mlp"], devices=4, mesh=[("dp", 2), ("dp", 2)])


def test_bind_takes_arrays_of_any_exporter_without_files(pmc_module, tmp_path, monkeypatch):
    """bind= values go to the compiler in memory (no temporary .npy files)."""
    from onnx import TensorProto, helper
    import tempfile
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])
    shape = helper.make_tensor_value_info("shape", TensorProto.INT64, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node("Reshape", ["x", "shape"], ["y"])
    model = helper.make_model(helper.make_graph([node], "r", [x, shape], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    exe = pmc_module.compile(model, bind={"shape": _DLPackOnly(np.array([4, 6], np.int64))})
    assert not [f for f in os.listdir(os.path.dirname(exe.path)) if f.endswith(".npy")]
    value = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(exe.run(None, {"x": value})[0], value.reshape(4, 6))
