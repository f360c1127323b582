"""Dropout in a train step: masks drawn by pmc.random_uniform
(Philox-4x32-10, lib/Conversion/PMCToLinalg/Random.cpp) from the step
counter, so a step draws the same mask on every device count and after a
checkpoint is resumed, and each step draws a new one."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK32 = 0xFFFFFFFF


def philox4x32_10(counter, key):
    """Numpy Philox-4x32-10 (Random123): counter a (4, n) uint64 array of
    32-bit words, key two ints; returns the four (n,) output words."""
    c = [np.asarray(w, np.uint64) & MASK32 for w in counter]
    k0, k1 = key[0] & MASK32, key[1] & MASK32
    for _ in range(10):
        p0 = np.uint64(M0) * c[0]
        p1 = np.uint64(M1) * c[2]
        hi0, lo0 = p0 >> np.uint64(32), p0 & np.uint64(MASK32)
        hi1, lo1 = p1 >> np.uint64(32), p1 & np.uint64(MASK32)
        c = [hi1 ^ c[1] ^ np.uint64(k0), lo1, hi0 ^ c[3] ^ np.uint64(k1), lo0]
        k0, k1 = (k0 + W0) & MASK32, (k1 + W1) & MASK32
    return c


def test_numpy_philox_matches_the_random123_known_answers():
    """Known-answer vectors of Random123 (kat_vectors, philox4x32_10)."""
    cases = [
        ([0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
        ([MASK32] * 4, [MASK32, MASK32], [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
        ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
         [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
    ]
    for counter, key, expected in cases:
        out = philox4x32_10([[w] for w in counter], key)
        assert [int(w[0]) for w in out] == expected


def _uniform_reference(shape, offset, key):
    n = int(np.prod(shape))
    index = np.arange(n, dtype=np.uint64)
    counter = [index & np.uint64(MASK32), index >> np.uint64(32),
               np.full(n, offset & MASK32, np.uint64), np.full(n, offset >> 32, np.uint64)]
    word = philox4x32_10(counter, [key & MASK32, (key >> 32) & MASK32])[0]
    return ((word >> np.uint64(8)).astype(np.float32) * np.float32(2.0 ** -24)).reshape(shape)


@pytest.mark.parametrize("offset_type", ["f32", "i64"])
@pytest.mark.parametrize("devices,plan", [(1, "auto"), (2, "random:3"), (4, "random:5")])
def test_random_uniform_draws_philox(pmc_module, tmp_path, offset_type, devices, plan):
    """pmc.random_uniform equals the numpy Philox, whole on every rank of
    any plan (the rule keeps every dimension whole), and feeds a sharded
    consumer its block."""
    key = 0x0123456789ABCDEF
    shape = (6, 40)
    signed_key = key - (1 << 64) if key >= 1 << 63 else key
    path = tmp_path / "random.mlir"
    path.write_text(f"""
func.func @main(%t: tensor<{offset_type}> {{pmc.name = "t"}}, %x: tensor<6x40xf32> {{pmc.name = "x"}})
    -> (tensor<6x40xf32> {{pmc.name = "u"}}, tensor<6x40xf32> {{pmc.name = "y"}}) {{
  %u = pmc.random_uniform %t {{key = {signed_key} : i64}} : (tensor<{offset_type}>) -> tensor<6x40xf32>
  %y = pmc.mul %u, %x : (tensor<6x40xf32>, tensor<6x40xf32>) -> tensor<6x40xf32>
  return %u, %y : tensor<6x40xf32>, tensor<6x40xf32>
}}
""")
    exe = pmc_module.compile(str(path), devices=devices, plan=plan)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    for offset in (0, 1, 12345):
        t = np.array(offset, np.float32 if offset_type == "f32" else np.int64)
        out = exe.run_dict({"t": t, "x": x})
        expected = _uniform_reference(shape, offset, key)
        np.testing.assert_array_equal(out["u"], expected)
        np.testing.assert_array_equal(out["y"], expected * x)
    assert 0.0 <= expected.min() and expected.max() < 1.0


N, D, H = 16, 6, 32


def _mlp(ratio=0.3, opset=17):
    """x [N, D] -> MatMul w1 -> Relu -> Dropout(ratio) -> MatMul w2 -> y [N, 1]."""
    rng = np.random.default_rng(3)
    init = {"w1": (rng.standard_normal((D, H)) / np.sqrt(D)).astype(np.float32),
            "w2": (rng.standard_normal((H, 1)) / np.sqrt(H)).astype(np.float32)}
    inits = [numpy_helper.from_array(v, k) for k, v in init.items()]
    if opset >= 12:
        inits.append(numpy_helper.from_array(np.array(ratio, np.float32), "ratio"))
        dropout = helper.make_node("Dropout", ["r", "ratio"], ["d"])
    else:
        dropout = helper.make_node("Dropout", ["r"], ["d"], ratio=ratio)
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]),
             helper.make_node("Relu", ["h"], ["r"]), dropout,
             helper.make_node("MatMul", ["d", "w2"], ["y"])]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [N, D])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [N, 1])],
                              initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def _dropped_parameter_model(ratio, size=20000):
    """loss = sum(Dropout(w) * c): the gradient of w is exactly mask / (1 - ratio) * c,
    so one SGD step with lr 1 reveals the mask."""
    w = np.zeros(size, np.float32)
    c = np.full(size, 1.0, np.float32)
    nodes = [helper.make_node("Dropout", ["w", "ratio"], ["d"]),
             helper.make_node("Mul", ["d", "c"], ["dc"]),
             helper.make_node("ReduceSum", ["dc"], ["loss"], keepdims=0)]
    graph = helper.make_graph(
        nodes, "dropw", [], [helper.make_tensor_value_info("loss", TensorProto.FLOAT, [])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(c, "c"),
                     numpy_helper.from_array(np.array(ratio, np.float32), "ratio")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _masks(pmc, ratio, steps, devices=1, plan="auto"):
    trainer = pmc.compile_training(_dropped_parameter_model(ratio), loss="output:loss",
                                   optimizer=pmc.SGD(lr=1.0), devices=devices, plan=plan,
                                   frozen=["c"])
    masks, before = [], trainer.parameters()["w"]
    for _ in range(steps):
        trainer.step({})
        after = trainer.parameters()["w"]
        masks.append(before - after)
        before = after
    return masks


@pytest.mark.parametrize("ratio", [0.1, 0.5])
def test_masks_drop_the_ratio_and_scale_the_kept(pmc_module, ratio):
    masks = _masks(pmc_module, ratio, steps=3)
    scale = np.float32(1.0) / np.float32(1.0 - ratio)
    for mask in masks:
        kept = mask != 0
        np.testing.assert_allclose(mask[kept], scale, rtol=1e-6)
        n = mask.size
        # 6 standard deviations of the binomial count.
        assert abs((~kept).sum() - ratio * n) < 6 * np.sqrt(n * ratio * (1 - ratio))
    # A new step draws a new mask: agreement is what independence gives.
    same = np.mean((masks[0] != 0) == (masks[1] != 0))
    expected = ratio ** 2 + (1 - ratio) ** 2
    assert abs(same - expected) < 0.02, same


def test_ratio_zero_and_one(pmc_module):
    np.testing.assert_array_equal(_masks(pmc_module, 0.0, steps=1)[0], 1.0)
    np.testing.assert_array_equal(_masks(pmc_module, 1.0, steps=1)[0], 0.0)


@pytest.mark.parametrize("devices,plan", [(2, "auto"), (4, "random:7"), (4, "random:8")])
def test_every_plan_draws_the_masks_of_one_device(pmc_module, devices, plan):
    one = _masks(pmc_module, 0.4, steps=2)
    many = _masks(pmc_module, 0.4, steps=2, devices=devices, plan=plan)
    for a, b in zip(one, many):
        np.testing.assert_array_equal(b, a)


@pytest.mark.parametrize("opset", [11, 17])
@pytest.mark.parametrize("devices,mesh,zero", [(2, {"dp": 2}, 0), (4, {"dp": 2, "tp": 2}, 1),
                                               (4, {"tp": 4}, 0)])
def test_loss_curves_with_dropout_equal_one_device(pmc_module, opset, devices, mesh, zero):
    pmc = pmc_module
    rng = np.random.default_rng(5)
    x = rng.standard_normal((N, D)).astype(np.float32)
    target = rng.standard_normal((N, 1)).astype(np.float32)
    curves = {}
    for d in (1, devices):
        trainer = pmc.compile_training(_mlp(opset=opset), loss=pmc.MSELoss(output="y"),
                                       optimizer=pmc.AdamW(lr=1e-2), devices=d,
                                       mesh=mesh if d > 1 else None, zero=zero if d > 1 else None)
        curves[d] = [trainer.step({"x": x, "target": target})["loss"] for _ in range(8)]
    np.testing.assert_allclose(curves[devices], curves[1], rtol=1e-5)
    # The masks change with the step: the same batch gives different losses
    # than a model without Dropout would (which decrease monotonically here).
    assert len(set(np.round(curves[1], 6))) == len(curves[1])


def test_resumed_training_replays_the_step_s_mask(pmc_module, tmp_path):
    pmc = pmc_module
    rng = np.random.default_rng(6)
    x = rng.standard_normal((N, D)).astype(np.float32)
    target = rng.standard_normal((N, 1)).astype(np.float32)
    trainer = pmc.compile_training(_mlp(), loss=pmc.MSELoss(output="y"),
                                   optimizer=pmc.SGD(lr=0.05, momentum=0.9))
    for _ in range(3):
        trainer.step({"x": x, "target": target})
    trainer.save(tmp_path / "ckpt.pmct")
    resumed = pmc.load_training(tmp_path / "ckpt.pmct")
    a = [trainer.step({"x": x, "target": target})["loss"] for _ in range(3)]
    b = [resumed.step({"x": x, "target": target})["loss"] for _ in range(3)]
    np.testing.assert_allclose(b, a, rtol=1e-6)


def test_inference_compile_keeps_dropout_the_identity(pmc_module):
    import onnxruntime as ort  # noqa: PLC0415

    model = _mlp()
    x = np.random.default_rng(1).standard_normal((N, D)).astype(np.float32)
    out = pmc_module.compile(model).run_dict({"x": x})
    ref = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(out["y"], ref, rtol=1e-5, atol=1e-6)


def test_a_ratio_computed_by_the_graph_is_refused(pmc_module):
    model = _mlp()
    model.graph.input.append(helper.make_tensor_value_info("p", TensorProto.FLOAT, []))
    model.graph.node[2].input[1] = "p"
    with pytest.raises(Exception, match="ratio.*must be a constant float scalar to train"):
        pmc_module.compile_training(model, loss=pmc_module.MSELoss(output="y"),
                                    optimizer=pmc_module.SGD(lr=0.1))
