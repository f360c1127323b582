"""Training pipelines, one microbatch per step (docs/design/pipeline.md,
"Training pipelines"): the forward cut into stages, each stage's backward and
optimizer update on its own ranks (activations sent forward, their gradients
back), the rest of the mesh data parallel. Every loss, the trained weights and
a checkpoint equal one device's; under mpirun too."""

import os
import shutil
import subprocess

import numpy as np
import onnx
import pytest

import make_zoo
from conftest import TOOL_TIMEOUT, assert_clean_failure, run_tool

STEPS = 4


@pytest.fixture(scope="module")
def models():
    return {"mlp": make_zoo.make_mlp(batch=4), "gpt_decoder": make_zoo.make_gpt_decoder(batch=4)}


def _loss_and_feeds(pmc, name, model, steps):
    rng = np.random.default_rng(3)
    feeds = [make_zoo.make_inputs(model, seed=t) for t in range(steps)]
    if name == "gpt_decoder":
        for f in feeds:
            f["labels"] = rng.integers(0, 50, (4, 8))
        return pmc.CrossEntropyLoss(logits="logits", labels="labels"), feeds
    out = model.graph.output[0].name
    for f in feeds:
        f["target"] = rng.standard_normal((4, 10)).astype(np.float32)
    return pmc.MSELoss(output=out, target="target"), feeds


@pytest.mark.parametrize("name,devices,stages", [
    ("mlp", 2, 2), ("mlp", 4, 4), ("mlp", 4, 2), ("gpt_decoder", 2, 2), ("gpt_decoder", 4, 2),
])
def test_pipeline_train_step_equals_one_device(pmc_module, models, name, devices, stages):
    """pp = stages (x dp = devices / stages): the losses over 4 steps and the
    trained weights equal one device's. The GPT trains with SGD: the key
    bias of attention has a zero gradient in exact arithmetic (softmax
    ignores a per-row constant), which Adam would scale up to lr-sized steps
    of rounding noise."""
    pmc = pmc_module
    model = models[name]
    loss, feeds = _loss_and_feeds(pmc, name, model, STEPS)
    optimizer = (pmc.AdamW(lr=1e-2, weight_decay=0.1) if name == "mlp" else
                 pmc.SGD(lr=0.1, momentum=0.9))
    one = pmc.compile_training(model, loss=loss, optimizer=optimizer)
    pipe = pmc.compile_training(model, loss=loss, optimizer=optimizer, devices=devices,
                                stages=stages)
    want = [one.step(f)["loss"] for f in feeds]
    got = [pipe.step(f)["loss"] for f in feeds]
    np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=f"{name} pp={stages}")
    for key, value in one.parameters().items():
        np.testing.assert_allclose(pipe.parameters()[key], value, rtol=1e-4, atol=1e-5,
                                   err_msg=key)


def test_pipeline_checkpoint_resumes_at_one_device(pmc_module, models, tmp_path):
    """Trainer.save of a pp=2 x dp=2 run (each stage's ranks hold their
    stage's parameters and Adam moments) -> load_training at 1 device goes
    on as the uninterrupted one-device run."""
    pmc = pmc_module
    model = models["mlp"]
    loss, feeds = _loss_and_feeds(pmc, "mlp", model, 6)
    optimizer = pmc.AdamW(lr=1e-2)
    one = pmc.compile_training(model, loss=loss, optimizer=optimizer)
    want = [one.step(f)["loss"] for f in feeds]
    pipe = pmc.compile_training(model, loss=loss, optimizer=optimizer, devices=4, stages=2)
    for f in feeds[:3]:
        pipe.step(f)
    pipe.save(tmp_path / "pp.pmct")
    resumed = pmc.load_training(tmp_path / "pp.pmct", devices=1)
    np.testing.assert_allclose([resumed.step(f)["loss"] for f in feeds[3:]], want[3:],
                               rtol=1e-5)


def test_pmc_run_pipeline_training_under_mpirun(models, pmc_opt, pmc_run, tmp_path):
    """pmc-opt compile --train --stages 2 --devices 4; mpirun -np 4 pmc-run
    --train gives the thread ranks' losses, and --save gathers every stage's
    state on rank 0 (resumed at 1 device)."""
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        pytest.skip("mpirun is not installed")
    path = tmp_path / "mlp.onnx"
    onnx.save(models["mlp"], path)
    out = models["mlp"].graph.output[0].name
    flags = ["--train", "--loss", f"mse:{out}", "--optimizer", "adamw:lr=0.01,weight_decay=0.1"]
    for devices, extra, bundle in ((4, ["--stages", "2"], "pp.pmc"), (1, [], "one.pmc")):
        proc = run_tool([pmc_opt, "compile", path, *flags, "--devices", str(devices), *extra,
                         "-o", tmp_path / bundle])
        assert proc.returncode == 0, proc.stderr
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "b.npz", x=rng.standard_normal((3, 4, 64)).astype(np.float32),
             target=rng.standard_normal((3, 4, 10)).astype(np.float32))
    losses = lambda text: [float(x.split()[3]) for x in text.splitlines()  # noqa: E731
                           if x.startswith("step ")]
    one = run_tool([pmc_run, tmp_path / "one.pmc", "--train", "--inputs", tmp_path / "b.npz",
                    "--steps", "5"])
    assert one.returncode == 0, one.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMC_TEST_")}
    env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"
    cmd = [mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "4", "--mca", "btl",
           "self,vader", pmc_run, tmp_path / "pp.pmc", "--train", "--inputs", tmp_path / "b.npz",
           "--steps", "3", "--save", tmp_path / "pp.pmct", "--collective-timeout", "60"]
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env,
                          timeout=TOOL_TIMEOUT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    np.testing.assert_allclose(losses(proc.stdout), losses(one.stdout)[:3], rtol=1e-5)
    rest = run_tool([pmc_run, tmp_path / "one.pmc", "--train", "--inputs", tmp_path / "b.npz",
                     "--steps", "2", "--resume", tmp_path / "pp.pmct"])
    assert rest.returncode == 0, rest.stderr
    np.testing.assert_allclose(losses(rest.stdout), losses(one.stdout)[3:], rtol=1e-5)


def test_pipeline_training_options_are_checked(pmc_module, models, pmc_opt, tmp_path):
    pmc = pmc_module
    model = models["mlp"]
    loss, _ = _loss_and_feeds(pmc, "mlp", model, 1)
    with pytest.raises(Exception, match="--stages 3 does not divide --devices 4"):
        pmc.compile_training(model, loss=loss, optimizer=pmc.SGD(lr=0.1), devices=4, stages=3)
    path = tmp_path / "mlp.onnx"
    onnx.save(model, path)
    proc = run_tool([pmc_opt, "compile", path, "--train", "--loss",
                     f"mse:{model.graph.output[0].name}", "--devices", "2", "--stages", "2",
                     "--microbatches", "2", "-o", tmp_path / "t.pmc"])
    assert_clean_failure(proc, "--microbatches 2 with --train: training pipelines run one "
                               "microbatch per step so far")
