"""`pmc-opt calibrate`: measures this machine and writes a device spec (cost-model.md)."""

import json
import math
import os
import re
import shutil

import onnx
import pytest

from conftest import assert_clean_failure, run_tool


def test_calibrate_cpu_quick(pmc_opt, tmp_path):
    out = tmp_path / "spec.json"
    proc = run_tool([pmc_opt, "calibrate", "--target", "cpu", "--quick", "-o", out])
    assert proc.returncode == 0, proc.stderr
    # A readable table on stderr.
    assert "f32 gemm peak" in proc.stderr and "GFLOP/s" in proc.stderr
    assert "all_reduce" in proc.stderr
    spec = json.loads(out.read_text())
    assert spec["name"] == "cpu-calibrated"
    peaks = spec["peak_flops"]
    # Plausible ranges for any CPU this runs on: 100 MFLOP/s .. 100 TFLOP/s.
    for dtype in ("f32", "f64"):
        assert 1e8 < peaks[dtype] < 1e14, (dtype, peaks[dtype])
    assert peaks["f32"] > 0.8 * peaks["f64"]  # f32 is at least about as fast as f64
    assert 1e8 < spec["vector_flops"] < 1e14
    assert 1e8 < spec["memory_bandwidth"] < 1e13  # 100 MB/s .. 10 TB/s
    assert spec["memory_bytes"] > 1e8
    assert 0 <= spec["launch_overhead"] < 1e-3
    (level,) = spec["levels"]
    assert level["name"] == "shared-memory" and level["devices"] == 0
    assert 1e6 < level["bandwidth"] < 1e13
    assert 0 <= level["latency"] < 1e-2
    for value in (spec["vector_flops"], spec["memory_bandwidth"], level["bandwidth"]):
        assert math.isfinite(value)


def test_calibrate_cuda_without_gpu_fails_clearly(pmc_opt, tmp_path):
    proc = run_tool([pmc_opt, "calibrate", "--target", "cuda", "-o", tmp_path / "s.json"])
    assert_clean_failure(proc, "--target cuda")
    # Without a GPU: no driver or no device; with one, this build cannot measure it.
    assert re.search(r"no CUDA (driver|device) found|found \d+ CUDA device", proc.stderr)
    assert not (tmp_path / "s.json").exists()


def test_calibrate_unknown_target(pmc_opt):
    proc = run_tool([pmc_opt, "calibrate", "--target", "tpu"])
    assert_clean_failure(proc)
    assert "--target tpu: unknown (expected cpu or cuda)" in proc.stderr


# --- Collectives through a communicator, links files, the planner reading the spec ---


@pytest.fixture(scope="module")
def mlp_model(tmp_path_factory):
    """A two-layer MLP the planner can split over 2 devices."""
    import make_zoo
    path = tmp_path_factory.mktemp("calib") / "mlp.onnx"
    onnx.save(make_zoo.BUILDERS["mlp"](batch=8), str(path))
    return str(path)


def _calibrate(pmc_opt, out, *args):
    proc = run_tool([pmc_opt, "calibrate", "--target", "cpu", "--quick", "-o", out, *args])
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(out.read_text())


def _check_level(level, name, devices=0):
    assert level["name"] == name and level["devices"] == devices
    assert 1e5 < level["bandwidth"] < 1e13 and math.isfinite(level["bandwidth"])
    assert 0 <= level["latency"] < 0.1


def test_calibrate_local_ranks_and_plan(pmc_opt, pmc_module, mlp_model, tmp_path):
    out = tmp_path / "spec.json"
    proc, spec = _calibrate(pmc_opt, out, "--communicator", "local", "--ranks", "2")
    for kind in ("all_reduce", "all_gather", "reduce_scatter", "all_to_all"):
        assert kind in proc.stderr
    (level,) = spec["levels"]
    _check_level(level, "shared-memory")
    plan = pmc_module.plan(mlp_model, devices=2, device_spec=str(out))
    assert sum(plan["mesh"].values()) >= 2 and plan["predicted"]["step_time_s"] > 0


def test_calibrate_mpi_ranks(pmc_opt, pmc_module, mlp_model, tmp_path):
    if not shutil.which("mpirun"):
        pytest.skip("mpirun is not installed")
    out = tmp_path / "spec.json"
    proc, spec = _calibrate(pmc_opt, out, "--communicator", "mpi", "--ranks", "2",
                            "--level", "node")
    assert "(mpi, 2 ranks)" in proc.stderr
    (level,) = spec["levels"]
    _check_level(level, "node")
    plan = pmc_module.plan(mlp_model, devices=2, device_spec=str(out))
    assert plan["predicted"]["step_time_s"] > 0


def test_pmc_run_links_file_and_merge(pmc_opt, pmc_run, pmc_module, mlp_model, tmp_path):
    links = tmp_path / "net.json"
    proc = run_tool([pmc_run, "--calibrate-collectives", "--ranks", "2", "--quick",
                     "--name", "network", "-o", links])
    assert proc.returncode == 0, proc.stderr
    data = json.loads(links.read_text())
    assert data["communicator"] == "local" and data["ranks"] == 2
    assert set(data["collectives"]) == {"all_reduce", "all_gather", "reduce_scatter",
                                        "all_to_all"}
    for fit in data["collectives"].values():
        assert fit["bandwidth_bytes_per_s"] > 0 and fit["alpha_s"] >= 0
        assert len(fit["samples"]) == 3 and all(s["seconds"] > 0 for s in fit["samples"])
    assert data["collectives"]["all_reduce"]["steps"] == 2
    assert data["collectives"]["all_gather"]["bus_factor"] == 0.5
    # A slower level measured elsewhere (e.g. multi-node): it becomes the outer
    # level; the local one serves groups of the 4 ranks it was measured over.
    data["level"]["bandwidth_bytes_per_s"] = 1e8
    data["level"]["latency_s"] = 5e-5
    data["ranks"] = 8
    links.write_text(json.dumps(data))
    out = tmp_path / "spec.json"
    _, spec = _calibrate(pmc_opt, out, "--ranks", "4", "--links", links)
    inner, outer = spec["levels"]
    _check_level(inner, "shared-memory", devices=4)
    assert outer == {"name": "network", "devices": 0, "bandwidth": 1e8, "latency": 5e-5}
    plan = pmc_module.plan(mlp_model, devices=2, device_spec=str(out))
    assert plan["predicted"]["step_time_s"] > 0
    # Only the file: --communicator none measures no collectives.
    _, spec = _calibrate(pmc_opt, out, "--communicator", "none", "--links", links)
    assert [lv["name"] for lv in spec["levels"]] == ["network"]


def test_calibrate_tcp_ranks(pmc_opt, tmp_path):
    out = tmp_path / "spec.json"
    proc, spec = _calibrate(pmc_opt, out, "--communicator", "tcp", "--ranks", "2")
    (level,) = spec["levels"]
    _check_level(level, "tcp")


@pytest.mark.parametrize("args, needles", [
    (["--communicator", "ib"], ["--communicator ib: unknown"]),
    (["--ranks", "1"], ["--ranks 1: expected 2 to 1024"]),
    (["--links", "missing.json"], ["--links missing.json", "cannot read"]),
    (["--communicator", "mpi", "--mpirun", "/nonexistent/mpirun"],
     ["--mpirun /nonexistent/mpirun is not an executable"]),
    (["--communicator", "tcp", "--pmc-run", "/nonexistent/pmc-run"],
     ["--pmc-run /nonexistent/pmc-run"]),
    (["--device", "1"], ["--device goes with --target cuda"]),
])
def test_calibrate_bad_values(pmc_opt, tmp_path, args, needles):
    out = tmp_path / "spec.json"
    proc = run_tool([pmc_opt, "calibrate", "--quick", "-o", out, *args], cwd=tmp_path)
    assert_clean_failure(proc, *needles)
    assert not out.exists()


def test_calibrate_bad_links_files(pmc_opt, tmp_path):
    bad = tmp_path / "bad.json"
    good = {"communicator": "mpi", "ranks": 2,
            "level": {"name": "net", "bandwidth_bytes_per_s": 1e9, "latency_s": 1e-5}}
    for broken, needle in [
        ({**good, "level": {**good["level"], "bandwidth_bytes_per_s": -1}},
         "'bandwidth_bytes_per_s': expected a positive number"),
        ({**good, "ranks": 1}, "field 'ranks'"),
        ({"name": "cpu", "levels": []}, "pmc-run --calibrate-collectives"),
    ]:
        bad.write_text(json.dumps(broken))
        proc = run_tool([pmc_opt, "calibrate", "--quick", "--communicator", "none",
                         "--links", bad, "-o", tmp_path / "s.json"])
        assert_clean_failure(proc, f"--links {bad}", needle)
    # Levels must nest: a faster one over more ranks than the next one fails,
    # and so does a faster one that claims every device.
    fast = tmp_path / "fast.json"
    fast.write_text(json.dumps({**good, "ranks": 8, "level": {
        **good["level"], "name": "nvlink", "bandwidth_bytes_per_s": 1e15}}))
    bad.write_text(json.dumps({**good, "ranks": 4, "level": {
        **good["level"], "bandwidth_bytes_per_s": 1e14}}))
    slow = tmp_path / "slow.json"
    slow.write_text(json.dumps({**good, "level": {**good["level"], "name": "ethernet"}}))
    proc = run_tool([pmc_opt, "calibrate", "--quick", "--communicator", "none", "--links", fast,
                     "--links", bad, "--links", slow, "-o", tmp_path / "s.json"])
    assert_clean_failure(proc, f"--links {bad}", "growing groups")
    bad.write_text(json.dumps({**good, "level": {**good["level"], "devices": 0,
                                                 "bandwidth_bytes_per_s": 1e15}}))
    proc = run_tool([pmc_opt, "calibrate", "--quick", "--ranks", "2", "--links", bad,
                     "-o", tmp_path / "s.json"])
    assert_clean_failure(proc, "only the slowest level may span every device")


def test_calibrate_mpirun_failure_names_command(pmc_opt, tmp_path):
    if not shutil.which("mpirun"):
        pytest.skip("mpirun is not installed")
    proc = run_tool([pmc_opt, "calibrate", "--quick", "--communicator", "mpi",
                     "--pmc-run", shutil.which("false"), "-o", tmp_path / "s.json"])
    assert_clean_failure(proc, "--allow-run-as-root --oversubscribe -np 2",
                         "failed with exit status", "stderr ends")


def test_pmc_run_calibrate_bad_arguments(pmc_run):
    proc = run_tool([pmc_run, "--calibrate-collectives", "model.pmc"])
    assert_clean_failure(proc, "runs no bundle")
    proc = run_tool([pmc_run, "--ranks", "3"])
    assert_clean_failure(proc, "--ranks goes with --calibrate-collectives")
    proc = run_tool([pmc_run, "--calibrate-collectives", "--calibrate-device"])
    assert_clean_failure(proc, "separate runs")


def test_pmc_run_calibrate_device_without_gpu(pmc_run, tmp_path):
    if os.path.exists("/dev/nvidiactl"):
        pytest.skip("a GPU driver is present")
    proc = run_tool([pmc_run, "--calibrate-device", "--quick", "-o", tmp_path / "g.json"])
    assert_clean_failure(proc, "no CUDA driver")
    assert not (tmp_path / "g.json").exists()
