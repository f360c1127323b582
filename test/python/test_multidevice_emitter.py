"""The N-rank bundle emitter on a hand-partitioned module (independent of the
planning passes): test/Target/multidevice-megatron.mlir, a 2-block Megatron MLP
on 4 ranks, through pmc.compile, the runtime's threads and 4 MPI processes."""

import os
import shutil
import subprocess

import numpy as np
import pytest

from conftest import REPO_ROOT, TOOL_TIMEOUT, tool_path

import pmc

MLIR = os.path.join(REPO_ROOT, "test", "Target", "multidevice-megatron.mlir")


def _weight(shape, seed):
    i = np.arange(np.prod(shape)).reshape(shape)
    return ((((i * 5 + seed * 3) % 11) - 5) / 10.0).astype(np.float32)


def _expected(x):
    y = x.astype(np.float64)
    for s in (1, 3):
        y = np.maximum(y @ _weight((8, 16), s), 0) @ _weight((16, 8), s + 1)
    return y


def test_plan_and_values():
    exe = pmc.compile(MLIR)
    plan = exe.plan_dict
    assert plan["devices"] == 4 and plan["mesh"] == [{"name": "tp", "size": 4}]
    assert plan["plan_source"] == "partitioned input"
    assert plan["collectives"] == {"all_reduce": 2}
    assert "collectives per rank: 2 all_reduce" in exe.plan
    # Each rank holds a quarter of every weight (4 sharded weights x 4 ranks).
    assert plan["weight_bytes"] == 4 * 8 * 16 * 4
    x = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
    np.testing.assert_allclose(exe.run_dict({"x": x})["y"], _expected(x), rtol=1e-5, atol=1e-5)


def test_verify_needs_an_unpartitioned_model(tmp_path):
    r = subprocess.run([tool_path("pmc-opt"), "compile", MLIR, "--devices", "4", "--verify", "-o",
                        str(tmp_path / "m.pmc")], capture_output=True, text=True,
                       timeout=TOOL_TIMEOUT)
    assert r.returncode != 0
    assert "is partitioned already (it has pmc.mesh)" in r.stderr


def test_mpirun(tmp_path):
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        pytest.skip("mpirun is not installed")
    bundle = str(tmp_path / "m.pmc")
    r = subprocess.run([tool_path("pmc-opt"), "compile", MLIR, "-o", bundle],
                       capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    assert r.returncode == 0, r.stderr
    x = np.linspace(-2, 2, 32, dtype=np.float32).reshape(4, 8)
    np.savez(tmp_path / "in.npz", x=x)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMC_TEST_")}
    env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"
    cmd = [mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "4", "--mca", "btl",
           "self,vader", tool_path("pmc-run"), bundle, "--inputs", str(tmp_path / "in.npz"),
           "--output", str(tmp_path / "out.npz"), "--collective-timeout", "30"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_allclose(out["y"], _expected(x), rtol=1e-5, atol=1e-5)
