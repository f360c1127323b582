"""Builds small ONNX models (attention block, CNN, data movement with integers),
compiles them with pmc-opt, runs them with pmc-run and compares every output
with onnxruntime. Usage: onnx_models.py PMC_OPT PMC_RUN WORKDIR"""
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import helper as h, TensorProto as T, numpy_helper as nh
import onnxruntime as ort
rng = np.random.default_rng(0)
def init(name, arr): return nh.from_array(arr, name)
def model(nodes, inputs, outputs, inits, opset=17):
    g = h.make_graph(nodes, "g", inputs, outputs, inits)
    m = h.make_model(g, opset_imports=[h.make_opsetid("", opset)])
    m.ir_version = 8
    return m
def vi(name, dt, shape): return h.make_tensor_value_info(name, dt, shape)

models = {}
# transformer-ish block
D=16; S=8
models['block'] = (model([
    h.make_node("MatMul", ["x", "wq"], ["q"]),
    h.make_node("MatMul", ["x", "wk"], ["k"]),
    h.make_node("Transpose", ["k"], ["kt"], perm=[0, 2, 1]),
    h.make_node("MatMul", ["q", "kt"], ["s"]),
    h.make_node("Mul", ["s", "scale"], ["ss"]),
    h.make_node("Softmax", ["ss"], ["p"], axis=-1),
    h.make_node("MatMul", ["p", "x"], ["a"]),
    h.make_node("Add", ["a", "x"], ["r"]),
    h.make_node("LayerNormalization", ["r", "g", "b"], ["n"], axis=-1, epsilon=1e-5),
    h.make_node("MatMul", ["n", "w1"], ["f"]),
    h.make_node("Div", ["f", "sqrt2"], ["fd"]),
    h.make_node("Erf", ["fd"], ["fe"]),
    h.make_node("Add", ["fe", "one"], ["fe1"]),
    h.make_node("Mul", ["f", "fe1"], ["fm"]),
    h.make_node("Mul", ["fm", "half"], ["gelu"]),
    h.make_node("Reshape", ["gelu", "shape"], ["flat"]),
    h.make_node("ReduceMean", ["flat"], ["y"], axes=[1], keepdims=1),
], [vi("x", T.FLOAT, [2, S, D])], [vi("y", T.FLOAT, None)],
   [init("wq", rng.standard_normal((D, D)).astype(np.float32) * 0.3),
    init("wk", rng.standard_normal((D, D)).astype(np.float32) * 0.3),
    init("scale", np.array(0.25, np.float32)),
    init("g", rng.standard_normal(D).astype(np.float32)),
    init("b", rng.standard_normal(D).astype(np.float32)),
    init("w1", rng.standard_normal((D, 32)).astype(np.float32) * 0.3),
    init("sqrt2", np.array(1.4142135, np.float32)),
    init("one", np.array(1.0, np.float32)), init("half", np.array(0.5, np.float32)),
    init("shape", np.array([2, -1], np.int64))]),
   {"x": rng.standard_normal((2, S, D)).astype(np.float32)})
# CNN
models['cnn'] = (model([
    h.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
    h.make_node("Relu", ["c"], ["r"]),
    h.make_node("MaxPool", ["r"], ["m"], kernel_shape=[2, 2], strides=[2, 2]),
    h.make_node("AveragePool", ["m"], ["ap"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]),
    h.make_node("Sigmoid", ["ap"], ["s"]),
    h.make_node("Flatten", ["s"], ["f"]),
    h.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1),
], [vi("x", T.FLOAT, [2, 3, 8, 8])], [vi("y", T.FLOAT, None)],
   [init("w", rng.standard_normal((4, 3, 3, 3)).astype(np.float32)),
    init("b", rng.standard_normal(4).astype(np.float32)),
    init("fw", rng.standard_normal((5, 64)).astype(np.float32)),
    init("fb", rng.standard_normal(5).astype(np.float32))]),
   {"x": rng.standard_normal((2, 3, 8, 8)).astype(np.float32)})
# misc data movement + ints
models['misc'] = (model([
    h.make_node("Gather", ["emb", "ids"], ["e"], axis=0),
    h.make_node("Slice", ["e", "st", "en", "ax", "sp"], ["sl"]),
    h.make_node("Concat", ["sl", "sl"], ["cc"], axis=1),
    h.make_node("ReduceMax", ["cc"], ["rm"], axes=[2], keepdims=0),
    h.make_node("Cast", ["ids"], ["idf"], to=T.FLOAT),
    h.make_node("Where", ["cond", "rm", "zero"], ["y"]),
    h.make_node("Div", ["ids", "three"], ["y2"]),
], [vi("ids", T.INT64, [2, 3]), vi("cond", T.BOOL, [2, 1])], [vi("y", T.FLOAT, None), vi("y2", T.INT64, None)],
   [init("emb", rng.standard_normal((10, 6)).astype(np.float32)),
    init("st", np.array([2, 5], np.int64)), init("en", np.array([0, -100], np.int64)),
    init("ax", np.array([1, 2], np.int64)), init("sp", np.array([-1, -2], np.int64)),
    init("zero", np.array(0.0, np.float32)), init("three", np.array(-3, np.int64))], opset=12),
   {"ids": np.array([[1, -2, 3], [9, 0, -7]], np.int64), "cond": np.array([[True], [False]])})

pmc, run, workdir = sys.argv[1:4]
os.makedirs(workdir, exist_ok=True)
os.chdir(workdir)
ok = True
for name, (m, feeds) in models.items():
    onnx.save(m, name + ".onnx")
    ref = ort.InferenceSession(name + ".onnx").run(None, feeds)
    r = subprocess.run([pmc, "compile", name + ".onnx", "-o", name + ".pmc"], capture_output=True, text=True)
    if r.returncode: print(name, "COMPILE FAILED", r.stderr[-3000:]); ok = False; continue
    np.savez(name + "_in.npz", **feeds)
    r = subprocess.run([run, name + ".pmc", "--inputs", name + "_in.npz", "--output", name + "_out.npz"], capture_output=True, text=True)
    if r.returncode: print(name, "RUN FAILED", r.stderr[-3000:]); ok = False; continue
    out = np.load(name + "_out.npz")
    outs = [o.name for o in m.graph.output]
    for o, rv in zip(outs, ref):
        got = out[o]
        good = got.shape == rv.shape and got.dtype == rv.dtype and np.allclose(got, rv, rtol=1e-4, atol=1e-5)
        print(name, o, "OK" if good else "MISMATCH", got.dtype, got.shape, rv.dtype, rv.shape, "" if good else (got.ravel()[:8], rv.ravel()[:8]))
        ok &= bool(good)
sys.exit(0 if ok else 1)
