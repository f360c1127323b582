#!/usr/bin/env python3
"""Writes the seed corpus of bundle_load_fuzzer: small valid bundles made by pmc-opt.

    python3 test/fuzz/make_bundle_seeds.py --build-dir build   # into test/fuzz/corpus/bundle_load

Tiny models (so that the kernel libraries stay small) compiled for one
device, two devices (data parallel, and tensor parallel with collectives), a
two-stage pipeline with microbatches, a 2x2 pipeline x data mesh, a
convolution, a matmul-only model, and a cuda bundle when the compiler can
emit one. The cpu seeds are compiled for x86-64-v2, so that their kernels
run on every machine CI may get (a library compiled for this machine's
AVX-512 is refused on a CPU without it, and the fuzzer would never run its
kernels there). Every bundle is checked with `pmc-run --info` (and cpu ones
run once) before it is kept. The output is checked in, so CI never needs this
script; rerun it when the bundle format or the compiler's output changes
(the fuzzer trusts only the kernel libraries of these seeds).
"""

import argparse
import glob
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_OUT = os.path.join(REPO, "test", "fuzz", "corpus", "bundle_load")


def _model(name, nodes, inputs, outputs, initializers):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def mlp(batch=4):
    rng = np.random.default_rng(7)
    w1 = numpy_helper.from_array(rng.standard_normal((8, 16)).astype(np.float32), "w1")
    b1 = numpy_helper.from_array(rng.standard_normal((16,)).astype(np.float32), "b1")
    w2 = numpy_helper.from_array(rng.standard_normal((16, 4)).astype(np.float32), "w2")
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
             helper.make_node("Add", ["h", "b1"], ["hb"], name="bias1"),
             helper.make_node("Tanh", ["hb"], ["a"], name="act"),
             helper.make_node("MatMul", ["a", "w2"], ["z"], name="fc2"),
             helper.make_node("Softmax", ["z"], ["y"], name="softmax", axis=-1)]
    return _model("mlp", nodes,
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 8])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 4])],
                  [w1, b1, w2])


def conv():
    rng = np.random.default_rng(8)
    w = numpy_helper.from_array(rng.standard_normal((3, 2, 3, 3)).astype(np.float32), "w")
    b = numpy_helper.from_array(rng.standard_normal((3,)).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["y"], name="relu")]
    return _model("conv", nodes,
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 2, 5, 5])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3, 5, 5])],
                  [w, b])


def matmul_only():
    rng = np.random.default_rng(9)
    w = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")]
    return _model("matmul", nodes,
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], [w])


def two_outputs_int():
    """Several dtypes, two outputs, one of them a graph input passed through."""
    nodes = [helper.make_node("Cast", ["i"], ["f"], name="cast", to=TensorProto.FLOAT),
             helper.make_node("Mul", ["f", "x"], ["y"], name="mul"),
             helper.make_node("Identity", ["i"], ["j"], name="id")]
    return _model("mixed", nodes,
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]),
                   helper.make_tensor_value_info("i", TensorProto.INT64, [2, 3])],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3]),
                   helper.make_tensor_value_info("j", TensorProto.INT64, [2, 3])], [])


# name -> (model builder, pmc-opt compile flags)
SEEDS = {
    "mlp-1dev": (mlp, []),
    "mlp-2dev-dp": (mlp, ["--devices", "2", "--mesh", "dp=2", "--shard", "x=dp"]),
    "mlp-2dev-tp": (mlp, ["--devices", "2", "--mesh", "tp=2", "--shard", "w1=,tp",
                          "--shard", "b1=tp", "--shard", "w2=tp,"]),
    "mlp-pipeline-2stages": (mlp, ["--devices", "2", "--stages", "2", "--microbatches", "2"]),
    "mlp-pipeline-2x2-gpipe": (mlp, ["--devices", "4", "--stages", "2", "--microbatches", "2",
                                     "--schedule", "gpipe"]),
    "mlp-1dev-bf16": (mlp, ["--dtype", "bf16"]),
    "conv-1dev": (conv, []),
    "matmul-1dev": (matmul_only, []),
    "mixed-dtypes-1dev": (two_outputs_int, []),
    "mlp-cuda-1dev": (mlp, ["--target", "cuda"]),
    "mlp-cuda-2dev-tp": (mlp, ["--target", "cuda", "--devices", "2", "--mesh", "tp=2",
                               "--shard", "w1=,tp", "--shard", "b1=tp", "--shard", "w2=tp,"]),
}


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=300)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build-dir", default="build")
    p.add_argument("--out", default=DEFAULT_OUT)
    args = p.parse_args(argv)
    pmc_opt = os.path.join(args.build_dir, "bin", "pmc-opt")
    pmc_run = os.path.join(args.build_dir, "bin", "pmc-run")
    os.makedirs(args.out, exist_ok=True)
    for old in glob.glob(os.path.join(args.out, "*.pmc")):
        if not os.path.basename(old).startswith(("crash-", "regress-")):
            os.remove(old)
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, (build, flags) in SEEDS.items():
            model = build()
            onnx_path = os.path.join(tmp, name + ".onnx")
            onnx.save(model, onnx_path)
            bundle = os.path.join(args.out, name + ".pmc")
            portable = [] if "cuda" in flags else ["--cpu", "x86-64-v2"]
            proc = run([pmc_opt, "compile", onnx_path, "-o", bundle, *flags, *portable])
            if proc.returncode != 0:
                cuda = "--target" in flags
                print(f"{'skip' if cuda else 'FAIL'} {name}: {proc.stderr.strip()[:300]}",
                      file=sys.stderr)
                failed += not cuda
                continue
            info = run([pmc_run, bundle, "--info"])
            if info.returncode != 0:
                print(f"FAIL {name}: pmc-run --info: {info.stderr.strip()[:300]}",
                      file=sys.stderr)
                failed += 1
                os.remove(bundle)
                continue
            if "cuda" not in flags:
                feeds = []
                for i, vi in enumerate(model.graph.input):
                    shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
                    dtype = onnx.helper.tensor_dtype_to_np_dtype(vi.type.tensor_type.elem_type)
                    path = os.path.join(tmp, f"{name}-{i}.npy")
                    np.save(path, np.ones(shape, dtype=dtype))
                    feeds += ["--input", f"{vi.name}={path}"]
                ran = run([pmc_run, bundle, *feeds])
                if ran.returncode != 0:
                    print(f"FAIL {name}: pmc-run: {ran.stderr.strip()[:300]}", file=sys.stderr)
                    failed += 1
                    os.remove(bundle)
                    continue
            print(f"{name}.pmc: {os.path.getsize(bundle)} bytes")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
