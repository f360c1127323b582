"""pmc._runtime and pmc-run against numpy, on bundles written by an independent
pure-Python implementation of docs/design/bundle.md."""

import glob
import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("PMC_BUILD_DIR", os.path.join(ROOT, "build"))
PMC_RUN = os.path.join(BUILD, "bin", "pmc-run")


def _load_runtime():
    sys.path.insert(0, os.path.join(BUILD, "python"))
    try:
        import pmc._runtime as rt  # the package, once python/pmc exists
        return rt
    except ImportError:
        pass
    libs = glob.glob(os.path.join(BUILD, "python", "pmc", "_runtime*.so"))
    if not libs:
        pytest.skip("pmc._runtime is not built", allow_module_level=True)
    spec = importlib.util.spec_from_file_location("_runtime", libs[0])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


rt = _load_runtime()


def write_bundle(path, sections):
    """Writes `sections` (list of (name, bytes)) as a version-1 bundle."""
    table, offsets = b"", []
    cursor = 24 + 80 * len(sections)
    for name, data in sections:
        cursor = (cursor + 63) // 64 * 64
        offsets.append(cursor)
        table += struct.pack("<56sQQII", name.encode(), cursor, len(data),
                             zlib.crc32(data), 0)
        cursor += len(data)
    out = bytearray(b"PMCBNDL\0" + struct.pack("<IIII", 1, len(sections),
                                               zlib.crc32(table), 0) + table)
    for (name, data), off in zip(sections, offsets):
        out += b"\0" * (off - len(out)) + data
    with open(path, "wb") as f:
        f.write(out)
    return path


def spec(name, dtype, shape):
    return {"name": name, "dtype": dtype, "shape": list(shape)}


def make_bundle(path, inputs, outputs, buffers, commands, program_outputs,
                kernels=None, weights=()):
    manifest = {"format": "pmc-bundle", "format_version": 1, "producer": "pytest",
                "target": "cpu", "devices": 1, "mesh": {"axes": []},
                "inputs": inputs, "outputs": outputs,
                "ranks": [{"rank": 0, "program": "rank0.program"}]}
    if kernels is not None:
        manifest["kernel_library"] = "kernels.cpu"
    program = {"rank": 0, "buffers": buffers, "commands": commands,
               "outputs": program_outputs}
    sections = [("manifest", json.dumps(manifest).encode()),
                ("rank0.program", json.dumps(program).encode())]
    if kernels is not None:
        sections.append(("kernels.cpu", kernels))
    sections += list(weights)
    return write_bundle(str(path), sections)


def buf(i, dtype, shape, kind, **extra):
    return dict(id=i, dtype=dtype, shape=list(shape), kind=kind, **extra)


@pytest.fixture
def matmul_bundle(tmp_path):
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    path = make_bundle(
        tmp_path / "mm.pmc",
        [spec("x", "float32", (2, 5, 4))], [spec("y", "float32", (2, 5, 3))],
        [buf(0, "float32", (2, 5, 4), "input", input=0),
         buf(1, "float32", (4, 3), "weight", section="w/0"),
         buf(2, "float32", (2, 5, 3), "temp")],
        [{"op": "matmul", "a": 0, "b": 1, "c": 2}], [2],
        weights=[("w/0", w.tobytes())])
    return path, w


def test_session_runs_matmul(matmul_bundle):
    path, w = matmul_bundle
    s = rt.Session(path)
    assert s.inputs == [("x", "float32", (2, 5, 4))]
    assert s.outputs == [("y", "float32", (2, 5, 3))]
    assert s.arena_bytes >= 2 * 5 * 3 * 4
    x = np.random.default_rng(0).standard_normal((2, 5, 4)).astype(np.float32)
    out = s.run({"x": x})
    assert list(out) == ["y"]
    np.testing.assert_allclose(out["y"], x @ w, rtol=1e-5, atol=1e-6)
    # Non-contiguous feeds are converted.
    xt = np.ascontiguousarray(x.transpose(2, 1, 0)).transpose(2, 1, 0)
    assert not xt.flags.c_contiguous
    np.testing.assert_allclose(s.run({"x": xt})["y"], x @ w, rtol=1e-5, atol=1e-6)


def test_bad_feeds_raise_value_error(matmul_bundle):
    path, _ = matmul_bundle
    s = rt.Session(path)
    x = np.zeros((2, 5, 4), np.float32)
    with pytest.raises(ValueError, match=r"input 'x': expected dtype float32, got float64"):
        s.run({"x": x.astype(np.float64)})
    with pytest.raises(ValueError, match=r"input 'x': expected shape \[2x5x4\], got \[5x4\]"):
        s.run({"x": x[0]})
    with pytest.raises(ValueError, match=r"missing input 'x' \(expected float32\[2x5x4\]\)"):
        s.run({})
    with pytest.raises(ValueError, match=r"unknown input 'z'"):
        s.run({"x": x, "z": x})
    with pytest.raises(ValueError, match=r"input 'x': expected a numpy.ndarray"):
        s.run({"x": [1.0, 2.0]})
    with pytest.raises(rt.FeedError):
        s.run({"x": x.astype(np.int32)})


def test_corrupt_bundle_raises_runtime_error(matmul_bundle, tmp_path):
    path, _ = matmul_bundle
    data = bytearray(open(path, "rb").read())
    data[-1] ^= 0xFF  # a weight byte
    bad = tmp_path / "bad.pmc"
    bad.write_bytes(bytes(data))
    with pytest.raises(RuntimeError, match=r"buffer 1 \(weight float32\[4x3\]\): section 'w/0' "
                                           r"checksum mismatch"):
        rt.Session(str(bad))
    with pytest.raises(RuntimeError, match="rank 2 is out of range"):
        rt.Session(path, rank=2)


def test_output_dtypes_round_trip(tmp_path):
    dtypes = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
              "uint64", "float16", "float32", "float64"]
    inputs = [spec(f"in_{d}", d, (2, 3)) for d in dtypes]
    outputs = [spec(f"out_{d}", d, (3, 2)) for d in dtypes]
    buffers, commands, outs = [], [], []
    for i, d in enumerate(dtypes):
        buffers.append(buf(3 * i, d, (2, 3), "input", input=i))
        buffers.append(buf(3 * i + 1, d, (2, 3), "temp"))
        buffers.append(buf(3 * i + 2, d, (3, 2), "view", of=3 * i + 1))
        commands.append({"op": "copy", "from": 3 * i, "to": 3 * i + 1})
        outs.append(3 * i + 2)
    s = rt.Session(make_bundle(tmp_path / "dt.pmc", inputs, outputs, buffers, commands, outs))
    rng = np.random.default_rng(1)
    feeds = {f"in_{d}": (rng.standard_normal((2, 3)) * 50).astype(d) for d in dtypes}
    out = s.run(feeds)
    assert list(out) == [f"out_{d}" for d in dtypes]
    for d in dtypes:
        assert out[f"out_{d}"].dtype == np.dtype(d)
        np.testing.assert_array_equal(out[f"out_{d}"], feeds[f"in_{d}"].reshape(3, 2))


def _compile(tmp_path, source):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    c = tmp_path / "k.c"
    # The CPU record the runtime requires of a kernel library
    # (pmc/Support/CPUFeatures.h): a baseline build needs no ISA extension.
    c.write_text(source + '\nconst char pmc_kernel_target[] = "cpu=x86-64;features=";\n')
    so = tmp_path / "k.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(so), str(c)], check=True)
    return so.read_bytes()


def _conv_bundle(tmp_path):
    """y = relu(conv(x, w) + b) with a generated-style relu kernel."""
    kernels = _compile(tmp_path, """
void relu_f32(void **a) {
  const float *x = a[0]; float *y = a[1];
  for (int i = 0; i < 2 * 4 * 3 * 3; ++i) y[i] = x[i] > 0 ? x[i] : 0;
}
""")
    rng = np.random.default_rng(2)
    w = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    path = make_bundle(
        tmp_path / "conv.pmc",
        [spec("x", "float32", (2, 2, 6, 6))], [spec("y", "float32", (2, 4, 3, 3))],
        [buf(0, "float32", (2, 2, 6, 6), "input", input=0),
         buf(1, "float32", (4, 1, 3, 3), "weight", section="w/0"),
         buf(2, "float32", (4,), "weight", section="w/1"),
         buf(3, "float32", (2, 4, 3, 3), "temp"),
         buf(4, "float32", (2, 4, 3, 3), "temp")],
        [{"op": "conv", "x": 0, "w": 1, "bias": 2, "y": 3, "strides": [2, 2],
          "pads": [1, 1, 0, 0], "dilations": [1, 1], "group": 2},
         {"op": "kernel", "symbol": "relu_f32", "inputs": [3], "outputs": [4]}],
        [4], kernels=kernels, weights=[("w/0", w.tobytes()), ("w/1", b.tobytes())])
    return path, w, b


def _reference_conv(x, w, b, stride, pads, group):
    n, c, h, wd = x.shape
    m = w.shape[0]
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    kh, kw = w.shape[2:]
    oh = (xp.shape[2] - kh) // stride + 1
    ow = (xp.shape[3] - kw) // stride + 1
    y = np.zeros((n, m, oh, ow), np.float64)
    cg, mg = c // group, m // group
    for mi in range(m):
        g = mi // mg
        for i in range(oh):
            for j in range(ow):
                win = xp[:, g * cg:(g + 1) * cg, i * stride:i * stride + kh,
                         j * stride:j * stride + kw]
                y[:, mi, i, j] = (win * w[mi]).sum(axis=(1, 2, 3)) + b[mi]
    return y


def test_conv_and_kernel_via_session_and_pmc_run(tmp_path):
    path, w, b = _conv_bundle(tmp_path)
    x = np.random.default_rng(3).standard_normal((2, 2, 6, 6)).astype(np.float32)
    want = np.maximum(_reference_conv(x, w, b, 2, (1, 1, 0, 0), 2), 0)
    got = rt.Session(path).run({"x": x})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)

    if not os.path.exists(PMC_RUN):
        pytest.skip("pmc-run is not built")
    # --inputs from numpy's compressed npz; output npz read back by numpy.
    np.savez_compressed(tmp_path / "in.npz", x=x)
    r = subprocess.run([PMC_RUN, path, "--inputs", str(tmp_path / "in.npz"), "--output",
                        str(tmp_path / "out.npz"), "--print"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("y: float32[2x4x3x3] [")
    with np.load(tmp_path / "out.npz") as out:
        assert list(out.keys()) == ["y"]
        np.testing.assert_allclose(out["y"], want, rtol=1e-5, atol=1e-5)
    # --input from an .npy.
    np.save(tmp_path / "x.npy", x)
    r = subprocess.run([PMC_RUN, path, "--input", f"x={tmp_path / 'x.npy'}", "--output",
                        str(tmp_path / "out2.npz")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "out2.npz") as out:
        np.testing.assert_allclose(out["y"], want, rtol=1e-5, atol=1e-5)
    r = subprocess.run([PMC_RUN, path, "--info"], capture_output=True, text=True)
    assert r.returncode == 0
    assert "x: float32[2x2x6x6]" in r.stdout and "producer: pytest" in r.stdout
    assert "arena:" in r.stdout


def test_pmc_run_errors(tmp_path, matmul_bundle):
    path, _ = matmul_bundle
    if not os.path.exists(PMC_RUN):
        pytest.skip("pmc-run is not built")

    def run(*args):
        return subprocess.run([PMC_RUN, *args], capture_output=True, text=True)

    np.save(tmp_path / "x64.npy", np.zeros((2, 5, 4)))
    r = run(path, "--input", f"x={tmp_path / 'x64.npy'}")
    assert r.returncode == 1
    assert r.stderr == "error: input 'x': expected dtype float32, got float64 " \
                       "(expected float32[2x5x4])\n"
    np.save(tmp_path / "xf.npy", np.asfortranarray(np.zeros((2, 5, 4), np.float32)))
    r = run(path, "--input", f"x={tmp_path / 'xf.npy'}")
    assert r.returncode == 1 and "Fortran-order arrays are not supported" in r.stderr
    r = run(path)
    assert r.returncode == 1 and "missing input 'x'" in r.stderr
    r = run(path, "--bogus")
    assert r.returncode == 1 and "unknown option '--bogus'" in r.stderr
    r = run(str(tmp_path / "none.pmc"))
    assert r.returncode == 1 and r.stderr.startswith("error: ") and "cannot open bundle" in r.stderr
    r = run("--help")
    assert r.returncode == 0 and "usage: pmc-run" in r.stdout
