"""The zoo models themselves (no pmc needed): valid, deterministic, and computing
what they claim, checked in onnxruntime."""

import numpy as np
import onnx
import pytest

import make_zoo


@pytest.mark.parametrize("name", make_zoo.MODEL_NAMES)
def test_model_is_valid_and_runs(name, zoo):
    model = onnx.load(zoo[name])
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == make_zoo.OPSET
    outs = make_zoo.run_onnxruntime(zoo[name], make_zoo.make_inputs(model))
    for value in outs.values():
        assert value.dtype == np.float32
        assert np.isfinite(value).all()
        assert value.std() > 1e-3, "outputs are not degenerate"


@pytest.mark.parametrize("name", make_zoo.MODEL_NAMES)
def test_generation_is_deterministic(name):
    build = make_zoo.BUILDERS[name]
    assert build().SerializeToString() == build().SerializeToString()


def test_expected_ops_present(zoo):
    ops = {n: {node.op_type for node in onnx.load(p).graph.node} for n, p in zoo.items()}
    assert {"Gemm", "MatMul", "Add", "Relu"} <= ops["mlp"]
    assert {"Conv", "BatchNormalization", "MaxPool", "GlobalAveragePool", "Flatten",
            "Gemm", "Add"} <= ops["resnet_cnn"]
    assert {"MatMul", "Reshape", "Transpose", "Softmax", "Div", "LayerNormalization",
            "Erf"} <= ops["transformer_encoder"]
    assert {"Gather", "Where", "LayerNormalization", "Softmax", "MatMul"} <= ops["gpt_decoder"]


def test_gpt_decoder_is_causal(zoo):
    """Changing the last token leaves the logits of earlier positions unchanged."""
    model = onnx.load(zoo["gpt_decoder"])
    feeds = make_zoo.make_inputs(model, seed=7)
    ids = feeds["input_ids"].copy()
    base = make_zoo.run_onnxruntime(zoo["gpt_decoder"], {"input_ids": ids})["logits"]
    ids[:, -1] = (ids[:, -1] + 1) % 50
    changed = make_zoo.run_onnxruntime(zoo["gpt_decoder"], {"input_ids": ids})["logits"]
    np.testing.assert_allclose(base[:, :-1], changed[:, :-1], rtol=1e-5, atol=1e-6)
    assert np.abs(base[:, -1] - changed[:, -1]).max() > 1e-4


def test_mlp_matches_numpy(zoo):
    """The MLP is the three-layer network it says it is."""
    model = onnx.load(zoo["mlp"])
    w = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    feeds = make_zoo.make_inputs(model, seed=2)
    x = feeds["x"].astype(np.float64)
    h = np.maximum(x @ w["fc1_w_0"].T + w["fc1_b_0"], 0)
    h = np.maximum(h @ w["fc2_w_0"] + w["fc2_b_0"], 0)
    y = h @ w["fc3_w_0"] + w["fc3_b_0"]
    got = make_zoo.run_onnxruntime(zoo["mlp"], feeds)["y"]
    np.testing.assert_allclose(got, y, rtol=1e-4, atol=1e-5)


def test_dynamic_batch_variant_and_scale():
    model = make_zoo.make_mlp(batch="N", scale=2)
    dim = model.graph.input[0].type.tensor_type.shape.dim
    assert dim[0].dim_param == "N" and dim[1].dim_value == 128
    with pytest.raises(ValueError, match="symbolic"):
        make_zoo.make_inputs(model)
    assert make_zoo.make_inputs(model, shapes={"x": (5, 128)})["x"].shape == (5, 128)
