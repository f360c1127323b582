"""Pipeline plans run end to end: 2 and 4 stages, 1 to 8 microbatches, both
schedules, dp x pp and dp x tp x pp, each run with the ranks as threads and
`verify=True`, equal the 1-device result (rtol 1e-4) on mlp,
transformer_encoder, gpt_decoder and resnet_cnn.

Needs the runtime's send/recv commands and microbatch schedule
(docs/design/pipeline.md, "Runtime"): it fails on a branch without them.
"""

import numpy as np
import onnx
import pytest

import make_zoo
from conftest import ZOO_BATCH, one_device_reference

import pmc

BATCH = ZOO_BATCH


@pytest.fixture(scope="module")
def zoo(batch8_zoo):
    return batch8_zoo


def _reference(path):
    return one_device_reference(path)


def _check(path, label, **kwargs):
    exe = pmc.compile(path, verify=True, **kwargs)
    assert exe.verify_report["ok"], exe.verify_report
    feeds, want = _reference(path)
    got = exe.run_dict(feeds)
    assert set(got) == set(want)
    for out, ref in want.items():
        np.testing.assert_allclose(got[out], ref, rtol=1e-4, atol=1e-4,
                                   err_msg=f"{label} output {out}")


CASES = [
    ("mlp", 2, 2, 1, "gpipe"),
    ("mlp", 4, 4, 8, "1f1b"),
    ("transformer_encoder", 2, 2, 2, "gpipe"),
    ("transformer_encoder", 4, 4, 4, "1f1b"),
    ("gpt_decoder", 2, 2, 8, "1f1b"),
    ("gpt_decoder", 4, 4, 2, "gpipe"),
    ("resnet_cnn", 2, 2, 4, "gpipe"),
    ("resnet_cnn", 4, 4, 1, "1f1b"),
]


@pytest.mark.parametrize("name,devices,stages,microbatches,schedule", CASES)
def test_pipeline_equals_one_device(zoo, name, devices, stages, microbatches, schedule):
    _check(zoo[name], f"{name} pp={stages} M={microbatches} {schedule}", devices=devices,
           stages=stages, microbatches=microbatches, schedule=schedule)


@pytest.mark.parametrize("name", make_zoo.MODEL_NAMES)
def test_dp_x_pp(zoo, name):
    _check(zoo[name], f"{name} pp=2 x dp=2", devices=4, stages=2, microbatches=2,
           schedule="gpipe")


@pytest.mark.parametrize("name", ["mlp", "transformer_encoder", "gpt_decoder"])
def test_dp_x_tp_x_pp(zoo, name):
    model = onnx.load(zoo[name])
    shardings, _ = make_zoo.megatron_shardings(name)
    shardings = dict(shardings, **{model.graph.input[0].name: ("dp",)})
    _check(zoo[name], f"{name} pp=2 x dp=2 x tp=2", devices=8, stages=2, microbatches=2,
           schedule="1f1b", mesh={"dp": 2, "tp": 2}, shardings=shardings)


@pytest.mark.parametrize("name", ["gpt_decoder", "resnet_cnn"])
def test_mpirun_pipeline(zoo, tmp_path, name):
    # The same bundles as 4 MPI processes: stage programs exchange their
    # activations with MPI send/recv; rank 0 assembles the outputs of stage 1.
    import os
    import shutil
    import subprocess

    from conftest import TOOL_TIMEOUT, tool_path

    mpirun = shutil.which("mpirun")
    if mpirun is None:
        pytest.skip("mpirun is not installed")
    path = zoo[name]
    bundle = pmc.compile(path, devices=4, stages=2, microbatches=4,
                         schedule="gpipe").save(str(tmp_path / "m.pmc"))
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
        assert set(out.files) == set(want)
        for key, ref in want.items():
            np.testing.assert_allclose(out[key], ref, rtol=1e-4, atol=1e-4)
