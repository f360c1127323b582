"""The conformance runner's own logic (no pmc needed): which inputs it binds, how
it reads test data, how it compares, and how it reports."""

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest

import run_node_tests as rnt

DATA = rnt.DEFAULT_DATA_DIR
RUNNER = os.path.abspath(rnt.__file__)
needs_data = pytest.mark.skipif(not os.path.isdir(DATA), reason="libonnx-testdata not installed")


def _model(case):
    return onnx.load(os.path.join(DATA, case, "model.onnx"))


@needs_data
@pytest.mark.parametrize("case, bound", [
    ("test_add", []),
    ("test_reshape_negative_dim", ["shape"]),
    ("test_expand_dim_changed", ["new_shape"]),
    ("test_slice", ["axes", "ends", "starts", "steps"]),
    ("test_unsqueeze_axis_0", ["axes"]),
    ("test_reduce_sum_default_axes_keepdims_example", ["axes"]),
    ("test_constantofshape_float_ones", ["x"]),
    ("test_range_float_type_positive_delta", ["delta", "limit", "start"]),
    ("test_top_k", ["k"]),
    ("test_clip", ["max", "min"]),
    ("test_gather_0", []),
])
def test_shape_operand_inputs(case, bound):
    assert rnt.shape_operand_inputs(_model(case)) == bound


def test_input_used_as_data_and_shape_is_not_bound():
    from onnx import TensorProto, helper
    s = helper.make_tensor_value_info("s", TensorProto.INT64, [2])
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    z = helper.make_tensor_value_info("z", TensorProto.INT64, None)
    nodes = [helper.make_node("Reshape", ["x", "s"], ["y"]),
             helper.make_node("Neg", ["s"], ["z"])]
    model = helper.make_model(helper.make_graph(nodes, "g", [x, s], [y, z]))
    assert rnt.shape_operand_inputs(model) == []


@needs_data
def test_read_data_set_maps_files_to_inputs():
    model = _model("test_add")
    inputs, outputs = rnt.read_data_set(os.path.join(DATA, "test_add", "test_data_set_0"), model)
    assert sorted(inputs) == ["x", "y"]
    assert [n for n, _ in outputs] == ["sum"]
    np.testing.assert_allclose(inputs["x"] + inputs["y"], outputs[0][1], rtol=1e-6)


@needs_data
def test_every_case_is_readable():
    cases = rnt.list_cases(DATA)
    assert len(cases) > 900
    for case in cases:
        rnt.describe_case(os.path.join(DATA, case))


def test_compare():
    a = np.array([1.0, 2.0, np.nan], np.float32)
    assert rnt.compare("y", a, a.copy()) is None
    assert rnt.compare("y", a, a * (1 + 5e-4)) is None
    msg = rnt.compare("y", a, a * 1.01)
    assert "output 'y'" in msg and "2 of 3" in msg
    assert "dtype" in rnt.compare("y", a, a.astype(np.float64))
    assert "shape" in rnt.compare("y", a, a.reshape(3, 1))
    assert "nan" in rnt.compare("y", a, np.array([1, 2, 3], np.float32)).lower()
    i = np.array([1, 2, 3], np.int64)
    assert rnt.compare("i", i, i.copy()) is None
    assert "1 of 3" in rnt.compare("i", i, np.array([1, 2, 4], np.int64))
    assert rnt.compare("b", np.array([True]), np.array([True])) is None


def test_sequence_and_optional_outputs_are_flattened():
    a, b = np.zeros(2), np.ones(3)
    flat, problem = rnt.flatten_outputs([("s", [a, b]), ("t", a), ("o", None)],
                                        {"s[0]": a, "s[1]": b, "t": a})
    assert problem is None
    assert [n for n, _ in flat] == ["s[0]", "s[1]", "t"]
    # Elements beyond the expected length, or a value for an empty optional,
    # are a failure naming them.
    _, problem = rnt.flatten_outputs([("s", [a])], {"s[0]": a, "s[1]": b})
    assert "'s' should have 1 elements" in problem and "s[1]" in problem
    _, problem = rnt.flatten_outputs([("o", None)], {"o": a})
    assert "'o' should have 0 elements" in problem


def test_select_cases(tmp_path):
    cases = ["test_add", "test_add_bcast", "test_relu", "test_abs"]
    assert rnt.select_cases(cases, "^test_add") == ["test_add", "test_add_bcast"]
    lst = tmp_path / "list.txt"
    lst.write_text("test_relu  # comment\n\ntest_abs\n")
    assert rnt.select_cases(cases, None, str(lst)) == ["test_relu", "test_abs"]
    lst.write_text("test_nope\n")
    with pytest.raises(SystemExit, match="test_nope"):
        rnt.select_cases(cases, None, str(lst))


def test_missing_tools_is_an_error(tmp_path):
    proc = subprocess.run([sys.executable, RUNNER, "--build-dir", str(tmp_path),
                           "--filter", "test_add$"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "pmc-opt" in proc.stderr
