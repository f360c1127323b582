"""If, Loop and Scan beyond the backend suites, against onnxruntime: pmc
resolves control flow while importing (a constant condition picks its branch,
loops with a compile-time trip count unroll), so these check the cases the
suites leave out (run-time conditions, outer-scope names, initializers inside
bodies, nesting, reverse scans, early exits) and the errors for what pmc
cannot unroll."""

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import assert_clean_failure, run_tool

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
RNG = np.random.default_rng(7)


def _model(nodes, inputs, outputs, inits=(), opset=18):
    graph = helper.make_graph(nodes, "control_flow", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=8)


def _vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def _check(pmc_module, model, feeds, **compile_args):
    expected = ort.InferenceSession(model.SerializeToString(),
                                    providers=["CPUExecutionProvider"]).run(None, feeds)
    got = pmc_module.compile(model, **compile_args).run_dict(feeds)
    names = [o.name for o in model.graph.output]
    for name, ref in zip(names, expected):
        assert got[name].dtype == ref.dtype and got[name].shape == ref.shape, name
        np.testing.assert_allclose(got[name], ref, rtol=1e-5, atol=1e-6, err_msg=name)


def _branches(then_op="Add", else_op="Sub", else_shape=(2, 3)):
    """then: x op y; else: x op y, both reading the outer graph's x and y."""
    then_g = helper.make_graph([helper.make_node(then_op, ["x", "y"], ["t"])], "then", [],
                               [_vi("t", F, [2, 3])])
    else_g = helper.make_graph([helper.make_node(else_op, ["x", "y"], ["e"])], "else", [],
                               [_vi("e", F, list(else_shape))])
    return then_g, else_g


def test_if_with_run_time_condition_selects(pmc_module):
    """A condition that is a graph input: both branches run, pmc.where picks."""
    then_g, else_g = _branches()
    model = _model([helper.make_node("If", ["c"], ["z"], then_branch=then_g,
                                     else_branch=else_g)],
                   [_vi("c", B, []), _vi("x", F, [2, 3]), _vi("y", F, [2, 3])],
                   [_vi("z", F, [2, 3])])
    x, y = RNG.standard_normal((2, 3), np.float32), RNG.standard_normal((2, 3), np.float32)
    for c in (True, False):
        _check(pmc_module, model, {"c": np.array(c), "x": x, "y": y})


def test_if_with_bound_condition_imports_one_branch(pmc_module, pmc_opt, tmp_path):
    """A bound condition folds: only the taken branch is in the program, so
    its shape may differ from the other branch's."""
    then_g = helper.make_graph([helper.make_node("Add", ["x", "y"], ["t"])], "then", [],
                               [_vi("t", F, [2, 3])])
    else_g = helper.make_graph([helper.make_node("ReduceSum", ["x"], ["e"], keepdims=0)],
                               "else", [], [_vi("e", F, [])])
    model = _model([helper.make_node("If", ["c"], ["z"], then_branch=then_g,
                                     else_branch=else_g)],
                   [_vi("c", B, []), _vi("x", F, [2, 3]), _vi("y", F, [2, 3])],
                   [_vi("z", F, None)])
    x, y = RNG.standard_normal((2, 3), np.float32), RNG.standard_normal((2, 3), np.float32)
    for c in (True, False):
        got = pmc_module.compile(model, bind={"c": np.array(c)}).run_dict({"x": x, "y": y})
        np.testing.assert_allclose(got["z"], x + y if c else x.sum(), rtol=1e-5)
    # Unbound, the branches disagree: an error naming both types.
    path = tmp_path / "if.onnx"
    path.write_bytes(model.SerializeToString())
    assert_clean_failure(run_tool([pmc_opt, "compile", path, "-o", tmp_path / "o.pmc"]),
                         "If", "then_branch", "else_branch", "--bind")


def test_loop_carried_state_scan_output_and_early_exit(pmc_module):
    """Loop with M = 6 whose body stops when the iteration number reaches 3;
    the body reads an outer value and its own initializer, and nests an If on
    the (constant) iteration number."""
    three = numpy_helper.from_array(np.array(3, np.int64), "three")
    half = numpy_helper.from_array(np.array(0.5, np.float32), "half")
    inner_then = helper.make_graph([helper.make_node("Mul", ["s_in", "w"], ["it"])],
                                   "odd", [], [_vi("it", F, [4])])
    inner_else = helper.make_graph([helper.make_node("Add", ["s_in", "w"], ["ie"])],
                                   "even", [], [_vi("ie", F, [4])])
    body = helper.make_graph(
        [helper.make_node("Mod", ["i", "two"], ["parity"]),
         helper.make_node("Cast", ["parity"], ["odd"], to=B),
         helper.make_node("If", ["odd"], ["step"], then_branch=inner_then,
                          else_branch=inner_else),
         helper.make_node("Mul", ["step", "half"], ["s_out"]),
         helper.make_node("Less", ["i", "three"], ["go_on"]),
         helper.make_node("ReduceSum", ["s_out"], ["total"], keepdims=1)],
        "body", [_vi("i", I64, []), _vi("cond", B, []), _vi("s_in", F, [4])],
        [_vi("go_on", B, []), _vi("s_out", F, [4]), _vi("total", F, [1])],
        [half, numpy_helper.from_array(np.array(2, np.int64), "two")])
    model = _model([helper.make_node("Loop", ["m", "c0", "s0"], ["s", "totals"], body=body)],
                   [_vi("s0", F, [4]), _vi("w", F, [4])], [_vi("s", F, [4]),
                                                            _vi("totals", F, None)],
                   [numpy_helper.from_array(np.array(6, np.int64), "m"),
                    numpy_helper.from_array(np.array(True), "c0"), three])
    feeds = {"s0": RNG.standard_normal(4, np.float32), "w": RNG.standard_normal(4, np.float32)}
    _check(pmc_module, model, feeds)


def test_loop_trip_count_from_an_input_names_it(pmc_module, pmc_opt, tmp_path):
    body = helper.make_graph([helper.make_node("Identity", ["cond"], ["c_out"]),
                              helper.make_node("Add", ["v", "v"], ["v_out"])],
                             "body", [_vi("i", I64, []), _vi("cond", B, []), _vi("v", F, [2])],
                             [_vi("c_out", B, []), _vi("v_out", F, [2])])
    model = _model([helper.make_node("Loop", ["n", "", "v0"], ["v"], body=body)],
                   [_vi("n", I64, []), _vi("v0", F, [2])], [_vi("v", F, [2])])
    path = tmp_path / "loop.onnx"
    path.write_bytes(model.SerializeToString())
    assert_clean_failure(run_tool([pmc_opt, "compile", path, "-o", tmp_path / "o.pmc"]),
                         "Loop", "trip count", "'n'", "--bind")
    v0 = RNG.standard_normal(2, np.float32)
    got = pmc_module.compile(model, bind={"n": np.array(3, np.int64)}).run_dict({"v0": v0})
    np.testing.assert_allclose(got["v"], v0 * 8, rtol=1e-6)


@pytest.mark.parametrize("in_axis,in_dir,out_axis,out_dir", [
    (0, 0, 0, 0), (1, 1, 0, 0), (-1, 0, 1, 1), (1, 0, -1, 1)])
def test_scan_axes_and_directions(pmc_module, in_axis, in_dir, out_axis, out_dir):
    """A running sum and a running product over one scan input, with the scan
    and output axes and directions of opset 9+."""
    body = helper.make_graph(
        [helper.make_node("Add", ["acc", "x_t"], ["acc_out"]),
         helper.make_node("Mul", ["acc_out", "x_t"], ["y_t"])],
        "body", [_vi("acc", F, [3]), _vi("x_t", F, [3])],
        [_vi("acc_out", F, [3]), _vi("y_t", F, [3])])
    x = RNG.standard_normal((5, 3) if in_axis == 0 else (3, 5), np.float32)
    model = _model([helper.make_node("Scan", ["acc0", "x"], ["acc", "ys"], body=body,
                                     num_scan_inputs=1, scan_input_axes=[in_axis],
                                     scan_input_directions=[in_dir],
                                     scan_output_axes=[out_axis],
                                     scan_output_directions=[out_dir])],
                   [_vi("acc0", F, [3]), _vi("x", F, list(x.shape))],
                   [_vi("acc", F, [3]), _vi("ys", F, None)])
    _check(pmc_module, model, {"acc0": RNG.standard_normal(3, np.float32), "x": x})


def test_scan8_batched(pmc_module):
    """Scan-8: batch axis 0 everywhere, scan axis 1, no sequence_lens."""
    body = helper.make_graph(
        [helper.make_node("Add", ["acc", "x_t"], ["acc_out"]),
         helper.make_node("Identity", ["acc_out"], ["y_t"])],
        "body", [_vi("acc", F, [2]), _vi("x_t", F, [2])],
        [_vi("acc_out", F, [2]), _vi("y_t", F, [2])])
    model = _model([helper.make_node("Scan", ["", "acc0", "x"], ["acc", "ys"], body=body,
                                     num_scan_inputs=1, directions=[1])],
                   [_vi("acc0", F, [3, 2]), _vi("x", F, [3, 4, 2])],
                   [_vi("acc", F, [3, 2]), _vi("ys", F, [3, 4, 2])], opset=8)
    _check(pmc_module, model, {"acc0": RNG.standard_normal((3, 2), np.float32),
                               "x": RNG.standard_normal((3, 4, 2), np.float32)})


def test_loop_planned_on_two_devices(pmc_module):
    """An unrolled loop is ordinary dataflow: it plans and partitions."""
    w = numpy_helper.from_array(RNG.standard_normal((8, 8)).astype(np.float32) / 3, "w")
    body = helper.make_graph([helper.make_node("Identity", ["cond"], ["c_out"]),
                              helper.make_node("MatMul", ["h", "w"], ["hw"]),
                              helper.make_node("Tanh", ["hw"], ["h_out"])],
                             "body", [_vi("i", I64, []), _vi("cond", B, []),
                                      _vi("h", F, [4, 8])],
                             [_vi("c_out", B, []), _vi("h_out", F, [4, 8])])
    model = _model([helper.make_node("Loop", ["m", "", "x"], ["h"], body=body)],
                   [_vi("x", F, [4, 8])], [_vi("h", F, [4, 8])],
                   [w, numpy_helper.from_array(np.array(3, np.int64), "m")])
    _check(pmc_module, model, {"x": RNG.standard_normal((4, 8), np.float32)}, devices=2)
