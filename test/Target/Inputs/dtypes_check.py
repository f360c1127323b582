"""Runs dtypes.mlir's bundle with pmc-run and compares every output with numpy."""
import subprocess
import sys

import numpy as np

pmc_run, bundle, tmp = sys.argv[1:4]
feeds = {
    "h": np.array([0.5, -1.5, 2.0, -2.75], np.float16),
    "u": np.array([200, 5, 30, 255], np.uint8),
    "i": np.array([7, -7, 9, -1], np.int32),
    "b": np.array([True, True, False, False]),
    "d": np.array([[1.0, 4.0], [9.0, 2.0]], np.float64),
}
np.savez(tmp + ".in.npz", **feeds)
subprocess.run([pmc_run, bundle, "--inputs", tmp + ".in.npz", "--output", tmp + ".out.npz"],
               check=True)
out = np.load(tmp + ".out.npz")
h, u, i, b, d = (feeds[k] for k in "huibd")
expected = {
    "h_out": (np.exp(h.astype(np.float32)) * 2).astype(np.float16),
    "u_out": np.maximum(u // 3, 7).astype(np.uint8),
    "i_out": np.abs(np.trunc(i / -4)).astype(np.int32),
    "b_out": np.logical_xor(b, i > 0),
    "d_out": np.sqrt(d).sum(axis=1),
    "bf_out": -h.astype(np.float32),
    "cast_out": np.trunc(h.astype(np.float32)).astype(np.int64),
}
failed = False
for name, want in expected.items():
    got = out[name]
    ok = got.dtype == want.dtype and got.shape == want.shape and np.allclose(
        got.astype(np.float64), want.astype(np.float64), rtol=1e-3)
    print(f"{name}: {'ok' if ok else 'MISMATCH'} got {got.dtype}{list(got.shape)} {got} "
          f"want {want.dtype}{list(want.shape)} {want}")
    failed |= not ok
sys.exit(1 if failed else 0)
