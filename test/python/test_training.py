"""pmc.compile_training: train steps against a numpy reference of PyTorch's
update rules (torch.optim.SGD / Adam / AdamW, torch.nn losses) on models whose
gradients are known in closed form, and loss curves of the zoo's models at 2
and 4 devices equal to one device."""

import numpy as np
import onnx
import onnx.numpy_helper
import pytest
from onnx import TensorProto, helper, numpy_helper

import make_zoo

F = TensorProto.FLOAT
RNG = np.random.default_rng(3)
N, D, K = 8, 5, 3


def _linear_model(w, b):
    """y = x @ w + b with w, b initializers."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "linear", [helper.make_tensor_value_info("x", F, [N, D])],
        [helper.make_tensor_value_info("y", F, [N, K])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _loss_and_grads(kind, w, b, x, target):
    """(loss, dL/dy) of the torch loss `kind` (mean reduction) at y = x w + b."""
    y = x @ w + b
    if kind == "mse":
        return np.mean((y - target) ** 2), 2 * (y - target) / y.size
    if kind == "l1":
        return np.mean(np.abs(y - target)), np.sign(y - target) / y.size
    if kind == "bce":
        p = 1 / (1 + np.exp(-y))
        loss = np.mean(np.maximum(y, 0) - y * target + np.log1p(np.exp(-np.abs(y))))
        return loss, (p - target) / y.size
    # cross entropy with ignore_index=-100 and label smoothing 0.1
    kept = target != -100
    logp = np.log(_softmax(y))
    safe = np.where(kept, target, 0)
    onehot = np.eye(K)[safe]
    smooth = 0.1
    soft = (1 - smooth) * onehot + smooth / K
    per = -(soft * logp).sum(axis=1) * kept
    loss = per.sum() / kept.sum()
    grad = (_softmax(y) - soft) * kept[:, None] / kept.sum()
    return loss, grad


class _TorchRules:
    """torch.optim's update rules for one parameter, in float64."""

    def __init__(self, optimizer, value):
        self.o, self.p, self.t = optimizer, value.astype(np.float64), 0
        self.buf = self.m = self.v = None

    def step(self, grad, lr):
        import pmc  # noqa: PLC0415

        o, p = self.o, self.p
        self.t += 1
        if isinstance(o, pmc.SGD):
            g = grad + o.weight_decay * p
            if o.momentum:
                self.buf = g.copy() if self.buf is None else \
                    o.momentum * self.buf + (1 - o.dampening) * g
                g = g + o.momentum * self.buf if o.nesterov else self.buf
            self.p = p - lr * g
            return
        b1, b2 = o.betas
        g = grad
        if isinstance(o, pmc.Adam):
            g = g + o.weight_decay * p
        else:
            p = p * (1 - lr * o.weight_decay)
        self.m = (1 - b1) * g if self.m is None else b1 * self.m + (1 - b1) * g
        self.v = (1 - b2) * g * g if self.v is None else b2 * self.v + (1 - b2) * g * g
        denom = np.sqrt(self.v) / np.sqrt(1 - b2 ** self.t) + o.eps
        self.p = p - lr / (1 - b1 ** self.t) * self.m / denom


def _optimizers(pmc):
    warmup = pmc.schedules.WarmupCosine(lr=0.1, warmup_steps=2, total_steps=6, min_lr=0.01)
    return {
        "sgd": pmc.SGD(lr=0.1),
        "sgd_momentum_wd": pmc.SGD(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
        "sgd_nesterov": pmc.SGD(lr=0.05, momentum=0.8, nesterov=True),
        "adam_l2": pmc.Adam(lr=0.01, weight_decay=0.05),
        "adamw_schedule": pmc.AdamW(lr=warmup, betas=(0.8, 0.95), weight_decay=0.1),
    }


@pytest.mark.parametrize("loss_kind", ["cross_entropy", "mse", "l1", "bce"])
@pytest.mark.parametrize("opt", ["sgd", "sgd_momentum_wd", "sgd_nesterov", "adam_l2",
                                 "adamw_schedule"])
def test_updates_match_torch_rules(pmc_module, loss_kind, opt):
    pmc = pmc_module
    optimizer = _optimizers(pmc)[opt]
    w = RNG.standard_normal((D, K)).astype(np.float32) * 0.5
    b = RNG.standard_normal(K).astype(np.float32) * 0.1
    if loss_kind == "cross_entropy":
        loss = pmc.CrossEntropyLoss(logits="y", labels="labels", label_smoothing=0.1)
    else:
        loss = {"mse": pmc.MSELoss, "l1": pmc.L1Loss, "bce": pmc.BCEWithLogitsLoss}[loss_kind](
            output="y", target="t")
    trainer = pmc.compile_training(_linear_model(w, b), loss=loss, optimizer=optimizer)
    ref_w, ref_b = _TorchRules(optimizer, w), _TorchRules(optimizer, b)
    for step in range(1, 7):
        x = RNG.standard_normal((N, D)).astype(np.float32)
        if loss_kind == "cross_entropy":
            target = RNG.integers(0, K, N)
            target[step % N] = -100  # one ignored label per batch
            feeds = {"x": x, "labels": target}
        else:
            target = (RNG.uniform(size=(N, K)) if loss_kind == "bce"
                      else RNG.standard_normal((N, K))).astype(np.float32)
            feeds = {"x": x, "t": target}
        want, dy = _loss_and_grads(loss_kind, ref_w.p, ref_b.p, x.astype(np.float64), target)
        got = trainer.step(feeds)["loss"]
        assert got == pytest.approx(want, rel=2e-5, abs=1e-6), f"step {step}"
        lr = trainer.learning_rate(step)
        ref_w.step(x.T.astype(np.float64) @ dy, lr)
        ref_b.step(dy.sum(axis=0), lr)
        params = trainer.parameters()
        np.testing.assert_allclose(params["w"], ref_w.p, rtol=2e-4, atol=2e-6)
        np.testing.assert_allclose(params["b"], ref_b.p, rtol=2e-4, atol=2e-6)
    assert trainer.step_count == 6


def _zoo_case(name, batch):
    model = getattr(make_zoo, f"make_{name}")(batch=batch)
    feeds = make_zoo.make_inputs(model, seed=1)
    out = model.graph.output[0]
    dims = [d.dim_value for d in out.type.tensor_type.shape.dim]
    return model, feeds, out.name, dims


def _optimizer(pmc, kind):
    # Parameters are compared under SGD only: Adam turns a gradient that is
    # zero in exact arithmetic (attention's key bias: softmax ignores a shift)
    # into sign(rounding noise) * lr, which differs with the reduction order.
    return (pmc.AdamW(lr=3e-3, weight_decay=0.01) if kind == "adamw"
            else pmc.SGD(lr=0.05, momentum=0.9))


@pytest.mark.parametrize("name", ["mlp", "resnet_cnn", "transformer_encoder", "gpt_decoder"])
@pytest.mark.parametrize("kind", ["adamw", "sgd"])
def test_zoo_loss_curves_equal_one_device(pmc_module, name, kind):
    """20 steps (cross-entropy on the last dim): the loss curve at 2 and 4
    devices (the planner's plans) equals one device's, and so do the
    parameters (under SGD)."""
    pmc = pmc_module
    model, feeds, logits, dims = _zoo_case(name, batch=4)
    rng = np.random.default_rng(5)
    labels = rng.integers(0, dims[-1], dims[:-1])
    optimizer = _optimizer(pmc, kind)
    curves, params = {}, {}
    for devices in (1, 2, 4):
        trainer = pmc.compile_training(model, loss=pmc.CrossEntropyLoss(logits=logits),
                                       optimizer=optimizer, devices=devices)
        curves[devices] = [trainer.step({**feeds, "labels": labels})["loss"]
                           for _ in range(20)]
        params[devices] = trainer.parameters()
    assert curves[1][-1] < curves[1][0], "the loss does not decrease"
    for devices in (2, 4):
        np.testing.assert_allclose(curves[devices], curves[1], rtol=1e-5,
                                   err_msg=f"loss curve at {devices} devices")
        if kind != "sgd":
            continue
        for key, value in params[1].items():
            np.testing.assert_allclose(params[devices][key], value, rtol=1e-4, atol=1e-6,
                                       err_msg=f"{key} at {devices} devices")


def test_export_onnx_carries_the_trained_weights(pmc_module, tmp_path):
    import onnxruntime as ort  # noqa: PLC0415

    pmc = pmc_module
    w = RNG.standard_normal((D, K)).astype(np.float32)
    b = np.zeros(K, np.float32) + 0.1
    trainer = pmc.compile_training(_linear_model(w, b), loss=pmc.MSELoss("y", "t"),
                                   optimizer=pmc.SGD(lr=0.1))
    x = RNG.standard_normal((N, D)).astype(np.float32)
    for _ in range(3):
        trainer.step({"x": x, "t": np.zeros((N, K), np.float32)})
    trainer.export_onnx(tmp_path / "trained.onnx")
    got = ort.InferenceSession(str(tmp_path / "trained.onnx"),
                               providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    p = trainer.parameters()
    np.testing.assert_allclose(got, x @ p["w"] + p["b"], rtol=1e-5, atol=1e-6)


def test_bad_input_is_an_error(pmc_module):
    pmc = pmc_module
    model = _linear_model(np.ones((D, K), np.float32), np.ones(K, np.float32))
    with pytest.raises(pmc.CompileError, match="'logits' is not an output"):
        pmc.compile_training(model, loss=pmc.CrossEntropyLoss(logits="logits"),
                             optimizer=pmc.SGD(lr=0.1))
    with pytest.raises(TypeError, match="optimizer must be"):
        pmc.compile_training(model, loss=pmc.MSELoss("y"), optimizer="sgd")
    with pytest.raises(ValueError, match="frozen names"):
        pmc.compile_training(model, loss=pmc.MSELoss("y"), optimizer=pmc.SGD(lr=0.1),
                             frozen=["nope"])
    with pytest.raises(pmc.CompileError, match="no float initializer to train"):
        pmc.compile_training(model, loss=pmc.MSELoss("y"), optimizer=pmc.SGD(lr=0.1),
                             frozen=["w", "b"])
    trainer = pmc.compile_training(model, loss=pmc.MSELoss("y", "t"), optimizer=pmc.SGD(lr=0.1))
    with pytest.raises(ValueError, match="missing input 't'"):
        trainer.step({"x": np.zeros((N, D), np.float32)})
    classifier = pmc.compile_training(model, loss=pmc.CrossEntropyLoss("y"),
                                      optimizer=pmc.SGD(lr=0.1))
    labels = np.array([0, 1, 2, 3, 0, 1, 2, -100])
    with pytest.raises(ValueError, match=r"labels 'labels' hold 3 at \[3\]: outside \[0, 3\)"):
        classifier.step({"x": np.zeros((N, D), np.float32), "labels": labels})


def test_checkpoint_resume_equals_uninterrupted_run(pmc_module, tmp_path):
    """save -> load (at another device count) -> continue gives the run that
    was never interrupted; damaged checkpoints are errors naming the damage."""
    pmc = pmc_module
    model, feeds, logits, dims = _zoo_case("mlp", batch=4)
    labels = np.random.default_rng(6).integers(0, dims[-1], dims[:-1])
    batch = {**feeds, "labels": labels}
    optimizer = pmc.AdamW(lr=pmc.schedules.WarmupCosine(lr=1e-2, warmup_steps=2,
                                                        total_steps=8))
    loss = pmc.CrossEntropyLoss(logits=logits)
    straight = pmc.compile_training(model, loss=loss, optimizer=optimizer)
    want = [straight.step(batch)["loss"] for _ in range(8)]

    first = pmc.compile_training(model, loss=loss, optimizer=optimizer, devices=2)
    got = [first.step(batch)["loss"] for _ in range(4)]
    path = tmp_path / "ckpt.pmct"
    first.save(path)
    resumed = pmc.load_training(path, devices=4)
    assert resumed.step_count == 4
    got += [resumed.step(batch)["loss"] for _ in range(4)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for key, value in straight.parameters().items():
        np.testing.assert_allclose(resumed.parameters()[key], value, rtol=1e-4, atol=1e-6)

    data = path.read_bytes()
    (tmp_path / "truncated.pmct").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a pmc training checkpoint|damaged|manifest"):
        pmc.load_training(tmp_path / "truncated.pmct")
    # One byte of the first array flipped: its checksum names it.
    import zipfile  # noqa: PLC0415
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("arrays/0.npy")
        offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    damaged = bytearray(data)
    damaged[offset] ^= 0xFF
    (tmp_path / "flipped.pmct").write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match=r"array '.*' \(arrays/0.npy\)"):
        pmc.load_training(tmp_path / "flipped.pmct")
    (tmp_path / "foreign.pmct").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a pmc training checkpoint"):
        pmc.load_training(tmp_path / "foreign.pmct")


@pytest.mark.parametrize("clip", [0.05, 100.0])
def test_grad_clip_is_global_norm_clipping(pmc_module, clip):
    """grad_clip as torch.nn.utils.clip_grad_norm_ over all parameters, before
    the optimizer (so before SGD's weight decay)."""
    pmc = pmc_module
    w = RNG.standard_normal((D, K)).astype(np.float32)
    b = RNG.standard_normal(K).astype(np.float32)
    optimizer = pmc.SGD(lr=0.1, momentum=0.5, weight_decay=0.1)
    trainer = pmc.compile_training(_linear_model(w, b), loss=pmc.MSELoss("y", "t"),
                                   optimizer=optimizer, grad_clip=clip)
    ref_w, ref_b = _TorchRules(optimizer, w), _TorchRules(optimizer, b)
    for _ in range(3):
        x = RNG.standard_normal((N, D)).astype(np.float32)
        t = RNG.standard_normal((N, K)).astype(np.float32)
        trainer.step({"x": x, "t": t})
        _, dy = _loss_and_grads("mse", ref_w.p, ref_b.p, x.astype(np.float64), t)
        gw, gb = x.T.astype(np.float64) @ dy, dy.sum(axis=0)
        norm = np.sqrt(np.sum(gw * gw) + np.sum(gb * gb))
        scale = min(1.0, clip / (norm + 1e-6))
        ref_w.step(gw * scale, 0.1)
        ref_b.step(gb * scale, 0.1)
    np.testing.assert_allclose(trainer.parameters()["w"], ref_w.p, rtol=2e-4, atol=2e-6)
    np.testing.assert_allclose(trainer.parameters()["b"], ref_b.p, rtol=2e-4, atol=2e-6)


@pytest.mark.parametrize("name", ["mlp", "resnet_cnn", "transformer_encoder", "gpt_decoder"])
@pytest.mark.parametrize("seed", [11, 12])
def test_train_step_under_random_plans(pmc_module, name, seed):
    """The train step partitioned by random legal plans (shardings drawn from
    the ops' rules, over forward, backward and update) gives one device's loss
    curve."""
    pmc = pmc_module
    model, feeds, logits, dims = _zoo_case(name, batch=4)
    labels = np.random.default_rng(5).integers(0, dims[-1], dims[:-1])
    optimizer = pmc.AdamW(lr=3e-3, weight_decay=0.01)
    loss = pmc.CrossEntropyLoss(logits=logits)
    one = pmc.compile_training(model, loss=loss, optimizer=optimizer)
    want = [one.step({**feeds, "labels": labels})["loss"] for _ in range(4)]
    for devices in (2, 4):
        trainer = pmc.compile_training(model, loss=loss, optimizer=optimizer, devices=devices,
                                       plan=f"random:{seed}")
        got = [trainer.step({**feeds, "labels": labels})["loss"] for _ in range(4)]
        np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=f"{devices} devices")


@pytest.mark.parametrize("name", ["mlp", "transformer_encoder", "gpt_decoder"])
@pytest.mark.parametrize("mesh", [{"tp": 4}, {"dp": 2, "tp": 2}, {"dp": 2, "tp": 4}])
@pytest.mark.parametrize("kind", ["adamw", "sgd"])
def test_megatron_tensor_parallel_training(pmc_module, name, mesh, kind):
    """Megatron's column/row-parallel weights (and the batch over dp): the
    backward's conjugate collectives come from partitioning the joint program;
    the loss curve equals one device's."""
    pmc = pmc_module
    model, feeds, logits, dims = _zoo_case(name, batch=4)
    shardings, _ = make_zoo.megatron_shardings(name)
    if "dp" in mesh:
        shardings = {**shardings, next(iter(feeds)): ("dp",)}
    labels = np.random.default_rng(5).integers(0, dims[-1], dims[:-1])
    optimizer = _optimizer(pmc, kind)
    loss = pmc.CrossEntropyLoss(logits=logits)
    one = pmc.compile_training(model, loss=loss, optimizer=optimizer)
    want = [one.step({**feeds, "labels": labels})["loss"] for _ in range(5)]
    devices = int(np.prod(list(mesh.values())))
    trainer = pmc.compile_training(model, loss=loss, optimizer=optimizer, devices=devices,
                                   mesh=mesh, shardings=shardings)
    assert "tp" in trainer.plan
    got = [trainer.step({**feeds, "labels": labels})["loss"] for _ in range(5)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    if kind != "sgd":
        return
    for key, value in one.parameters().items():
        np.testing.assert_allclose(trainer.parameters()[key], value, rtol=1e-4, atol=1e-6,
                                   err_msg=key)


@pytest.mark.parametrize("name", ["mlp", "resnet_cnn", "gpt_decoder"])
def test_bf16_training(pmc_module, name):
    """dtype="bf16": forward and backward in bfloat16, fp32 master weights and
    optimizer state. The loss curve at 2 and 4 devices equals one device's
    (within 2e-2; the same roundings give the same numbers) and stays near the
    fp32 curve; an update far below bf16's resolution of the weights is kept."""
    pmc = pmc_module
    model, feeds, logits, dims = _zoo_case(name, batch=4)
    labels = np.random.default_rng(5).integers(0, dims[-1], dims[:-1])
    optimizer = pmc.AdamW(lr=3e-3, weight_decay=0.01)
    loss = pmc.CrossEntropyLoss(logits=logits)
    curves = {}
    for dtype, devices in (("fp32", 1), ("bf16", 1), ("bf16", 2), ("bf16", 4)):
        trainer = pmc.compile_training(model, loss=loss, optimizer=optimizer, devices=devices,
                                       dtype=dtype)
        curves[dtype, devices] = [trainer.step({**feeds, "labels": labels})["loss"]
                                  for _ in range(20)]
    for devices in (2, 4):
        np.testing.assert_allclose(curves["bf16", devices], curves["bf16", 1], rtol=2e-2)
    np.testing.assert_allclose(curves["bf16", 1][:5], curves["fp32", 1][:5], rtol=2e-2)
    assert curves["bf16", 1][-1] < 0.5 * curves["bf16", 1][0], "bf16 training does not learn"

    tiny = pmc.SGD(lr=1e-5)
    before = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    moved = {}
    for dtype in ("fp32", "bf16"):
        trainer = pmc.compile_training(model, loss=loss, optimizer=tiny, dtype=dtype)
        trainer.step({**feeds, "labels": labels})
        params = trainer.parameters()
        assert all(v.dtype == np.float32 for v in params.values())
        moved[dtype] = {k: float(np.abs(v - before[k]).sum()) for k, v in params.items()}
    compared = 0
    for key, fp32 in moved["fp32"].items():
        # Compared where the move spans many float32 steps of the weight (a
        # BatchNorm scale near 1 moves by a few: the count is the noise).
        resolution = float(np.spacing(np.abs(before[key]).astype(np.float32)).sum())
        if fp32 > 30 * resolution:
            assert moved["bf16"][key] == pytest.approx(fp32, rel=0.1), key
            compared += 1
    assert compared >= 2, moved


def _collectives(plan_text):
    line = next(x for x in plan_text.splitlines() if x.startswith("collectives per rank"))
    return line.split(":", 1)[1]


@pytest.mark.parametrize("name", ["mlp", "gpt_decoder"])
@pytest.mark.parametrize("mesh", [{"dp": 4}, {"dp": 2, "tp": 2}])
@pytest.mark.parametrize("zero", [1, 2, 3])
def test_zero_stages_equal_one_device(pmc_module, name, mesh, zero):
    """ZeRO's stages as shardings over dp (optimizer state; + gradients,
    reduce-scattered; + parameters): the same loss curve and, under SGD with
    momentum, the same parameters as one device."""
    pmc = pmc_module
    model, feeds, logits, dims = _zoo_case(name, batch=4)
    labels = np.random.default_rng(5).integers(0, dims[-1], dims[:-1])
    loss = pmc.CrossEntropyLoss(logits=logits)
    shardings = {next(iter(feeds)): ("dp",)}
    if "tp" in mesh:
        shardings = {**make_zoo.megatron_shardings(name)[0], **shardings}
    devices = int(np.prod(list(mesh.values())))
    for optimizer in (pmc.AdamW(lr=3e-3, weight_decay=0.01), pmc.SGD(lr=0.05, momentum=0.9)):
        one = pmc.compile_training(model, loss=loss, optimizer=optimizer)
        want = [one.step({**feeds, "labels": labels})["loss"] for _ in range(5)]
        trainer = pmc.compile_training(model, loss=loss, optimizer=optimizer, devices=devices,
                                       mesh=mesh, shardings=shardings, zero=zero)
        got = [trainer.step({**feeds, "labels": labels})["loss"] for _ in range(5)]
        np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=f"ZeRO-{zero} on {mesh}")
        collectives = _collectives(trainer.plan)
        if zero >= 2:
            assert "reduce_scatter" in collectives, collectives
        assert "all_gather" in collectives, collectives
    for key, value in one.parameters().items():
        np.testing.assert_allclose(trainer.parameters()[key], value, rtol=1e-4, atol=1e-6,
                                   err_msg=key)
    for key, value in one.optimizer_state().items():
        np.testing.assert_allclose(trainer.optimizer_state()[key], value, rtol=1e-4,
                                   atol=1e-6, err_msg=key)


def test_zero_under_bf16_and_the_planner(pmc_module):
    """ZeRO-2 in bf16 equals one device in bf16; the planner's own choice of
    mesh and stage (zero=None) trains like one device too."""
    pmc = pmc_module
    model, feeds, logits, dims = _zoo_case("gpt_decoder", batch=4)
    labels = np.random.default_rng(5).integers(0, dims[-1], dims[:-1])
    loss = pmc.CrossEntropyLoss(logits=logits)
    optimizer = pmc.AdamW(lr=3e-3, weight_decay=0.01)
    curves = {}
    for key, kwargs in (("one", {}),
                        ("zero2", dict(devices=4, mesh={"dp": 4}, zero=2,
                                       shardings={"input_ids": ("dp",)})),
                        ("auto", dict(devices=4, device_spec="h100-sxm"))):
        trainer = pmc.compile_training(model, loss=loss, optimizer=optimizer, dtype="bf16",
                                       **kwargs)
        curves[key] = [trainer.step({**feeds, "labels": labels})["loss"] for _ in range(10)]
    np.testing.assert_allclose(curves["zero2"], curves["one"], rtol=2e-2)
    np.testing.assert_allclose(curves["auto"], curves["one"], rtol=2e-2)


def test_plan_memory_per_zero_stage(pmc_module):
    """The planner's memory per device of a train step: weights, gradients
    and AdamW state (2 moments) at each ZeRO stage on dp=4 are the shards
    the stage gives each device (every tensor here splits evenly)."""
    pmc = pmc_module
    w1 = RNG.standard_normal((64, 128)).astype(np.float32)
    w2 = RNG.standard_normal((128, 16)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["y"])],
        "mlp2", [helper.make_tensor_value_info("x", F, [32, 64])],
        [helper.make_tensor_value_info("y", F, [32, 16])],
        initializer=[numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    weights = 4.0 * (w1.size + w2.size)
    expected = {0: (1, 1, 1), 1: (1, 1, 4), 2: (1, 4, 4), 3: (4, 4, 4)}
    for zero, (wd, gd, sd) in expected.items():
        plan = pmc.plan_training(model, loss=pmc.MSELoss(output="y"),
                                 optimizer=pmc.AdamW(lr=1e-3), devices=4, zero=zero)
        dp4 = next(a for a in plan["alternatives"] if a["mesh"] == {"dp": 4})
        assert dp4["zero"] == zero
        # (weights: the parameters' shards and the step's few scalar constants)
        assert dp4["weight_bytes"] == pytest.approx(weights / wd, abs=512), zero
        assert dp4["optimizer_state_bytes"] == pytest.approx(2 * weights / sd), zero
        # At the peak: some of the gradients (and the partial values of at
        # most two reductions still running beside the backward pass), and of
        # the new parameter and moment values the step writes beside the old ones.
        in_flight = 2 * 4.0 * max(w1.size, w2.size)
        assert 0 < dp4["gradient_bytes"] <= weights / gd + in_flight, zero
        assert 0 < dp4["state_update_bytes"] <= weights / wd + 2 * weights / sd, zero
        assert max(dp4["memory_per_device_bytes"]) == pytest.approx(
            dp4["weight_bytes"] + dp4["optimizer_state_bytes"] + dp4["gradient_bytes"] +
            dp4["state_update_bytes"] + dp4["activation_bytes"])


def _mlp_model(batch, d, h, o):
    w1 = RNG.standard_normal((d, h)).astype(np.float32)
    w2 = RNG.standard_normal((h, o)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["y"])],
        "mlp", [helper.make_tensor_value_info("x", F, [batch, d])],
        [helper.make_tensor_value_info("y", F, [batch, o])],
        initializer=[numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


# Predicted / measured memory per rank: within 15 % (the issue asks 10 %).
# Seen: the transformer's arena (fused kernels, views, placement) 13 % above
# the liveness walk; the wide MLP under ZeRO-2 15 % below it.
MEMORY_CASES = ["mlp_wide", "transformer_encoder", "gpt_decoder", "resnet_cnn"]


@pytest.mark.parametrize("name", MEMORY_CASES)
@pytest.mark.parametrize("devices,zero", [(2, 0), (2, 2), (4, 1), (4, 3)])
def test_predicted_memory_matches_the_measured_peak(pmc_module, name, devices, zero):
    """The planner's memory per device of the plan it chose (weights,
    optimizer state, and at the peak gradients, state updates, activations
    and the convolutions' scratch) against what each rank holds while it
    runs (Executable.memory_use: its arena, state shards, input shards,
    weights and scratch), within 10 %."""
    pmc = pmc_module
    if name == "mlp_wide":
        model, output = _mlp_model(64, 256, 512, 32), "y"
    else:
        model = getattr(make_zoo, f"make_{name}")(batch=4)
        output = model.graph.output[0].name
    trainer = pmc.compile_training(model, loss=pmc.MSELoss(output=output),
                                   optimizer=pmc.AdamW(lr=1e-3), devices=devices, zero=zero)
    exe = trainer._exe
    feeds = {s.name: RNG.standard_normal(s.shape).astype(np.float32) if s.dtype == "float32"
             else RNG.integers(0, 10, s.shape).astype(s.dtype) for s in exe.inputs
             if not s.name.startswith("pmc.") and s.name not in exe.state_names}
    trainer.step(feeds)
    plan = exe.plan_dict
    assert plan["planner"]["zero"] == zero
    if zero:  # asked for, so on a mesh with dp
        assert plan["planner"]["mesh"].get("dp", 1) > 1
    predicted = plan["predicted"]["memory_per_device_bytes"]
    use = exe.memory_use()
    assert len(use) == devices
    for rank, (p, u) in enumerate(zip(predicted, use)):
        assert u["total"] == u["arena"] + u["state"] + u["inputs"] + u["other"]
        assert u["state"] > 0
        assert abs(p / u["total"] - 1) <= 0.10, (rank, p, u)


def test_seven_billion_parameters_need_zero_or_tensor_parallelism(pmc_module):
    """A 6.7e9-parameter GPT (make_gpt_shapes: weights never materialized)
    planned for 8 x H100 80 GB with AdamW in bf16: plain data parallelism
    needs more than 16 bytes per parameter (fp32 master weights 4 and moments
    8 held; at the peak the new fp32 weights and moments, 12, written beside
    them until the step ends) and does not fit; the plan chosen fits by ZeRO
    or tensor parallelism and shows the breakdown."""
    pmc = pmc_module
    model = make_zoo.make_gpt_shapes()
    psi = sum(int(np.prod(t.dims)) for t in model.graph.initializer
              if t.data_type == TensorProto.FLOAT and int(np.prod(t.dims)) >= 2)
    assert 6.5e9 < psi < 7e9
    plan = pmc.plan_training(model, loss=pmc.CrossEntropyLoss(logits="logits"),
                             optimizer=pmc.AdamW(lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1),
                             devices=8, device_spec="h100-sxm", dtype="bf16", target="cuda")
    plain = next(a for a in plan["alternatives"] if a["mesh"] == {"dp": 8} and a["zero"] == 0)
    assert not plain["fits"] and "needs" in plain["reason"], plain["reason"]
    assert plain["weight_bytes"] == pytest.approx(4 * psi, rel=1e-3)
    assert plain["optimizer_state_bytes"] == pytest.approx(8 * psi, rel=1e-3)
    # The peak is at the end of the update: every new value (but the last
    # few being computed), no gradient left, the bf16 copies dead.
    assert plain["state_update_bytes"] == pytest.approx(12 * psi, rel=3e-2)
    assert plain["gradient_bytes"] < 0.05 * psi  # the last (embedding) gradient
    assert max(plain["memory_per_device_bytes"]) > 23 * psi
    assert max(plain["memory_per_device_bytes"]) > 80e9
    predicted = plan["predicted"]
    assert plan["zero"] > 0 or plan["mesh"].get("tp", 1) > 1, plan["mesh"]
    assert max(predicted["memory_per_device_bytes"]) <= 80e9
    assert max(predicted["memory_per_device_bytes"]) == pytest.approx(
        predicted["weight_bytes"] + predicted["optimizer_state_bytes"] +
        predicted["gradient_bytes"] + predicted["state_update_bytes"] +
        predicted["activation_bytes"])


def test_state_stays_on_the_ranks(pmc_module):
    """Parameters and optimizer state live in the runtime: the bundle marks
    them, each rank keeps its shard (under ZeRO-3 a quarter of every
    parameter on dp=4), a step returns only the loss, the values are
    gathered on request; a state input fed explicitly is used and its update
    returned; bad state is a clear error."""
    pmc = pmc_module
    model, feeds, logits, dims = _zoo_case("mlp", batch=4)
    labels = np.random.default_rng(5).integers(0, dims[-1], dims[:-1])
    trainer = pmc.compile_training(model, loss=pmc.CrossEntropyLoss(logits=logits),
                                   optimizer=pmc.AdamW(lr=3e-3), devices=4, mesh={"dp": 4},
                                   shardings={"x": ("dp",)}, zero=3)
    exe = trainer._exe
    params = trainer.parameters()
    assert set(params) <= set(exe.state_names)
    assert {f"{p}.exp_avg" for p in params} <= set(exe.state_names)
    manifest = pmc.BundleInfo.read(exe._path).manifest
    entries = {e["name"]: e for e in manifest["inputs"]}
    assert entries["fc2_w_0"]["state"] == "parameter"
    assert ["dp"] in entries["fc2_w_0"]["sharding"]
    assert entries["fc2_w_0.exp_avg"]["state"] == "optimizer_state"
    updates = {e["name"]: e.get("updates") for e in manifest["outputs"]}
    assert updates["fc2_w_0"] == "fc2_w_0"

    out = exe.run_dict({**feeds, "labels": labels, "pmc.lr": np.float32(1e-3),
                        "pmc.step": np.float32(1)})
    assert list(out) == [exe.outputs[0].name], "state went to the host"
    moved = exe.get_state("fc2_w_0")
    assert not np.array_equal(moved, params["fc2_w_0"])
    assert np.abs(exe.get_state("fc2_w_0.exp_avg")).max() > 0

    explicit = {name: exe.get_state(name) for name in exe.state_names}
    again = exe.run_dict({**feeds, **explicit, "labels": labels, "pmc.lr": np.float32(1e-3),
                          "pmc.step": np.float32(2)})
    assert "fc2_w_0" in again and "fc2_w_0.exp_avg" in again
    np.testing.assert_array_equal(exe.get_state("fc2_w_0"), explicit["fc2_w_0"])

    with pytest.raises(ValueError, match="expected float32 with shape"):
        exe.set_state("fc2_w_0", np.zeros((3, 3), np.float32))
    with pytest.raises(ValueError, match="no state input"):
        exe.set_state("x", np.zeros((4, 64), np.float32))
    # The bundle carries the parameters' initial values (the ONNX initializers):
    # a fresh session starts from them, the optimizer state from zeros.
    assert entries["fc2_w_0"]["initial"].startswith("state/")
    fresh = pmc.load(exe._path)
    np.testing.assert_array_equal(fresh.get_state("fc2_w_0"), params["fc2_w_0"])
    np.testing.assert_array_equal(fresh.get_state("fc2_w_0.exp_avg"), 0)


def test_a_parameter_without_a_value_is_an_error(pmc_module, tmp_path):
    """A train step written in the pmc dialect has no initial values: running
    it before setting a parameter names the parameter."""
    from pmc._compiler_glue import compile_bundle, make_options

    pmc = pmc_module
    source = tmp_path / "step.mlir"
    source.write_text("""
func.func @main(%x: tensor<4x3xf32> {pmc.name = "x"},
                %w: tensor<3x2xf32> {pmc.name = "w", pmc.parameter})
    -> (tensor<f32> {pmc.name = "loss"}) {
  %m = pmc.matmul %x, %w : (tensor<4x3xf32>, tensor<3x2xf32>) -> tensor<4x2xf32>
  %l = pmc.reduce_sum %m {axes = array<i64: 0, 1>} : (tensor<4x2xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
""")
    options = make_options()
    options.set_train("sgd", momentum=0.9)
    compile_bundle(str(source), str(tmp_path / "step.pmc"), options)
    exe = pmc.load(tmp_path / "step.pmc")
    assert sorted(exe.state_names) == ["w", "w.momentum_buffer"]
    feeds = {"x": np.ones((4, 3), np.float32), "pmc.lr": np.float32(0.1),
             "pmc.step": np.float32(1)}
    with pytest.raises(ValueError, match="parameter 'w' .*has no value"):
        exe.run_dict(feeds)
    exe.set_state("w", np.zeros((3, 2), np.float32))
    loss = exe.run_dict(feeds)["loss"]
    assert float(loss) == 0.0
    # d(sum(x w))/dw = x^T 1 = 4 everywhere: w' = 0 - 0.1 * 4
    np.testing.assert_allclose(exe.get_state("w"), np.full((3, 2), -0.4), rtol=1e-6)


@pytest.mark.parametrize("mesh, zero", [({"dp": 8}, 2), ({"dp": 2, "tp": 4}, 1), ({"tp": 8}, 0)])
def test_eight_devices_equal_one_device(pmc_module, mesh, zero):
    """8 devices (dp, dp x tp with Megatron's layout, tp) under ZeRO: the
    loss curve of one device."""
    pmc = pmc_module
    model, feeds, logits, dims = _zoo_case("gpt_decoder", batch=8)
    labels = np.random.default_rng(5).integers(0, dims[-1], dims[:-1])
    loss = pmc.CrossEntropyLoss(logits=logits)
    optimizer = pmc.AdamW(lr=3e-3, weight_decay=0.01)
    one = pmc.compile_training(model, loss=loss, optimizer=optimizer)
    want = [one.step({**feeds, "labels": labels})["loss"] for _ in range(5)]
    shardings = make_zoo.megatron_shardings("gpt_decoder")[0] if "tp" in mesh else {}
    if "dp" in mesh:
        shardings = {**shardings, "input_ids": ("dp",)}
    trainer = pmc.compile_training(model, loss=loss, optimizer=optimizer, devices=8, mesh=mesh,
                                   shardings=shardings, zero=zero)
    got = [trainer.step({**feeds, "labels": labels})["loss"] for _ in range(5)]
    np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=f"{mesh}, ZeRO-{zero}")
