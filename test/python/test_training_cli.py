"""pmc-opt compile --train: the train step from the command line is the
step pmc.compile_training builds (the same losses per step from the same
weights), its flags are checked, and --emit plan plans it."""

import json

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import make_zoo
from conftest import assert_clean_failure, run_tool


@pytest.fixture(scope="module")
def gpt(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "gpt.onnx"
    model = make_zoo.make_gpt_decoder(batch=4)
    onnx.save(model, path)
    return path, model


def test_cli_train_step_equals_the_python_one(gpt, pmc_opt, pmc_module, tmp_path):
    pmc = pmc_module
    path, model = gpt
    bundle = tmp_path / "train.pmc"
    proc = run_tool([pmc_opt, "compile", path, "--train", "--loss",
                     "cross_entropy:logits,labels,label_smoothing=0.1",
                     "--optimizer", "adamw:lr=3e-3,weight_decay=0.01,betas=0.9/0.95",
                     "--devices", "2", "--zero", "2", "--mesh", "dp=2",
                     "--shard", "input_ids=dp", "-o", bundle])
    assert proc.returncode == 0, proc.stderr
    exe = pmc.load(bundle)
    initializers = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    params = [n for n in exe.state_names if n in initializers]
    assert "lm_head_0" in params and "l0_up_w_0.exp_avg" in exe.state_names
    for name in params:
        exe.set_state(name, initializers[name])
    feeds = make_zoo.make_inputs(model, seed=1)
    labels = np.random.default_rng(5).integers(0, 50, (4, 8))
    got = []
    for t in range(1, 6):
        out = exe.run_dict({**feeds, "labels": labels, "pmc.lr": np.float32(3e-3),
                            "pmc.step": np.float32(t)})
        got.append(float(out[exe.outputs[0].name]))
    trainer = pmc.compile_training(
        model, loss=pmc.CrossEntropyLoss(logits="logits", label_smoothing=0.1),
        optimizer=pmc.AdamW(lr=3e-3, weight_decay=0.01, betas=(0.9, 0.95)))
    want = [trainer.step({**feeds, "labels": labels})["loss"] for _ in range(5)]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    # (Not attention's key bias: softmax ignores its shift, so its exact
    # gradient is zero and Adam turns rounding noise into +-lr steps.)
    for name in ("lm_head_0", "l0_up_w_0", "l1_down_w_0", "wte_0"):
        np.testing.assert_allclose(exe.get_state(name), trainer.parameters()[name], rtol=1e-4,
                                   atol=1e-5, err_msg=name)


def test_cli_plans_a_train_step(gpt, pmc_opt, tmp_path):
    path, _ = gpt
    proc = run_tool([pmc_opt, "compile", path, "--train", "--loss", "cross_entropy:logits",
                     "--optimizer", "sgd:lr=0.1,momentum=0.9", "--devices", "4",
                     "--emit", "plan", "--explain"])
    assert proc.returncode == 0, proc.stderr
    assert "optimizer state" in proc.stdout and "ZeRO" in proc.stdout
    plan = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert "zero" in plan and "optimizer_state_bytes" in plan["predicted"]
    assert any(a["zero"] == 3 for a in plan["alternatives"])


@pytest.mark.parametrize("flags, needles", [
    (["--loss", "mse:logits"], ["need --train"]),
    (["--train"], ["--train needs --loss"]),
    (["--train", "--loss", "hinge:logits"], ["expected cross_entropy"]),
    (["--train", "--loss", "mse:logits,t,ignore_index=3"], ["not an option of mse"]),
    (["--train", "--loss", "cross_entropy:nope"], ["'nope' is not an output"]),
    (["--train", "--loss", "cross_entropy:logits", "--optimizer", "adamw:momentum=0.9"],
     ["not a setting of adamw"]),
    (["--train", "--loss", "cross_entropy:logits", "--optimizer", "lion"],
     ["expected sgd, adam or adamw"]),
    (["--train", "--loss", "cross_entropy:logits", "--zero", "4"], ["expected 0, 1, 2 or 3"]),
    (["--train", "--loss", "cross_entropy:logits", "--frozen", "nope"], ["'nope'"]),
])
def test_cli_train_flags_are_checked(gpt, pmc_opt, tmp_path, flags, needles):
    path, _ = gpt
    proc = run_tool([pmc_opt, "compile", path, *flags, "-o", tmp_path / "t.pmc"])
    assert_clean_failure(proc, *needles)
