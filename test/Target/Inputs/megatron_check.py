"""Checks the 4-rank Megatron MLP bundle of multidevice-megatron.mlir: one
all_reduce per block on every rank, each rank's weight sections hold its block
of the full weights, and the ranks (run as threads) compute the numpy result.

    python megatron_check.py model.pmc
"""
import sys

import numpy as np

from pmc import _runtime
from pmc.bundle import BundleInfo


def weight(shape, seed):
    """The weights the test file spells out: ((5 i + 3 seed) mod 11 - 5) / 10."""
    i = np.arange(np.prod(shape)).reshape(shape)
    return ((((i * 5 + seed * 3) % 11) - 5) / 10.0).astype(np.float32)


def main(path):
    info = BundleInfo.read(path)
    assert info.manifest["devices"] == 4, info.manifest
    full = [(weight((8, 16), 1), 1), (weight((16, 8), 2), 0),
            (weight((8, 16), 3), 1), (weight((16, 8), 4), 0)]
    for r in range(4):
        program = info.program(r)
        ops = [c["op"] for c in program["commands"]]
        assert ops.count("all_reduce") == 2, (r, ops)
        weights = [b for b in program["buffers"] if b["kind"] == "weight"]
        assert len(weights) == 4, weights
        for (w, dim), buf in zip(full, weights):
            assert buf["section"].endswith(f"/r{r}"), buf
            block = np.split(w, 4, axis=dim)[r]
            got = np.frombuffer(info.section_bytes(buf["section"]), np.float32)
            np.testing.assert_array_equal(got.reshape(buf["shape"]), block)
    x = np.linspace(-1, 1, 32, dtype=np.float32).reshape(4, 8)
    y = x.astype(np.float64)
    for a, b in ((full[0][0], full[1][0]), (full[2][0], full[3][0])):
        y = np.maximum(y @ a, 0) @ b
    out = _runtime.Session(path).run({"x": x})["y"]
    np.testing.assert_allclose(out, y, rtol=1e-5, atol=1e-5)
    print("megatron bundle OK: 4 ranks, 2 all_reduce per rank, sliced weights, values match")


if __name__ == "__main__":
    main(sys.argv[1])
