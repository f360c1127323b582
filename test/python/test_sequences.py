"""Sequences and optionals through the Python API, against onnxruntime: a
sequence graph input of a length given at compile time (its elements are the
inputs "s[i]"), sequence operators inside the graph and in a Loop, and a
sequence output (its elements come back as "name[i]")."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


def _sequence_model():
    """s: a sequence of [2, 4] tensors. y = ConcatFromSequence(SequenceMap(s,
    relu(e) * w)) along a new axis 0; rest = s without its first element plus
    the rows of w; n = its length."""
    body = helper.make_graph(
        [helper.make_node("Relu", ["e"], ["r"]), helper.make_node("Mul", ["r", "w_in"], ["o"])],
        "body", [helper.make_tensor_value_info("e", F, [2, 4]),
                 helper.make_tensor_value_info("w_in", F, [2, 4])],
        [helper.make_tensor_value_info("o", F, [2, 4])])
    nodes = [
        helper.make_node("SequenceMap", ["s", "w"], ["mapped"], body=body),
        helper.make_node("ConcatFromSequence", ["mapped"], ["y"], axis=0, new_axis=1),
        helper.make_node("SequenceErase", ["s", "zero"], ["tail"]),
        helper.make_node("SplitToSequence", ["w"], ["w_rows"], axis=0),
        helper.make_node("SequenceAt", ["w_rows", "one"], ["w_row"]),
        helper.make_node("Expand", ["w_row", "shape"], ["w_row2"]),
        helper.make_node("SequenceInsert", ["tail", "w_row2"], ["rest"]),
        helper.make_node("SequenceLength", ["rest"], ["n"]),
    ]
    w = np.linspace(-1.0, 1.0, 8, dtype=np.float32).reshape(2, 4)
    graph = helper.make_graph(
        nodes, "sequences",
        [helper.make_tensor_sequence_value_info("s", F, [2, 4])],
        [helper.make_tensor_value_info("y", F, None),
         helper.make_tensor_sequence_value_info("rest", F, None),
         helper.make_tensor_value_info("n", TensorProto.INT64, [])],
        initializer=[numpy_helper.from_array(w, "w"),
                     numpy_helper.from_array(np.array(0, np.int64), "zero"),
                     numpy_helper.from_array(np.array(1, np.int64), "one"),
                     numpy_helper.from_array(np.array([2, 4], np.int64), "shape")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)


@pytest.mark.parametrize("devices", [1, 2])
@pytest.mark.parametrize("length", [1, 3])
def test_sequence_input_and_output_match_onnxruntime(pmc_module, devices, length):
    rng = np.random.default_rng(length)
    model = _sequence_model()
    s = [rng.standard_normal((2, 4)).astype(np.float32) for _ in range(length)]
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want_y, want_rest, want_n = session.run(None, {"s": s})
    exe = pmc_module.compile(model, devices=devices, sequence_lengths={"s": length})
    got = exe.run_dict({f"s[{i}]": e for i, e in enumerate(s)})
    np.testing.assert_allclose(got["y"], want_y, rtol=1e-6)
    assert int(got["n"]) == int(want_n) == length
    assert sorted(k for k in got if k.startswith("rest[")) == \
        [f"rest[{i}]" for i in range(len(want_rest))]
    for i, e in enumerate(want_rest):
        np.testing.assert_allclose(got[f"rest[{i}]"], e, rtol=1e-6)


def test_sequence_input_needs_its_length(pmc_module):
    with pytest.raises(pmc_module.CompileError, match=r"--sequence-length s=N"):
        pmc_module.compile(_sequence_model())
    with pytest.raises(pmc_module.CompileError, match=r"'x'.*not a sequence"):
        pmc_module.compile(_sequence_model(), sequence_lengths={"s": 1, "x": 2})
    with pytest.raises(pmc_module.CompileError, match=r"--absent names 's'.*not an optional"):
        pmc_module.compile(_sequence_model(), sequence_lengths={"s": 1}, absent=["s"])


def _optional_model():
    """y = x + 1 when the optional input `o` has a value, else x."""
    then_branch = helper.make_graph(
        [helper.make_node("OptionalGetElement", ["o"], ["v"]),
         helper.make_node("Add", ["x", "v"], ["r"])],
        "then", [], [helper.make_tensor_value_info("r", F, [3])])
    else_branch = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["r2"])], "else", [],
        [helper.make_tensor_value_info("r2", F, [3])])
    graph = helper.make_graph(
        [helper.make_node("OptionalHasElement", ["o"], ["has"]),
         helper.make_node("If", ["has"], ["y"], then_branch=then_branch,
                          else_branch=else_branch)],
        "optional",
        [helper.make_tensor_value_info("x", F, [3]),
         helper.make_value_info("o", helper.make_optional_type_proto(
             helper.make_tensor_type_proto(F, [3])))],
        [helper.make_tensor_value_info("y", F, [3])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)


def test_optional_input_present_or_absent(pmc_module):
    x = np.array([1.0, -2.0, 3.0], np.float32)
    o = np.array([10.0, 20.0, 30.0], np.float32)
    present = pmc_module.compile(_optional_model())
    np.testing.assert_array_equal(present.run_dict({"x": x, "o": o})["y"], x + o)
    absent = pmc_module.compile(_optional_model(), absent=["o"])
    np.testing.assert_array_equal(absent.run_dict({"x": x})["y"], x)
