"""Plans that computed wrong numbers or failed to compile on real models, each in
its smallest form, against onnxruntime: every plan computes what one device does."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper


def _conv_chain(channels, group2, bias2, seed=0):
    """Conv 3->C (3x3), then Conv C->4 (1x1) of `group2` groups, with or without
    a bias: the shape of ResNet's and MobileNet's blocks."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((channels, 3, 3, 3)).astype(np.float32)
    w2 = rng.standard_normal((4 * group2, channels // group2, 1, 1)).astype(np.float32)
    inits = [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")]
    conv2_inputs = ["h", "w2"]
    if bias2:
        inits.append(numpy_helper.from_array(rng.standard_normal(4 * group2).astype(np.float32),
                                             "b2"))
        conv2_inputs.append("b2")
    nodes = [helper.make_node("Conv", ["x", "w1"], ["h"], pads=[1, 1, 1, 1]),
             helper.make_node("Conv", conv2_inputs, ["y"], group=group2)]
    graph = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4 * group2, 8, 8])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _depthwise(channels, seed=0):
    """Conv 3->C, depthwise 3x3 conv (group C) with a bias, ReLU: MobileNetV2."""
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.standard_normal((channels, 3, 1, 1)).astype(np.float32), "w1"),
             numpy_helper.from_array(rng.standard_normal((channels, 1, 3, 3)).astype(np.float32), "wd"),
             numpy_helper.from_array(rng.standard_normal(channels).astype(np.float32), "bd")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["h"]),
             helper.make_node("Conv", ["h", "wd", "bd"], ["d"], group=channels, pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["d"], ["y"])]
    graph = helper.make_graph(
        nodes, "dw", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, channels, 8, 8])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _check(pmc_module, model, **options):
    x = np.random.default_rng(1).standard_normal((2, 3, 8, 8)).astype(np.float32)
    expected = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    exe = pmc_module.compile(model, **options)
    got = exe.run_dict({"x": x})["y"]
    error = np.abs(got - expected).max() / np.abs(expected).max()
    assert error < 1e-5, f"relative error {error:.3g} with plan:\n{exe.plan}"
    return exe


@pytest.mark.parametrize("tp", [2, 4])
@pytest.mark.parametrize("bias", [True, False])
def test_row_parallel_conv_bias_added_once(pmc_module, tp, bias):
    """ResNet-50 at 4 devices: the first conv's filters split, so the next 1x1
    conv reduces over split channels; its bias was added on every rank before
    the all-reduce (relative error 0.43). Now each rank adds a 1/tp share."""
    _check(pmc_module, _conv_chain(8, 1, bias), devices=tp, mesh={"tp": tp},
           shardings={"w1": ("tp", None, None, None)})


@pytest.mark.parametrize("devices", [2, 4])
def test_grouped_conv_split_on_groups(pmc_module, devices):
    """A grouped conv whose input channels arrive split: each rank convolves
    whole groups, with `group` counting its own."""
    _check(pmc_module, _conv_chain(8, 4, True), devices=devices, mesh={"tp": devices},
           shardings={"w1": ("tp", None, None, None), "w2": ("tp", None, None, None)})


@pytest.mark.parametrize("devices", [2, 4, 8])
def test_depthwise_conv_split_on_channels(pmc_module, devices):
    """MobileNetV2 at 4 devices did not compile ("group 32 must divide the 32
    input channels and the 16 filters"): the planner chose a channel split the
    partitioner could not build. The rule now scales `group` with the split."""
    _check(pmc_module, _depthwise(8), devices=devices, mesh={"tp": devices},
           shardings={"wd": ("tp", None, None, None)})


@pytest.mark.parametrize("devices", [2, 4, 8])
def test_planner_plans_of_conv_blocks(pmc_module, devices):
    """Whatever the planner picks for these blocks compiles and is right."""
    for model in (_conv_chain(8, 1, True), _conv_chain(8, 4, True), _depthwise(8)):
        _check(pmc_module, model, devices=devices)


def test_reshape_merging_the_batch_as_the_minor_factor(pmc_module):
    """ViT (torchvision, dynamo export) at 2 devices was wrong: Reshape [34, 64]
    -> [17, 2, 64] makes the batch the minor factor of dim 0, so a batch split
    of the result is no block of the input. The reshape now computes with the
    legal part of the split and the result is resharded after it."""
    rng = np.random.default_rng(0)
    shape = numpy_helper.from_array(np.array([17, 2, 64], np.int64), "shape")
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["r"]),
             helper.make_node("Transpose", ["r"], ["t"], perm=[1, 0, 2]),
             helper.make_node("Add", ["t", "a"], ["y"])]
    graph = helper.make_graph(
        nodes, "vit_tokens",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [34, 64]),
         helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 17, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 17, 64])], [shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    feeds = {"x": rng.standard_normal((34, 64)).astype(np.float32),
             "a": rng.standard_normal((2, 17, 64)).astype(np.float32)}
    expected = ort.InferenceSession(model.SerializeToString()).run(None, feeds)[0]
    for options in ({"devices": 2, "mesh": {"dp": 2}, "shardings": {"a": ("dp", None, None)}},
                    {"devices": 2}, {"devices": 4}):
        got = pmc_module.compile(model, **options).run_dict(feeds)["y"]
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6, err_msg=str(options))
