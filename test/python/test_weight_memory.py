"""Weights are not copied more than necessary.

A model's weights pass through import, code generation and bundle writing, then
are mapped by the runtime. Peak memory is measured as the child process's
maximum resident set, minus the same tool's footprint on a weightless model, and
compared with the weight bytes: compiling must stay under two copies (the issue
allows no third), running under one and a half.
"""

import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from conftest import TOOL_TIMEOUT

# Runs argv[1:] and prints that child's peak resident set in KiB.
_PEAK_RSS = ("import resource, subprocess, sys\n"
             "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
             "sys.exit(code)\n")


def peak_rss_bytes(args):
    proc = subprocess.run([sys.executable, "-c", _PEAK_RSS, *args], capture_output=True,
                          text=True, timeout=TOOL_TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.strip()) * 1024


def matmul_model(path, rows, cols, seed=0):
    w = np.random.default_rng(seed).standard_normal((rows, cols), dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "weights",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, rows])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cols])],
        [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return w.nbytes


def test_compile_and_run_keep_few_copies_of_the_weights(tmp_path, pmc_opt, pmc_run):
    small = tmp_path / "small.onnx"
    big = tmp_path / "big.onnx"
    matmul_model(str(small), 8, 8)
    weight_bytes = matmul_model(str(big), 2048, 8192)  # 64 MiB
    x = tmp_path / "x.npy"
    np.save(x, np.ones((1, 2048), np.float32))
    np.save(tmp_path / "x_small.npy", np.ones((1, 8), np.float32))

    base = peak_rss_bytes([pmc_opt, "compile", str(small), "-o", str(tmp_path / "s.pmc")])
    peak = peak_rss_bytes([pmc_opt, "compile", str(big), "-o", str(tmp_path / "b.pmc")])
    copies = (peak - base) / weight_bytes
    assert copies < 2.0, f"compiling held {copies:.2f} copies of the weights"

    base = peak_rss_bytes([pmc_run, str(tmp_path / "s.pmc"),
                           "--input", f"x={tmp_path / 'x_small.npy'}",
                           "--output", str(tmp_path / "s.npz")])
    peak = peak_rss_bytes([pmc_run, str(tmp_path / "b.pmc"), "--input", f"x={x}",
                           "--output", str(tmp_path / "b.npz")])
    copies = (peak - base) / weight_bytes
    assert copies < 1.5, f"running held {copies:.2f} copies of the weights"
