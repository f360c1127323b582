"""pmc-opt compile --train: the train step from the command line is the
step pmc.compile_training builds (the same losses per step from the same
weights), its flags are checked, and --emit plan plans it."""

import json
import os
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import make_zoo
from conftest import TOOL_TIMEOUT, assert_clean_failure, run_tool


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


def _losses(stdout):
    return [float(line.split()[3]) for line in stdout.splitlines() if line.startswith("step ")]


@pytest.fixture(scope="module")
def cli_training(gpt, pmc_opt, tmp_path_factory):
    """Train-step bundles of the zoo's GPT at 2 devices (dp, ZeRO-2) and 1,
    and 3 stacked batches."""
    path, model = gpt
    out = tmp_path_factory.mktemp("cli_train")
    bundles = {}
    for devices, extra in ((2, ["--mesh", "dp=2", "--shard", "input_ids=dp", "--zero", "2"]),
                           (1, [])):
        bundles[devices] = out / f"train{devices}.pmc"
        proc = run_tool([pmc_opt, "compile", path, "--train", "--loss", "cross_entropy:logits",
                         "--optimizer", "adamw:lr=3e-3,weight_decay=0.01",
                         "--devices", str(devices), *extra, "-o", bundles[devices]])
        assert proc.returncode == 0, proc.stderr
    ids = make_zoo.make_inputs(model, seed=1)["input_ids"]
    rng = np.random.default_rng(5)
    batches = {"input_ids": np.stack([ids, ids[::-1], ids]),
               "labels": rng.integers(0, 50, (3, 4, 8))}
    np.savez(out / "batches.npz", **batches)
    return bundles, out / "batches.npz", batches, model, out


def test_pmc_run_trains_like_python(cli_training, pmc_run, pmc_module):
    """pmc-run --train: a progress line per step; the loss curve is
    compile_training's over the same batches (batch t mod 3)."""
    pmc = pmc_module
    bundles, npz, batches, model, _ = cli_training
    proc = run_tool([pmc_run, bundles[2], "--train", "--inputs", npz, "--steps", "6"])
    assert proc.returncode == 0, proc.stderr
    lines = [x for x in proc.stdout.splitlines() if x.startswith("step ")]
    assert len(lines) == 6 and "samples/s" in lines[0]
    trainer = pmc.compile_training(model, loss=pmc.CrossEntropyLoss(logits="logits"),
                                   optimizer=pmc.AdamW(lr=3e-3, weight_decay=0.01))
    want = [trainer.step({k: v[t % 3] for k, v in batches.items()})["loss"] for t in range(6)]
    np.testing.assert_allclose(_losses(proc.stdout), want, rtol=1e-5)


def test_pmc_run_resume_equals_an_uninterrupted_run(cli_training, pmc_run):
    """--save after 4 steps, --resume for 2 more (at 2 devices and at 1)
    gives the last 2 of an uninterrupted run of 6; a damaged checkpoint is
    an error naming it."""
    bundles, npz, _, _, out = cli_training
    full = run_tool([pmc_run, bundles[2], "--train", "--inputs", npz, "--steps", "6"])
    assert full.returncode == 0, full.stderr
    first = run_tool([pmc_run, bundles[2], "--train", "--inputs", npz, "--steps", "4",
                      "--save", out / "ckpt.pmct"])
    assert first.returncode == 0, first.stderr
    for devices in (2, 1):
        rest = run_tool([pmc_run, bundles[devices], "--train", "--inputs", npz, "--steps", "2",
                         "--resume", out / "ckpt.pmct"])
        assert rest.returncode == 0, rest.stderr
        assert [x.split()[1] for x in rest.stdout.splitlines()] == ["5", "6"]
        np.testing.assert_allclose(_losses(rest.stdout), _losses(full.stdout)[4:], rtol=1e-5,
                                   err_msg=f"resumed at {devices} devices")
    data = bytearray((out / "ckpt.pmct").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (out / "bad.pmct").write_bytes(bytes(data))
    proc = run_tool([pmc_run, bundles[2], "--train", "--inputs", npz, "--resume", out / "bad.pmct"])
    assert_clean_failure(proc, "bad.pmct")


def test_mpirun_trains_and_saves_the_sharded_state(cli_training, pmc_run, tmp_path):
    """mpirun -np 2 pmc-run --train on the ZeRO-2 bundle (each process holds
    its half of the optimizer state): the losses of the thread ranks, and
    --save gathers the shards on rank 0 into a checkpoint that resumes (at
    1 device) as the uninterrupted run goes on."""
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        pytest.skip("mpirun is not installed")
    bundles, npz, _, _, _ = cli_training
    full = run_tool([pmc_run, bundles[2], "--train", "--inputs", npz, "--steps", "6"])
    assert full.returncode == 0, full.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMC_TEST_")}
    env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"
    ckpt = tmp_path / "mpi.pmct"
    cmd = [mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "2", "--mca", "btl",
           "self,vader", pmc_run, bundles[2], "--train", "--inputs", npz, "--steps", "4",
           "--save", ckpt, "--collective-timeout", "60"]
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env,
                          timeout=TOOL_TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    np.testing.assert_allclose(_losses(proc.stdout), _losses(full.stdout)[:4], rtol=1e-5)
    rest = run_tool([pmc_run, bundles[1], "--train", "--inputs", npz, "--steps", "2",
                     "--resume", ckpt])
    assert rest.returncode == 0, rest.stderr
    np.testing.assert_allclose(_losses(rest.stdout), _losses(full.stdout)[4:], rtol=1e-5)


def test_one_checkpoint_format_for_python_and_pmc_run(cli_training, pmc_run, pmc_module,
                                                     tmp_path):
    """Trainer.save -> pmc-run --resume, and pmc-run --save ->
    pmc.load_training(model=, loss=, optimizer=): either continues the other's
    run as an uninterrupted one would."""
    pmc = pmc_module
    bundles, npz, batches, model, _ = cli_training
    loss = pmc.CrossEntropyLoss(logits="logits")
    optimizer = pmc.AdamW(lr=3e-3, weight_decay=0.01)
    feeds = [{k: v[t % 3] for k, v in batches.items()} for t in range(6)]
    trainer = pmc.compile_training(model, loss=loss, optimizer=optimizer)
    full = [trainer.step(f)["loss"] for f in feeds]

    trainer = pmc.compile_training(model, loss=loss, optimizer=optimizer, devices=2)
    for f in feeds[:4]:
        trainer.step(f)
    trainer.save(tmp_path / "python.pmct")
    rest = run_tool([pmc_run, bundles[2], "--train", "--inputs", npz, "--steps", "2",
                     "--resume", tmp_path / "python.pmct"])
    assert rest.returncode == 0, rest.stderr
    np.testing.assert_allclose(_losses(rest.stdout), full[4:], rtol=1e-5)

    first = run_tool([pmc_run, bundles[2], "--train", "--inputs", npz, "--steps", "4",
                      "--save", tmp_path / "cli.pmct"])
    assert first.returncode == 0, first.stderr
    with pytest.raises(ValueError, match="holds no model"):
        pmc.load_training(tmp_path / "cli.pmct")
    resumed = pmc.load_training(tmp_path / "cli.pmct", model=model, loss=loss,
                                optimizer=optimizer)
    assert resumed.step_count == 4
    np.testing.assert_allclose([resumed.step(f)["loss"] for f in feeds[4:]], full[4:],
                               rtol=1e-5)


def test_pmc_run_train_errors(cli_training, pmc_run, zoo, pmc_opt, tmp_path):
    bundles, npz, batches, _, _ = cli_training
    proc = run_tool([pmc_run, bundles[2], "--steps", "3", "--inputs", npz])
    assert_clean_failure(proc, "go with --train")
    np.savez(tmp_path / "ids.npz", input_ids=batches["input_ids"])
    proc = run_tool([pmc_run, bundles[2], "--train", "--inputs", tmp_path / "ids.npz"])
    assert_clean_failure(proc, "no feed for input 'labels'")
    np.savez(tmp_path / "odd.npz", input_ids=batches["input_ids"][:, :2],
             labels=batches["labels"])
    proc = run_tool([pmc_run, bundles[2], "--train", "--inputs", tmp_path / "odd.npz"])
    assert_clean_failure(proc, "input 'input_ids'", "K batches")
    inference = tmp_path / "mlp.pmc"
    assert run_tool([pmc_opt, "compile", zoo["mlp"], "-o", inference]).returncode == 0
    proc = run_tool([pmc_run, inference, "--train", "--inputs", npz])
    assert_clean_failure(proc, "train step")
