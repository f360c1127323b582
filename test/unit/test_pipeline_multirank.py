"""Pipeline bundles end to end: a hand-built 2-stage x dp=2 bundle (stage 0:
a = 2x, sent to stage 1; stage 1: y = a + bias) run as threads (pmc._runtime,
pmc-run) and as 4 MPI processes (mpirun pmc-run), plus a stage that never
sends. Every subprocess has a hard timeout so a hang fails the test."""

import json
import os
import subprocess
import time

import numpy as np
import pytest

from test_multirank import _env, _mpirun
from test_runtime_python import PMC_RUN, _compile, rt, spec, write_bundle

B, D, M = 16, 4, 4  # batch, width, microbatches
ROWS = B // M // 2  # rows of one rank's step (dp = 2)


def _buf(i, shape, kind, **extra):
    return {"id": i, "dtype": "float32", "shape": list(shape), "kind": kind, **extra}


def pipeline_bundle(tmp_path, schedule="1f1b"):
    kernels = _compile(tmp_path, """
void scale2(void **a) { const float *x = a[0]; float *y = a[1];
  for (int i = 0; i < %(n)d; ++i) y[i] = 2.0f * x[i]; }
void addbias(void **a) { const float *x = a[0], *b = a[1]; float *y = a[2];
  for (int i = 0; i < %(n)d; ++i) y[i] = x[i] + b[i %% %(d)d]; }
""" % {"n": ROWS * D, "d": D})
    dp = [["dp"], []]
    manifest = {
        "format": "pmc-bundle", "format_version": 1, "producer": "pytest", "target": "cpu",
        "devices": 4, "kernel_library": "kernels.cpu",
        "mesh": {"axes": [{"name": "pp", "size": 2}, {"name": "dp", "size": 2}]},
        "pipeline": {"stages": 2, "axis": "pp", "microbatches": M, "schedule": schedule,
                     "microbatched_inputs": ["x"], "microbatched_outputs": ["y", "a"]},
        "inputs": [dict(spec("x", "float32", (B, D)), sharding=dp),
                   spec("bias", "float32", (D,))],
        "outputs": [dict(spec("y", "float32", (B, D)), sharding=dp, stage=1),
                    dict(spec("a", "float32", (B, D)), sharding=dp, stage=0)],
        "ranks": [{"rank": r, "program": f"rank{r}.program"} for r in range(4)]}
    sections = [("manifest", json.dumps(manifest).encode()), ("kernels.cpu", kernels)]
    for r in range(4):
        if r < 2:  # stage 0
            program = {
                "rank": r,
                "buffers": [_buf(0, (ROWS, D), "input", input=0), _buf(1, (ROWS, D), "temp")],
                "commands": [
                    {"op": "kernel", "symbol": "scale2", "inputs": [0], "outputs": [1]},
                    {"op": "send", "in": 1, "to_stage": 1, "tag": 0}],
                "outputs": [-1, 1]}
        else:  # stage 1
            program = {
                "rank": r,
                "buffers": [_buf(0, (D,), "input", input=1), _buf(1, (ROWS, D), "temp"),
                            _buf(2, (ROWS, D), "temp")],
                "commands": [
                    {"op": "recv", "out": 1, "from_stage": 0, "tag": 0},
                    {"op": "kernel", "symbol": "addbias", "inputs": [1, 0], "outputs": [2]}],
                "outputs": [2, -1]}
        sections.append((f"rank{r}.program", json.dumps(program).encode()))
    path = write_bundle(str(tmp_path / "pipe.pmc"), sections)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((B, D)).astype(np.float32)
    bias = rng.standard_normal(D).astype(np.float32)
    return path, x, bias, 2 * x + bias, 2 * x


@pytest.mark.parametrize("schedule", ["gpipe", "1f1b"])
def test_threads_session(tmp_path, schedule):
    path, x, bias, y, a = pipeline_bundle(tmp_path, schedule)
    s = rt.Session(path)
    out = s.run({"x": x, "bias": bias})
    np.testing.assert_array_equal(out["y"], y)
    np.testing.assert_array_equal(out["a"], a)


def test_pmc_run_threads_and_mpi(tmp_path):
    path, x, bias, y, a = pipeline_bundle(tmp_path)
    np.savez(tmp_path / "in.npz", x=x, bias=bias)
    r = subprocess.run([PMC_RUN, path, "--info"], capture_output=True, text=True,
                       env=_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    assert "pipeline: 2 stage(s) over axis 'pp', 4 microbatch(es), 1f1b" in r.stdout
    assert "y: float32[16x4] sharded [{dp}, {}] (stage 1, microbatched)" in r.stdout
    r = subprocess.run([PMC_RUN, path, "--inputs", str(tmp_path / "in.npz"), "--output",
                        str(tmp_path / "t.npz")], capture_output=True, text=True,
                       env=_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "t.npz") as out:
        np.testing.assert_array_equal(out["y"], y)
    r = _mpirun([path, "--inputs", str(tmp_path / "in.npz"), "--output",
                 str(tmp_path / "m.npz")], _env())
    assert r.returncode == 0, r.stdout + r.stderr
    with np.load(tmp_path / "m.npz") as out:
        np.testing.assert_array_equal(out["y"], y)
        np.testing.assert_array_equal(out["a"], a)


@pytest.mark.parametrize("mode", ["threads", "mpi"])
def test_stage_that_never_sends_times_out_everywhere(tmp_path, mode):
    path, x, bias, _, _ = pipeline_bundle(tmp_path)
    np.savez(tmp_path / "in.npz", x=x, bias=bias)
    args = [path, "--inputs", str(tmp_path / "in.npz"), "--output", str(tmp_path / "o.npz"),
            "--collective-timeout", "2"]
    # Rank 1 (stage 0, dp 1) stops before its send of microbatch 2.
    env = _env(PMC_TEST_STALL_RANK=1, PMC_TEST_STALL_AT_COMMAND=1, PMC_TEST_AT_MICROBATCH=2)
    start = time.monotonic()
    if mode == "threads":
        r = subprocess.run([PMC_RUN] + args, capture_output=True, text=True, env=env,
                           timeout=60)
    else:
        r = _mpirun(args, env)
    elapsed = time.monotonic() - start
    text = r.stdout + r.stderr
    assert r.returncode != 0, text
    assert ("recv of microbatch 2 from stage 0 (rank 1) on rank 3: timed out after 2 s; "
            "rank 1 did not send") in text, text
    assert not os.path.exists(tmp_path / "o.npz")
    assert elapsed < 2 + (4 if mode == "threads" else 25), elapsed
