"""Multi-rank runtime end to end: a hand-built 4-rank Megatron MLP bundle
(dp=2 x tp=2) run as threads (pmc._runtime, pmc-run) and as 4 MPI processes
(mpirun pmc-run), plus collective timeouts and rank failures. Every subprocess
has a hard timeout so a hang fails the test instead of blocking it."""

import json
import os
import shutil
import subprocess
import time

import numpy as np
import pytest

from test_runtime_python import PMC_RUN, _compile, rt, spec, write_bundle

MPIRUN = shutil.which("mpirun")
B, D, H = 4, 8, 16  # batch, model width, hidden width


def _buf(i, shape, kind, **extra):
    return {"id": i, "dtype": "float32", "shape": list(shape), "kind": kind, **extra}


def megatron_bundle(tmp_path):
    """y = relu(x @ w1) @ w2 with x split over dp, w1 by columns and w2 by rows
    over tp, an all_reduce over tp; h = relu(x @ w1) all-gathered over tp."""
    kernels = _compile(tmp_path, """
void relu(void **a) {
  const float *x = a[0]; float *y = a[1];
  for (int i = 0; i < %d; ++i) y[i] = x[i] > 0 ? x[i] : 0;
}
""" % ((B // 2) * (H // 2)))
    rng = np.random.default_rng(7)
    w1 = rng.standard_normal((D, H)).astype(np.float32)
    w2 = rng.standard_normal((H, D)).astype(np.float32)
    manifest = {
        "format": "pmc-bundle", "format_version": 1, "producer": "pytest", "target": "cpu",
        "devices": 4, "kernel_library": "kernels.cpu",
        "mesh": {"axes": [{"name": "dp", "size": 2}, {"name": "tp", "size": 2}]},
        "inputs": [dict(spec("x", "float32", (B, D)), sharding=[["dp"], []])],
        "outputs": [dict(spec("y", "float32", (B, D)), sharding=[["dp"], []]),
                    dict(spec("h", "float32", (B, H)), sharding=[["dp"], []])],
        "ranks": [{"rank": r, "program": f"rank{r}.program"} for r in range(4)]}
    sections = [("manifest", json.dumps(manifest).encode()), ("kernels.cpu", kernels)]
    for t in range(2):
        sections.append((f"w/1/r{t}", np.ascontiguousarray(w1[:, t * 8:(t + 1) * 8]).tobytes()))
        sections.append((f"w/2/r{t}", np.ascontiguousarray(w2[t * 8:(t + 1) * 8]).tobytes()))
    for r in range(4):
        t = r % 2
        program = {
            "rank": r,
            "buffers": [_buf(0, (2, D), "input", input=0),
                        _buf(1, (D, H // 2), "weight", section=f"w/1/r{t}"),
                        _buf(2, (H // 2, D), "weight", section=f"w/2/r{t}"),
                        _buf(3, (2, H // 2), "temp"), _buf(4, (2, H // 2), "temp"),
                        _buf(5, (2, H), "temp"), _buf(6, (2, D), "temp"),
                        _buf(7, (2, D), "temp")],
            "commands": [
                {"op": "matmul", "a": 0, "b": 1, "c": 3},
                {"op": "kernel", "symbol": "relu", "inputs": [3], "outputs": [4]},
                {"op": "all_gather", "in": 4, "out": 5, "axes": ["tp"], "dim": 1},
                {"op": "matmul", "a": 4, "b": 2, "c": 6},
                {"op": "all_reduce", "in": 6, "out": 7, "axes": ["tp"], "reduction": "sum"}],
            "outputs": [7, 5]}
        sections.append((f"rank{r}.program", json.dumps(program).encode()))
    path = write_bundle(str(tmp_path / "mlp.pmc"), sections)
    x = rng.standard_normal((B, D)).astype(np.float32)
    h = np.maximum(x.astype(np.float64) @ w1, 0)
    return path, x, h @ w2, h


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMC_TEST_")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _mpirun(args, env, timeout=60):
    if MPIRUN is None or not os.path.exists(PMC_RUN):
        pytest.skip("mpirun or pmc-run is missing")
    cmd = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", "4",
           "--mca", "btl", "self,vader", "--mca", "mpi_yield_when_idle", "1",
           PMC_RUN] + args
    env = dict(env, OMPI_MCA_btl_vader_single_copy_mechanism="none")
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def test_threads_session_matches_numpy(tmp_path):
    path, x, y, h = megatron_bundle(tmp_path)
    s = rt.Session(path)
    assert s.devices == 4
    out = s.run({"x": x})
    np.testing.assert_allclose(out["y"], y, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out["h"], h, rtol=1e-5, atol=1e-5)
    out2 = s.run({"x": x})  # a second run reuses the ranks' state
    np.testing.assert_array_equal(out["y"], out2["y"])


def test_pmc_run_threads_and_mpi(tmp_path):
    path, x, y, h = megatron_bundle(tmp_path)
    np.savez(tmp_path / "in.npz", x=x)
    r = subprocess.run([PMC_RUN, path, "--inputs", str(tmp_path / "in.npz"), "--output",
                        str(tmp_path / "t.npz")], capture_output=True, text=True,
                       env=_env(), timeout=60)
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "t.npz") as out:
        np.testing.assert_allclose(out["y"], y, rtol=1e-4, atol=1e-4)
    r = _mpirun([path, "--inputs", str(tmp_path / "in.npz"), "--output",
                 str(tmp_path / "m.npz")], _env())
    assert r.returncode == 0, r.stdout + r.stderr
    with np.load(tmp_path / "m.npz") as out:
        np.testing.assert_allclose(out["y"], y, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(out["h"], h, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["threads", "mpi"])
def test_stalled_rank_times_out_everywhere(tmp_path, mode):
    path, x, _, _ = megatron_bundle(tmp_path)
    np.savez(tmp_path / "in.npz", x=x)
    args = [path, "--inputs", str(tmp_path / "in.npz"), "--output", str(tmp_path / "o.npz"),
            "--collective-timeout", "2"]
    env = _env(PMC_TEST_STALL_RANK=2)
    start = time.monotonic()
    if mode == "threads":
        r = subprocess.run([PMC_RUN] + args, capture_output=True, text=True, env=env,
                           timeout=60)
    else:
        r = _mpirun(args, env)
    elapsed = time.monotonic() - start
    text = r.stdout + r.stderr
    assert r.returncode != 0, text
    assert "all_gather (command 2, axes [tp])" in text, text
    assert "rank(s) 2 of group [2, 3] did not arrive" in text, text
    assert not os.path.exists(tmp_path / "o.npz")
    assert elapsed < 2 + (4 if mode == "threads" else 25), elapsed


@pytest.mark.parametrize("mode", ["threads", "mpi"])
def test_failing_rank_fails_everywhere(tmp_path, mode):
    path, x, _, _ = megatron_bundle(tmp_path)
    np.savez(tmp_path / "in.npz", x=x)
    args = [path, "--inputs", str(tmp_path / "in.npz"), "--output", str(tmp_path / "o.npz"),
            "--collective-timeout", "20"]
    env = _env(PMC_TEST_FAIL_RANK=1, PMC_TEST_FAIL_AT_COMMAND=3)
    start = time.monotonic()
    if mode == "threads":
        r = subprocess.run([PMC_RUN] + args, capture_output=True, text=True, env=env,
                           timeout=60)
    else:
        r = _mpirun(args, env)
    text = r.stdout + r.stderr
    assert r.returncode != 0, text
    assert "rank 1 failed: rank1.program: command 3 (matmul): test hook" in text, text
    assert not os.path.exists(tmp_path / "o.npz")
    # Nobody waited for the 20 s timeout.
    assert time.monotonic() - start < 15
    if mode == "mpi":
        # rank 0 waits in the all_reduce with rank 1 and reports the failure.
        assert "error: rank 0: " in text, text


def test_mpi_world_size_must_match(tmp_path):
    path, x, _, _ = megatron_bundle(tmp_path)
    if MPIRUN is None:
        pytest.skip("no mpirun")
    r = subprocess.run([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", "2",
                        "--mca", "btl", "self,vader", PMC_RUN, path, "--info"],
                       capture_output=True, text=True, timeout=60,
                       env=_env(OMPI_MCA_btl_vader_single_copy_mechanism="none"))
    assert r.returncode != 0
    assert "runs on 4 devices but the communicator has 2 ranks (run it with mpirun -np 4)" \
        in r.stdout + r.stderr
