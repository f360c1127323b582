"""Multi-device execution end to end: every zoo model x devices {1, 2, 4, 8} x
plans {data parallel (the default plan), Megatron tensor parallel, 2-D dp x tp}
gives the 1-device result (rtol 1e-4) with the ranks as threads; a subset runs
as 4 MPI processes (`mpirun -np 4 pmc-run`, hard timeout).

The zoo models are built with batch 8 so data parallelism divides on 8 devices.
A plan that cannot apply (a dimension not divisible, no Megatron layout for a
CNN) is skipped with the reason printed.
"""

import os
import shutil
import subprocess

import numpy as np
import onnx
import pytest

import make_zoo
from conftest import TOOL_TIMEOUT, ZOO_BATCH, one_device_reference, tool_path

import pmc

BATCH = ZOO_BATCH
DEVICES = (1, 2, 4, 8)
PLANS = ("dp", "megatron", "dp_tp")


def _plan(name, model, plan, devices):
    """(compile kwargs, None) or (None, reason to skip)."""
    if plan == "dp" or devices == 1:
        return {"devices": devices, "plan": "default"}, None
    shardings, dims = make_zoo.megatron_shardings(name)
    if shardings is None:
        return None, f"{name}: no Megatron tensor-parallel layout for this model"
    inits = {t.name for t in model.graph.initializer}
    missing = sorted(set(shardings) - inits)
    assert not missing, f"{name}: the test names initializers the zoo lacks: {missing}"
    tp = devices if plan == "megatron" else devices // 2
    if plan == "dp_tp" and devices < 4:
        return None, f"dp x tp needs 4 devices or more, got {devices}"
    bad = [d for d in dims if d % tp]
    if bad:
        return None, f"{name}: tp={tp} does not divide {bad} (attention heads / MLP width)"
    if plan == "megatron":
        return {"devices": devices, "mesh": {"tp": tp}, "shardings": shardings}, None
    first = model.graph.input[0].name
    return {"devices": devices, "mesh": {"dp": 2, "tp": tp},
            "shardings": dict(shardings, **{first: ("dp",)})}, None


@pytest.fixture(scope="module")
def batch_zoo(batch8_zoo):
    return batch8_zoo


def _reference(path):
    return one_device_reference(path)


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("devices", DEVICES)
@pytest.mark.parametrize("name", make_zoo.MODEL_NAMES)
def test_partitioned_equals_one_device(batch_zoo, name, devices, plan):
    path = batch_zoo[name]
    kwargs, reason = _plan(name, onnx.load(path), plan, devices)
    if reason:
        print(f"SKIP {name} devices={devices} plan={plan}: {reason}")
        pytest.skip(reason)
    exe = pmc.compile(path, **kwargs)
    assert exe.plan_dict["devices"] == devices
    if devices > 1:
        assert exe.plan_dict["plan_source"] == ("default" if plan == "dp" else "user")
        assert len(exe.plan_dict["ranks"]) == devices
    feeds, want = _reference(path)
    got = exe.run_dict(feeds)
    for out, ref in want.items():
        np.testing.assert_allclose(got[out], ref, rtol=1e-4, atol=1e-4,
                                   err_msg=f"{name} devices={devices} plan={plan} output {out}")


def test_megatron_mlp_has_one_all_reduce(batch_zoo):
    exe = pmc.compile(batch_zoo["mlp"], devices=4, mesh={"tp": 4},
                      shardings=make_zoo.megatron_shardings("mlp")[0], verify=True)
    assert exe.plan_dict["collectives"].get("all_reduce") == 1, exe.plan
    assert exe.verify_report["ok"] and exe.verify_report["max_abs"] < 1e-4
    assert "plan: user (mesh tp=4; " in exe.plan


def test_bad_plans_are_clear_errors(batch_zoo):
    path = batch_zoo["mlp"]
    with pytest.raises(pmc.CompileError, match="has 6 devices, but --devices is 4"):
        pmc.compile(path, devices=4, mesh={"dp": 2, "tp": 3})
    with pytest.raises(pmc.CompileError, match="no graph input or weight has this name"):
        pmc.compile(path, devices=2, mesh={"tp": 2}, shardings={"nope": ("tp",)})
    with pytest.raises(pmc.CompileError, match="names axis 'pp'"):
        pmc.compile(path, devices=2, mesh={"tp": 2}, shardings={"x": ("pp",)})
    with pytest.raises(ValueError, match="not None, an axis name"):
        pmc.compile(path, devices=2, mesh={"tp": 2}, shardings={"x": (3,)})


@pytest.mark.parametrize("name,plan", [("mlp", "megatron"), ("transformer_encoder", "dp_tp")])
def test_mpirun_four_processes(batch_zoo, tmp_path, name, plan):
    mpirun = shutil.which("mpirun")
    if mpirun is None:
        pytest.skip("mpirun is not installed")
    path = batch_zoo[name]
    kwargs, reason = _plan(name, onnx.load(path), plan, 4)
    if reason:
        pytest.skip(reason)
    bundle = pmc.compile(path, **kwargs).save(str(tmp_path / "m.pmc"))
    feeds, want = _reference(path)
    np.savez(tmp_path / "in.npz", **feeds)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMC_TEST_")}
    env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"
    cmd = [mpirun, "--allow-run-as-root", "--oversubscribe", "-np", "4",
           "--mca", "btl", "self,vader", tool_path("pmc-run"), bundle,
           "--inputs", str(tmp_path / "in.npz"), "--output", str(tmp_path / "out.npz"),
           "--collective-timeout", "60"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=TOOL_TIMEOUT)
    assert r.returncode == 0, r.stdout + r.stderr
    with np.load(tmp_path / "out.npz") as out:
        for key, ref in want.items():
            np.testing.assert_allclose(out[key], ref, rtol=1e-4, atol=1e-4)
