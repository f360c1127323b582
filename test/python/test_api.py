"""The Python API (DESIGN.md contract 2): pmc.compile / Executable / pmc.load."""

import gc
import os
import tempfile

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import make_zoo
from conftest import assert_matches


def test_version_and_exports(pmc_module):
    pmc = pmc_module
    assert pmc.__version__.count(".") == 2
    assert issubclass(pmc.CompileError, RuntimeError)
    for name in ("compile", "load", "Executable", "CompileError"):
        assert hasattr(pmc, name)


def test_model_proto_input(zoo, zoo_reference, pmc_module):
    feeds, reference = zoo_reference["transformer_encoder"]
    exe = pmc_module.compile(onnx.load(zoo["transformer_encoder"]))
    assert_matches(reference, exe.run_dict(feeds))


def test_model_proto_with_external_data(pmc_module, tmp_path):
    """A ModelProto whose weights stay in external files compiles when base_dir says
    where they are, and fails with a clear message when it does not."""
    model = make_zoo.make_mlp()
    folder = tmp_path / "ext"
    folder.mkdir()
    onnx.save_model(model, folder / "mlp.onnx", save_as_external_data=True,
                    all_tensors_to_one_file=True, location="mlp.weights", size_threshold=0)
    assert (folder / "mlp.weights").stat().st_size > 0
    feeds = make_zoo.make_inputs(model, seed=3)
    reference = make_zoo.run_onnxruntime(str(folder / "mlp.onnx"), feeds)

    unloaded = onnx.load(folder / "mlp.onnx", load_external_data=False)
    with pytest.raises(pmc_module.CompileError, match="external data"):
        pmc_module.compile(unloaded)
    exe = pmc_module.compile(unloaded, base_dir=folder)
    assert_matches(reference, exe.run_dict(feeds))
    # The path form reads the external file beside the model.
    assert_matches(reference, pmc_module.compile(str(folder / "mlp.onnx")).run_dict(feeds))


def test_input_shapes_fix_a_dynamic_batch(pmc_module, tmp_path):
    path = tmp_path / "dyn_mlp.onnx"
    onnx.save(make_zoo.make_mlp(batch="N"), path)
    exe = pmc_module.compile(str(path), input_shapes={"x": (3, 64)})
    assert exe.inputs == [("x", "float32", (3, 64))]
    assert exe.outputs == [("y", "float32", (3, 10))]
    feeds = make_zoo.make_inputs(onnx.load(path), seed=5, shapes={"x": (3, 64)})
    assert_matches(make_zoo.run_onnxruntime(str(path), feeds), exe.run_dict(feeds))


def test_missing_input_shapes_is_an_error(pmc_module, tmp_path):
    path = tmp_path / "dyn_mlp.onnx"
    onnx.save(make_zoo.make_mlp(batch="N"), path)
    with pytest.raises(pmc_module.CompileError, match=r"'x'.*input_shapes"):
        pmc_module.compile(str(path))


def test_bad_options(zoo, pmc_module):
    with pytest.raises(TypeError, match="no_such_option"):
        pmc_module.compile(zoo["mlp"], no_such_option=True)
    with pytest.raises(ValueError, match="devices"):
        pmc_module.compile(zoo["mlp"], devices=0)
    with pytest.raises(ValueError, match="input_shapes"):
        pmc_module.compile(zoo["mlp"], input_shapes={"x": (2, -1)})
    with pytest.raises(pmc_module.CompileError, match="absent.onnx"):
        pmc_module.compile("absent.onnx")


def test_inputs_outputs_and_plan(zoo, pmc_module):
    exe = pmc_module.compile(zoo["resnet_cnn"])
    assert exe.inputs == [("image", "float32", (2, 3, 16, 16))]
    assert exe.outputs == [("logits", "float32", (2, 10))]
    assert exe.inputs[0].name == "image" and exe.inputs[0].shape == (2, 3, 16, 16)
    plan = exe.plan
    assert plan.splitlines()[0] == "1 device, target cpu, no partitioning"
    assert "rank 0:" in plan and "image" in plan
    d = exe.plan_dict
    assert d["devices"] == 1 and d["target"] == "cpu" and d["partitioning"] == "none"
    assert d["ranks"][0]["commands"] > 0
    assert d["weight_bytes"] > 0
    assert exe.arena_bytes >= 0
    assert "image" in repr(exe)


def test_bind_specializes_a_shape_input(pmc_module, tmp_path):
    """bind= turns a Reshape's shape input into a constant, as --bind does."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])
    shape = helper.make_tensor_value_info("shape", TensorProto.INT64, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape")
    model = helper.make_model(helper.make_graph([node], "r", [x, shape], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    exe = pmc_module.compile(model, bind={"shape": np.array([4, 6], np.int64)})
    assert [s.name for s in exe.inputs] == ["x"]
    assert exe.outputs[0].shape == (4, 6)
    value = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(exe.run_dict({"x": value})["y"], value.reshape(4, 6))


def test_output_names_selects_outputs(zoo, zoo_reference, pmc_module):
    feeds, reference = zoo_reference["mlp"]
    exe = pmc_module.compile(zoo["mlp"])
    assert list(exe.run_dict(feeds, output_names=["y"])) == ["y"]
    with pytest.raises(ValueError, match="nope"):
        exe.run_dict(feeds, output_names=["nope"])


def test_temporary_bundle_is_removed(zoo, pmc_module, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    exe = pmc_module.compile(zoo["mlp"])
    folder = os.path.dirname(exe.path)
    assert os.path.isdir(folder) and folder.startswith(str(tmp_path))
    saved = exe.save(tmp_path / "kept.pmc")
    del exe
    gc.collect()
    assert not os.path.exists(folder), "the temporary bundle goes with its executable"
    assert os.path.isfile(saved)
    # A failed compile leaves nothing behind either.
    with pytest.raises(pmc_module.CompileError):
        pmc_module.compile(str(tmp_path / "kept.pmc"))
    assert sorted(os.listdir(tmp_path)) == ["kept.pmc"]


def test_import_model_text(zoo, pmc_module):
    text = pmc_module.import_model(zoo["mlp"])
    assert "func.func @main" in text and "pmc." in text


def _one_node(op, inputs, shapes):
    node = helper.make_node(op, [name for name, _ in inputs], ["y"])
    graph = helper.make_graph(
        [node], op.lower(), [helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
                             for n, s in inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shapes)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def test_scalar_feed(pmc_module):
    """A 0-d input is fed as a 0-d array (it was made 1-d on the way in)."""
    exe = pmc_module.compile(_one_node("Add", [("x", [2, 3]), ("s", [])], [2, 3]))
    out = exe.run_dict({"x": np.ones((2, 3), np.float32), "s": np.array(2.0, np.float32)})
    np.testing.assert_array_equal(out["y"], np.full((2, 3), 3.0, np.float32))


def test_verify_treats_nan_as_equal(pmc_module):
    """verify=True compares NaN where one device has NaN as equal (Sqrt of
    random normal inputs), instead of reporting a difference of 0 as a failure."""
    exe = pmc_module.compile(_one_node("Sqrt", [("x", [4, 4])], [4, 4]), devices=2, verify=True)
    assert exe.verify_report["ok"]
