"""Models as today's tools write them, against onnxruntime at 1 and 4 devices:

* BERT and GPT-2 exported by torch's default exporter (dynamo) with dynamic
  batch and sequence dims (test/corpus/models/*_dyn.onnx, written by
  test/corpus/export_models.py): their Shape -> Gather -> Concat -> Reshape
  chains fold once input_shapes fixes the dims, at more than one shape.
* A Llama-style decoder block of opset 23 written with onnx.helper: the
  Attention operator (grouped-query heads, causal) and RMSNormalization.
"""

import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO_ROOT, "test", "corpus"))

import corpus  # noqa: E402


def _onnxruntime(model, feeds):
    session = ort.InferenceSession(corpus.for_onnxruntime(model).SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


def _text_feeds(model, batch, sequence, rng):
    vocab = corpus.vocabulary_size(model)
    ids = rng.integers(0, vocab, size=(batch, sequence), dtype=np.int64)
    mask = np.ones((batch, sequence), np.int64)
    mask[-1, sequence - 2:] = 0  # a padded row
    return {"input_ids": ids, "attention_mask": mask}


def _dynamic_export(name):
    model = onnx.load(os.path.join(corpus.MODELS_DIR, f"{name}_dyn.onnx"))
    corpus.fill_skeleton(model, np.random.default_rng(5))
    for vi in model.graph.input:
        dims = [d.dim_param for d in vi.type.tensor_type.shape.dim]
        assert dims == ["batch", "sequence"], f"{name}_dyn.onnx: {vi.name} has dims {dims}"
    return model


@pytest.mark.parametrize("name", ["bert", "gpt2"])
@pytest.mark.parametrize("devices", [1, 4])
@pytest.mark.parametrize("batch,sequence", [(2, 16), (4, 8)])
def test_dynamic_dynamo_export_matches_onnxruntime(pmc_module, name, devices, batch, sequence):
    model = _dynamic_export(name)
    feeds = _text_feeds(model, batch, sequence, np.random.default_rng(batch * 100 + sequence))
    want = _onnxruntime(model, feeds)
    exe = pmc_module.compile(model, devices=devices,
                             input_shapes={n: v.shape for n, v in feeds.items()})
    got = exe.run_dict(feeds)
    assert set(got) == set(want)
    for key, value in want.items():
        assert got[key].shape == value.shape, key
        np.testing.assert_allclose(got[key], value, rtol=2e-4, atol=2e-4, err_msg=key)


def test_dynamic_dims_not_fixed_are_named(pmc_module):
    model = _dynamic_export("bert")
    with pytest.raises(pmc_module.CompileError, match=r"input_ids.*dimension 0.*batch"):
        pmc_module.compile(model)


# --- opset 23: Attention and RMSNormalization ------------------------------------

HIDDEN, Q_HEADS, KV_HEADS, FFN = 32, 4, 2, 64
HEAD = HIDDEN // Q_HEADS


def _llama_block(rng):
    """x [batch, sequence, HIDDEN] -> RMSNorm -> causal GQA Attention -> + x
    -> RMSNorm -> SiLU MLP -> +: a decoder block in opset 23 operators."""
    def weight(name, *shape, scale=None):
        scale = scale or 1.0 / np.sqrt(shape[0])
        return numpy_helper.from_array((scale * rng.standard_normal(shape)).astype(np.float32),
                                       name)

    inits = [
        weight("norm1", HIDDEN, scale=1.0), weight("norm2", HIDDEN, scale=1.0),
        weight("wq", HIDDEN, Q_HEADS * HEAD), weight("wk", HIDDEN, KV_HEADS * HEAD),
        weight("wv", HIDDEN, KV_HEADS * HEAD), weight("wo", HIDDEN, HIDDEN),
        weight("w_gate", HIDDEN, FFN), weight("w_up", HIDDEN, FFN),
        weight("w_down", FFN, HIDDEN),
    ]
    nodes = [
        helper.make_node("RMSNormalization", ["x", "norm1"], ["h1"], axis=-1, epsilon=1e-5),
        helper.make_node("MatMul", ["h1", "wq"], ["q"]),
        helper.make_node("MatMul", ["h1", "wk"], ["k"]),
        helper.make_node("MatMul", ["h1", "wv"], ["v"]),
        helper.make_node("Attention", ["q", "k", "v"], ["attn"], q_num_heads=Q_HEADS,
                         kv_num_heads=KV_HEADS, is_causal=1),
        helper.make_node("MatMul", ["attn", "wo"], ["proj"]),
        helper.make_node("Add", ["x", "proj"], ["r1"]),
        helper.make_node("RMSNormalization", ["r1", "norm2"], ["h2"], axis=-1, epsilon=1e-5),
        helper.make_node("MatMul", ["h2", "w_gate"], ["gate"]),
        helper.make_node("Sigmoid", ["gate"], ["gate_sig"]),
        helper.make_node("Mul", ["gate", "gate_sig"], ["silu"]),
        helper.make_node("MatMul", ["h2", "w_up"], ["up"]),
        helper.make_node("Mul", ["silu", "up"], ["act"]),
        helper.make_node("MatMul", ["act", "w_down"], ["down"]),
        helper.make_node("Add", ["r1", "down"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "llama_block",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "sequence", HIDDEN])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "sequence", HIDDEN])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 23)],
                              ir_version=10)
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.mark.parametrize("devices", [1, 4])
@pytest.mark.parametrize("batch,sequence", [(4, 8), (2, 5)])
def test_opset23_attention_rmsnorm_block_matches_onnxruntime(pmc_module, devices, batch,
                                                             sequence):
    rng = np.random.default_rng(23)
    model = _llama_block(rng)
    x = rng.standard_normal((batch, sequence, HIDDEN)).astype(np.float32)
    want = _onnxruntime(model, {"x": x})["y"]
    exe = pmc_module.compile(model, devices=devices, input_shapes={"x": x.shape})
    got = exe.run_dict({"x": x})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
