"""Bad input never crashes: each case exits with status 1 (CLI) or raises (Python)
with a message that says what is wrong and where."""

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import make_zoo
from conftest import assert_clean_failure, run_tool
from pmc.bundle import BundleInfo


# --- Models the compiler must reject -----------------------------------------

@pytest.fixture
def truncated_model(zoo, tmp_path):
    data = open(zoo["mlp"], "rb").read()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def not_onnx(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is a text file, not a protobuf model\n" * 20)
    return path


@pytest.fixture
def unsupported_op_model(tmp_path):
    """A valid opset-17 model using Unique, which pmc does not implement."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n"])
    node = helper.make_node("Unique", ["x"], ["y"], name="my_unique_node")
    model = helper.make_model(helper.make_graph([node], "unique", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    path = tmp_path / "unique.onnx"
    onnx.save(model, path)
    return path


def _external_data_model(folder, location):
    """A Relu(x + w) model whose initializer `w` lives in external file `location`."""
    w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4])
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    nodes = [helper.make_node("Add", ["x", "w"], ["s"], name="add"),
             helper.make_node("Relu", ["s"], ["y"], name="relu")]
    model = helper.make_model(helper.make_graph(nodes, "ext", [x], [y], initializer=[w]),
                              opset_imports=[helper.make_opsetid("", 17)])
    path = folder / "model.onnx"
    # Written as raw bytes: onnx.save would try to resolve the external file.
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture(params=["../secret.bin", "/tmp/pmc-abs-secret.bin", "sub/../../secret.bin"])
def escaping_model(request, tmp_path):
    folder = tmp_path / "model_dir"
    folder.mkdir()
    (folder / "sub").mkdir()
    secret = np.arange(4, dtype=np.float32).tobytes()
    (tmp_path / "secret.bin").write_bytes(secret)
    if request.param.startswith("/"):
        with open(request.param, "wb") as f:
            f.write(secret)
    return _external_data_model(folder, request.param), request.param


def test_truncated_model(truncated_model, pmc_opt, pmc_module, tmp_path):
    proc = run_tool([pmc_opt, "compile", truncated_model, "-o", tmp_path / "m.pmc"])
    assert_clean_failure(proc, "truncated.onnx")
    assert not (tmp_path / "m.pmc").exists(), "no bundle is written for a rejected model"
    with pytest.raises(pmc_module.CompileError, match="truncated.onnx"):
        pmc_module.compile(str(truncated_model))


def test_not_onnx(not_onnx, pmc_opt, pmc_module, tmp_path):
    proc = run_tool([pmc_opt, "compile", not_onnx, "-o", tmp_path / "m.pmc"])
    assert_clean_failure(proc, "notes.onnx")
    proc = run_tool([pmc_opt, "import", not_onnx])
    assert_clean_failure(proc, "notes.onnx")
    with pytest.raises(pmc_module.CompileError, match="notes.onnx"):
        pmc_module.compile(str(not_onnx))


def test_missing_model_file(pmc_opt, tmp_path):
    proc = run_tool([pmc_opt, "compile", tmp_path / "absent.onnx", "-o", tmp_path / "m.pmc"])
    assert_clean_failure(proc, "absent.onnx")


def test_unsupported_op(unsupported_op_model, pmc_opt, pmc_module, tmp_path):
    proc = run_tool([pmc_opt, "compile", unsupported_op_model, "-o", tmp_path / "m.pmc"])
    assert_clean_failure(proc, "Unique", "my_unique_node", "17", "unsupported")
    with pytest.raises(pmc_module.CompileError) as info:
        pmc_module.compile(str(unsupported_op_model))
    for needle in ("Unique", "my_unique_node", "17"):
        assert needle in str(info.value)


def test_dynamic_dim_without_input_shape(pmc_opt, tmp_path):
    path = tmp_path / "dyn.onnx"
    onnx.save(make_zoo.make_mlp(batch="N"), path)
    proc = run_tool([pmc_opt, "compile", path, "-o", tmp_path / "m.pmc"])
    assert_clean_failure(proc, "'x'")


def test_malformed_input_shape_flag(zoo, pmc_opt, tmp_path):
    proc = run_tool([pmc_opt, "compile", zoo["mlp"], "-o", tmp_path / "m.pmc",
                     "--input-shape", "x=2xbanana"])
    assert_clean_failure(proc, "x=2xbanana")


def test_external_data_escaping_the_model_folder(escaping_model, pmc_opt, pmc_module, tmp_path):
    path, location = escaping_model
    proc = run_tool([pmc_opt, "compile", path, "-o", tmp_path / "m.pmc"])
    assert_clean_failure(proc, "external", location)
    assert not (tmp_path / "m.pmc").exists()
    with pytest.raises(pmc_module.CompileError, match="(?i)external"):
        pmc_module.compile(str(path))


# --- Bad feeds at run time -----------------------------------------------------

@pytest.fixture
def mlp_feed(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.ones((2, 64), np.float32))
    return path


def test_run_wrong_input_name(mlp_bundle, mlp_feed, pmc_run, tmp_path):
    proc = run_tool([pmc_run, mlp_bundle, "--input", f"wrong_name={mlp_feed}",
                     "--output", tmp_path / "o.npz"])
    assert_clean_failure(proc, "wrong_name")


def test_run_missing_input(mlp_bundle, pmc_run, tmp_path):
    proc = run_tool([pmc_run, mlp_bundle, "--output", tmp_path / "o.npz"])
    assert_clean_failure(proc, "'x'")


@pytest.mark.parametrize("value", [np.ones((3, 64), np.float32), np.ones((2, 64, 1), np.float32)],
                         ids=["wrong_dim", "wrong_rank"])
def test_run_wrong_shape(value, mlp_bundle, pmc_run, tmp_path):
    np.save(tmp_path / "x.npy", value)
    proc = run_tool([pmc_run, mlp_bundle, "--input", f"x={tmp_path / 'x.npy'}",
                     "--output", tmp_path / "o.npz"])
    assert_clean_failure(proc, "'x'")
    assert "64" in proc.stderr, "the expected shape is shown"


def test_run_wrong_dtype(mlp_bundle, pmc_run, tmp_path):
    np.save(tmp_path / "x.npy", np.ones((2, 64), np.float64))
    proc = run_tool([pmc_run, mlp_bundle, "--input", f"x={tmp_path / 'x.npy'}",
                     "--output", tmp_path / "o.npz"])
    assert_clean_failure(proc, "'x'", "float32")


def test_run_feed_file_not_npy(mlp_bundle, pmc_run, tmp_path):
    (tmp_path / "x.npy").write_text("not numpy")
    proc = run_tool([pmc_run, mlp_bundle, "--input", f"x={tmp_path / 'x.npy'}",
                     "--output", tmp_path / "o.npz"])
    assert_clean_failure(proc, "x.npy")


def test_python_bad_feeds(mlp_bundle, pmc_module):
    exe = pmc_module.load(mlp_bundle)
    good = np.ones((2, 64), np.float32)
    with pytest.raises(ValueError, match="wrong_name"):
        exe.run_dict({"x": good, "wrong_name": good})
    with pytest.raises(ValueError, match="missing input 'x'"):
        exe.run_dict({})
    with pytest.raises(ValueError, match=r"'x'.*\[2, 64\]"):
        exe.run_dict({"x": np.ones((3, 64), np.float32)})
    with pytest.raises(ValueError, match="'x'.*float32"):
        exe.run_dict({"x": good.astype(np.float64)})
    with pytest.raises(TypeError, match="'x'.*numpy.ndarray"):
        exe.run_dict({"x": good.tolist()})
    # The runtime's own checks, below the Python wrapper, also raise ValueError.
    with pytest.raises(ValueError, match="x"):
        exe._session.run({"x": good.astype(np.float64)})
    with pytest.raises(ValueError, match="x"):
        exe._session.run({"x": np.ones((3, 64), np.float32)})
    with pytest.raises(ValueError, match="nope"):
        exe._session.run({"x": good, "nope": good})


# --- Damaged bundles -------------------------------------------------------------

def _damage_spots(info):
    """{label: (byte offset, words the message should contain)} inside a bundle."""
    table_off, _ = info.table_range
    spots = {
        "magic": (0, ["magic"]),
        "version": (8, ["version"]),
        "table": (table_off + 2, ["table"]),
        "manifest": (None, ["manifest"]),
        "program": (None, ["rank0.program"]),
        "kernels": (None, ["kernels.cpu"]),
    }
    for label, section in (("manifest", "manifest"), ("program", "rank0.program"),
                           ("kernels", "kernels.cpu")):
        s = info.section(section)
        spots[label] = (s.offset + s.size // 2, [section])
    weights = info.weight_sections()
    assert weights, "the MLP bundle stores its weights"
    w = max(weights, key=lambda s: s.size)
    spots["weights"] = (w.offset + w.size // 2, [w.name])
    return spots


DAMAGE_LABELS = ["magic", "version", "table", "manifest", "program", "kernels", "weights"]


@pytest.mark.parametrize("label", DAMAGE_LABELS)
def test_flipped_byte_rejected(label, mlp_bundle, mlp_feed, pmc_run, pmc_module, tmp_path):
    data = bytearray(mlp_bundle.read_bytes())
    offset, needles = _damage_spots(BundleInfo.read(mlp_bundle))[label]
    data[offset] ^= 0xFF
    bad = tmp_path / f"bad_{label}.pmc"
    bad.write_bytes(bytes(data))

    proc = run_tool([pmc_run, bad, "--input", f"x={mlp_feed}", "--output", tmp_path / "o.npz"])
    assert_clean_failure(proc, *needles)
    assert not (tmp_path / "o.npz").exists(), "nothing is written for a rejected bundle"
    with pytest.raises(RuntimeError) as info:
        pmc_module.load(bad)
    for needle in needles:
        assert needle.lower() in str(info.value).lower()


@pytest.mark.parametrize("keep", [0, 10, 24, 100, -1], ids=["empty", "10B", "header", "100B",
                                                             "minus1"])
def test_truncated_bundle_rejected(keep, mlp_bundle, mlp_feed, pmc_run, pmc_module, tmp_path):
    data = mlp_bundle.read_bytes()
    bad = tmp_path / "short.pmc"
    bad.write_bytes(data[:keep] if keep >= 0 else data[:keep])
    proc = run_tool([pmc_run, bad, "--input", f"x={mlp_feed}", "--output", tmp_path / "o.npz"])
    assert_clean_failure(proc)
    with pytest.raises(RuntimeError):
        pmc_module.load(bad)


def test_trailing_bytes_rejected(mlp_bundle, mlp_feed, pmc_run, tmp_path):
    bad = tmp_path / "long.pmc"
    bad.write_bytes(mlp_bundle.read_bytes() + b"\0" * 64)
    proc = run_tool([pmc_run, bad, "--input", f"x={mlp_feed}", "--output", tmp_path / "o.npz"])
    assert_clean_failure(proc)


def test_onnx_file_is_not_a_bundle(zoo, mlp_feed, pmc_run, pmc_module, tmp_path):
    proc = run_tool([pmc_run, zoo["mlp"], "--input", f"x={mlp_feed}",
                     "--output", tmp_path / "o.npz"])
    assert_clean_failure(proc, "magic")
    with pytest.raises(RuntimeError, match="(?i)magic"):
        pmc_module.load(zoo["mlp"])


def test_missing_bundle_file(pmc_run, pmc_module, tmp_path):
    proc = run_tool([pmc_run, tmp_path / "absent.pmc", "--output", tmp_path / "o.npz"])
    assert_clean_failure(proc, "absent.pmc")
    with pytest.raises(FileNotFoundError, match="absent.pmc"):
        pmc_module.load(tmp_path / "absent.pmc")


def test_damaged_bundle_flips_are_in_sections(mlp_bundle):
    """The damage positions above land where they claim (checked with the pure-Python
    reader): flipping a section byte breaks exactly that section's checksum."""
    info = BundleInfo.read(mlp_bundle)
    assert info.verify_checksums() == []
    spots = _damage_spots(info)
    for label in ("manifest", "program", "kernels", "weights"):
        offset, needles = spots[label]
        data = bytearray(mlp_bundle.read_bytes())
        data[offset] ^= 0xFF
        path = os.path.join(os.path.dirname(mlp_bundle), f"check_{label}.pmc")
        with open(path, "wb") as f:
            f.write(data)
        assert BundleInfo.read(path).verify_checksums() == needles
