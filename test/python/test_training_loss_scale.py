"""Dynamic loss scaling (fp16 training; pmc-train-step loss-scale, with the
semantics of torch.amp.GradScaler): the backward runs on loss * S, the
gradients are unscaled before clipping and the update, a step whose
gradients hold inf or NaN changes no parameter or optimizer state on any
rank and halves S, and S doubles after a growth interval of finite steps."""

import numpy as np
import pytest

import make_zoo
from conftest import run_tool


def _case(name="gpt_decoder"):
    model = getattr(make_zoo, f"make_{name}")(batch=4)
    feeds = make_zoo.make_inputs(model, seed=1)
    out = model.graph.output[0]
    dims = [d.dim_value for d in out.type.tensor_type.shape.dim]
    labels = np.random.default_rng(5).integers(0, dims[-1], dims[:-1])
    return model, {**feeds, "labels": labels}, out.name


def test_scaling_by_a_power_of_two_changes_no_number_and_grows(pmc_module):
    """fp32 with loss_scale 1024: the gradients are scaled and unscaled
    exactly, so the curve and parameters are those without scaling; the
    scale doubles every 3 finite steps."""
    pmc = pmc_module
    model, feeds, logits = _case("mlp")
    loss = pmc.CrossEntropyLoss(logits=logits)
    opt = pmc.AdamW(lr=3e-3, weight_decay=0.01)
    plain = pmc.compile_training(model, loss=loss, optimizer=opt)
    scaled = pmc.compile_training(model, loss=loss, optimizer=opt, loss_scale=1024,
                                  loss_scale_growth_interval=3, grad_clip=1.0)
    clipped = pmc.compile_training(model, loss=loss, optimizer=opt, grad_clip=1.0)
    assert plain.loss_scale is None and scaled.loss_scale == 1024
    scales = []
    for _ in range(7):
        out = scaled.step(feeds)
        assert out["skipped"] is False
        np.testing.assert_allclose(out["loss"], clipped.step(feeds)["loss"], rtol=1e-6)
        plain.step(feeds)
        scales.append(scaled.loss_scale)
    assert scales == [1024, 1024, 2048, 2048, 2048, 4096, 4096]
    assert scaled.step_count == 7
    for k, v in clipped.parameters().items():
        np.testing.assert_allclose(scaled.parameters()[k], v, rtol=1e-5, atol=1e-7, err_msg=k)


def _until_finite(trainer, feeds):
    """Steps until one is not skipped; checks that the skipped ones changed
    nothing but the scale. Returns (skipped steps, the finite step's loss)."""
    params, states = trainer.parameters(), trainer.optimizer_state()
    skipped = 0
    while True:
        scale = trainer.loss_scale
        out = trainer.step(feeds)
        if not out["skipped"]:
            return skipped, out["loss"]
        skipped += 1
        assert trainer.loss_scale == scale / 2
        assert trainer.step_count == 0
        for k, v in trainer.parameters().items():
            np.testing.assert_array_equal(v, params[k], err_msg=k)
        for k, v in trainer.optimizer_state().items():
            if not k.startswith("pmc."):
                np.testing.assert_array_equal(v, states[k], err_msg=k)
        assert skipped < 40


def test_overflowing_steps_are_skipped_on_every_rank(pmc_module):
    """fp16 from a scale of 2^40: the backward overflows, and those steps
    change no parameter or optimizer state (sharded or not) on any rank,
    keep the step count and halve the scale, until the first finite step,
    which is the step of a run started at that scale; at 4 devices (ZeRO-2
    over dp, and dp x tp with ZeRO-1) as many steps are skipped as on one."""
    pmc = pmc_module
    model, feeds, logits = _case()
    loss = pmc.CrossEntropyLoss(logits=logits)
    opt = pmc.AdamW(lr=3e-3, weight_decay=0.01)
    one = pmc.compile_training(model, loss=loss, optimizer=opt, dtype="fp16",
                               loss_scale=2.0 ** 40)
    skipped, first = _until_finite(one, feeds)
    assert skipped >= 20 and one.step_count == 1
    final = 2.0 ** 40 / 2 ** skipped
    assert one.loss_scale == final
    fresh = pmc.compile_training(model, loss=loss, optimizer=opt, dtype="fp16",
                                 loss_scale=final)
    assert fresh.step(feeds) == {"loss": first, "skipped": False}
    for k, v in fresh.parameters().items():
        np.testing.assert_array_equal(one.parameters()[k], v, err_msg=k)
    second = one.step(feeds)["loss"]
    tp = make_zoo.megatron_shardings("gpt_decoder")[0]
    for kwargs in (dict(mesh={"dp": 4}, zero=2, shardings={"input_ids": ("dp",)}),
                   dict(mesh={"dp": 2, "tp": 2}, zero=1,
                        shardings={**tp, "input_ids": ("dp",)})):
        many = pmc.compile_training(model, loss=loss, optimizer=opt, dtype="fp16",
                                    loss_scale=2.0 ** 40, devices=4, **kwargs)
        many_skipped, many_first = _until_finite(many, feeds)
        assert many_skipped == skipped, kwargs
        np.testing.assert_allclose(many_first, first, rtol=2e-2, err_msg=str(kwargs))
        np.testing.assert_allclose(many.step(feeds)["loss"], second, rtol=2e-2,
                                   err_msg=str(kwargs))


def test_a_nan_batch_is_skipped(pmc_module):
    pmc = pmc_module
    model, feeds, logits = _case("mlp")
    trainer = pmc.compile_training(model, loss=pmc.CrossEntropyLoss(logits=logits),
                                   optimizer=pmc.SGD(lr=0.1, momentum=0.9), dtype="fp16")
    assert trainer.loss_scale == 65536
    first = trainer.step(feeds)
    bad = {k: v.copy() for k, v in feeds.items()}
    x = next(iter(bad))
    bad[x].flat[0] = np.nan
    before = trainer.parameters()
    out = trainer.step(bad)
    assert out["skipped"] and np.isnan(out["loss"])
    assert trainer.step_count == 1 and trainer.loss_scale == 32768
    for k, v in trainer.parameters().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    assert trainer.step(feeds)["loss"] < first["loss"]


@pytest.mark.parametrize("name", ["mlp", "gpt_decoder"])
def test_fp16_training(pmc_module, name):
    """dtype="fp16": forward and backward in float16 with dynamic loss
    scaling. The curve at 2 and 4 devices equals one device's within 2e-2,
    stays near fp32's and learns."""
    pmc = pmc_module
    model, feeds, logits = _case(name)
    loss = pmc.CrossEntropyLoss(logits=logits)
    opt = pmc.AdamW(lr=3e-3, weight_decay=0.01)
    curves = {}
    for dtype, devices in (("fp32", 1), ("fp16", 1), ("fp16", 2), ("fp16", 4)):
        trainer = pmc.compile_training(model, loss=loss, optimizer=opt, devices=devices,
                                       dtype=dtype)
        curves[dtype, devices] = [trainer.step(feeds)["loss"] for _ in range(20)]
        if dtype == "fp16":
            assert trainer.step_count >= 18  # a skipped step or two at most
    for devices in (2, 4):
        np.testing.assert_allclose(curves["fp16", devices], curves["fp16", 1], rtol=2e-2)
    np.testing.assert_allclose(curves["fp16", 1][:5], curves["fp32", 1][:5], rtol=2e-2)
    assert curves["fp16", 1][-1] < 0.5 * curves["fp16", 1][0], "fp16 training does not learn"


def test_loss_scale_survives_a_checkpoint(pmc_module, tmp_path):
    pmc = pmc_module
    model, feeds, logits = _case("mlp")
    trainer = pmc.compile_training(model, loss=pmc.CrossEntropyLoss(logits=logits),
                                   optimizer=pmc.AdamW(lr=1e-3), loss_scale=2.0 ** 40,
                                   dtype="fp16")
    for _ in range(3):
        assert trainer.step(feeds)["skipped"]
    trainer.save(tmp_path / "ckpt.pmct")
    resumed = pmc.load_training(tmp_path / "ckpt.pmct")
    assert resumed.loss_scale == trainer.loss_scale == 2.0 ** 37
    assert resumed.step_count == trainer.step_count
    a = [trainer.step(feeds)["loss"] for _ in range(3)]
    b = [resumed.step(feeds)["loss"] for _ in range(3)]
    np.testing.assert_allclose(b, a, rtol=1e-6)


def test_bad_loss_scale_settings(pmc_module):
    pmc = pmc_module
    model, _, logits = _case("mlp")
    loss = pmc.CrossEntropyLoss(logits=logits)
    with pytest.raises(ValueError, match="loss_scale must be a number >= 0"):
        pmc.compile_training(model, loss=loss, optimizer=pmc.SGD(lr=0.1), loss_scale=-1)
    with pytest.raises(ValueError, match="loss_scale_growth_interval"):
        pmc.compile_training(model, loss=loss, optimizer=pmc.SGD(lr=0.1), loss_scale=8,
                             loss_scale_growth_interval=0)


def test_pmc_run_reports_skipped_steps(pmc_opt, pmc_run, tmp_path):
    import onnx  # noqa: PLC0415

    model, feeds, logits = _case("mlp")
    onnx.save(model, tmp_path / "mlp.onnx")
    bundle = tmp_path / "train.pmc"
    proc = run_tool([pmc_opt, "compile", tmp_path / "mlp.onnx", "--train", "--loss",
                     f"cross_entropy:{logits}", "--optimizer", "sgd:lr=0.1",
                     "--dtype", "fp16", "--loss-scale", str(2.0 ** 40), "-o", bundle])
    assert proc.returncode == 0, proc.stderr
    np.savez(tmp_path / "batch.npz", **feeds)
    proc = run_tool([pmc_run, bundle, "--train", "--inputs", tmp_path / "batch.npz",
                     "--steps", "4"])
    assert proc.returncode == 0, proc.stderr
    lines = [x for x in proc.stdout.splitlines() if x.startswith("step ")]
    assert len(lines) == 4
    assert all("skipped: inf or NaN gradients" in x for x in lines), lines
    # Skipped steps keep their number: the optimizer has not stepped yet.
    assert all(x.split()[1] == "1" for x in lines), lines
    proc = run_tool([pmc_opt, "compile", tmp_path / "mlp.onnx", "--loss-scale", "8",
                     "-o", tmp_path / "x.pmc"])
    assert proc.returncode != 0 and "need --train" in proc.stderr
