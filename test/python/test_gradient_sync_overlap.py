"""The data-parallel gradient sync overlaps the backward pass: each reduction
starts where its gradient is made (pmc-hoist-collectives) and runs on the
rank's background thread until a command needs its result
(CollectiveOverlap.h); with `bucket_mb` the all-reduces share buckets
(pmc-combine-all-reduces). None of it changes a number: results are those of
one device, and bitwise those of running every collective in order."""

import numpy as np
import pytest

import make_zoo
from conftest import BUILD_DIR, run_tool
from pmc.bundle import BundleInfo

def _case(name):
    model = getattr(make_zoo, f"make_{name}")(batch=4)
    feeds = make_zoo.make_inputs(model, seed=3)
    out = model.graph.output[0]
    dims = [d.dim_value for d in out.type.tensor_type.shape.dim]
    labels = np.random.default_rng(7).integers(0, dims[-1], dims[:-1])
    return model, {**feeds, "labels": labels}, out.name


def _batch_over_dp(model, feeds):
    """Shardings that split dimension 0 of every graph input and the labels
    over dp (a given mesh alone lets the planner replicate a small model)."""
    return {name: [["dp"]] + [[]] * (np.ndim(value) - 1) for name, value in feeds.items()}


def _train(pmc, model, feeds, logits, steps=3, **options):
    if "mesh" in options and options["mesh"].get("dp", 1) > 1:
        options.setdefault("shardings", _batch_over_dp(model, feeds))
    # SGD: AdamW would turn the rounding noise of a gradient that is zero
    # in exact arithmetic (an attention key bias) into full-size steps.
    trainer = pmc.compile_training(model, loss=pmc.CrossEntropyLoss(logits=logits),
                                   optimizer=pmc.SGD(lr=0.05, momentum=0.9), **options)
    losses = [trainer.step(feeds)["loss"] for _ in range(steps)]
    return trainer, np.array(losses), trainer.parameters()


def _commands(trainer, rank=0):
    return BundleInfo.read(trainer._exe.path).program(rank)["commands"]


@pytest.mark.parametrize("name", ["mlp", "gpt_decoder"])
def test_buckets_and_overlap_equal_one_device(pmc_module, name):
    """dp=4 (and dp=2 x tp=2) with one all-reduce per gradient, buckets of
    1 KiB and of 25 MiB, ZeRO-2: the loss curve and parameters equal one
    device's; buckets make fewer all-reduces."""
    pmc = pmc_module
    model, feeds, logits = _case(name)
    _, ref_losses, ref_params = _train(pmc, model, feeds, logits)
    counts = {}
    for devices, mesh, bucket_mb, zero in [(4, {"dp": 4}, 0, 0), (4, {"dp": 4}, 1 / 1024, 0),
                                           (4, {"dp": 4}, 25, 0), (4, {"dp": 2, "tp": 2}, 25, 1),
                                           (4, {"dp": 4}, 25, 2)]:
        trainer, losses, params = _train(pmc, model, feeds, logits, devices=devices, mesh=mesh,
                                         zero=zero, bucket_mb=bucket_mb)
        np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
        for k, v in params.items():
            np.testing.assert_allclose(v, ref_params[k], rtol=1e-4, atol=1e-6, err_msg=k)
        counts[(bucket_mb, zero)] = sum(c["op"] == "all_reduce" for c in _commands(trainer))
    assert counts[(25, 0)] < counts[(0, 0)], counts
    assert counts[(25, 0)] <= counts[(1 / 1024, 0)] <= counts[(0, 0)], counts


def test_gradients_are_reduced_where_they_are_made(pmc_module):
    """In the dp program every gradient all-reduce comes before the first
    optimizer update (no reduction waits at the update), and the runtime
    starts it in the background: the first command that reads its result is
    not the next one for most of them."""
    pmc = pmc_module
    model, feeds, logits = _case("gpt_decoder")
    trainer, _, _ = _train(pmc, model, feeds, logits, steps=1, devices=2, mesh={"dp": 2})
    program = BundleInfo.read(trainer._exe.path).program(0)
    cmds = program["commands"]
    of = {b["id"]: b.get("of") for b in program["buffers"] if b["kind"] == "view"}

    def root(b):
        while b in of:
            b = of[b]
        return b

    def reads(c):
        ids = [v for k, v in c.items() if k in ("in", "a", "b", "bias")] + c.get("inputs", [])
        return {root(b) for b in ids}

    reduces = [i for i, c in enumerate(cmds) if c["op"] == "all_reduce"]
    assert len(reduces) > 4
    overlapped = 0
    for i in reduces:
        out = root(cmds[i]["out"])
        first = next((j for j in range(i + 1, len(cmds)) if out in reads(cmds[j])), len(cmds))
        overlapped += first > i + 1
    assert overlapped >= len(reduces) // 2, (overlapped, len(reduces))


def test_background_collectives_change_no_bit(pmc_module, monkeypatch):
    """PMC_SYNC_COLLECTIVES=1 runs every collective in order: the same bits."""
    pmc = pmc_module
    model, feeds, logits = _case("gpt_decoder")
    runs = []
    for sync in ("0", "1"):
        monkeypatch.setenv("PMC_SYNC_COLLECTIVES", sync)
        _, losses, params = _train(pmc, model, feeds, logits, devices=4, mesh={"dp": 2, "tp": 2},
                                   bucket_mb=25)
        runs.append((losses, params))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    for k in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][k], runs[1][1][k], err_msg=k)


def test_a_rank_failing_while_a_reduction_runs_is_reported(pmc_module, monkeypatch):
    """Rank 1 fails at a command after a background all-reduce started and
    before its result is needed: the step raises naming rank 1 (no hang, no
    crash), and a later step without the hook runs."""
    pmc = pmc_module
    model, feeds, logits = _case("mlp")
    probe, _, _ = _train(pmc, model, feeds, logits, steps=1, devices=2, mesh={"dp": 2})
    cmds = _commands(probe, rank=1)
    start = next(i for i, c in enumerate(cmds) if c["op"] == "all_reduce" and
                 cmds[i + 1].get("inputs", [None])[0] != c["out"])
    monkeypatch.setenv("PMC_TEST_FAIL_RANK", "1")
    monkeypatch.setenv("PMC_TEST_FAIL_AT_COMMAND", str(start + 1))
    monkeypatch.setenv("PMC_COLLECTIVE_TIMEOUT", "20")
    trainer = pmc.compile_training(model, loss=pmc.CrossEntropyLoss(logits=logits),
                                   optimizer=pmc.AdamW(lr=3e-3), devices=2, mesh={"dp": 2})
    with pytest.raises(RuntimeError, match="rank 1"):
        trainer.step(feeds)


def test_bad_bucket_sizes_are_refused(pmc_module, tmp_path):
    pmc = pmc_module
    model, _, logits = _case("mlp")
    for bad in (-1, float("nan"), "25", True):
        with pytest.raises(ValueError, match="bucket_mb"):
            pmc.compile_training(model, loss=pmc.CrossEntropyLoss(logits=logits),
                                 optimizer=pmc.SGD(lr=0.1), devices=2, bucket_mb=bad)
    path = tmp_path / "mlp.onnx"
    path.write_bytes(model.SerializeToString())
    result = run_tool([f"{BUILD_DIR}/bin/pmc-opt", "compile", path, "--train",
                       f"--loss=cross_entropy:{logits}", "--optimizer=sgd:lr=0.1",
                       "--devices=2", "--bucket-mb=-1", "-o", tmp_path / "x.pmc"])
    assert result.returncode != 0
    assert "--bucket-mb is -1" in result.stderr
