"""`pmc-opt calibrate`: measures this machine and writes a device spec (cost-model.md)."""

import json
import math
import re

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
