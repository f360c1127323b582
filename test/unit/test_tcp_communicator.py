"""pmc-run with one rank per process over TCP (TcpCommunicator), launched the
way torchrun does it: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT.
The 4-rank Megatron bundle of test_multirank.py: outputs match numpy, a stalled
and a failing rank fail every process with a message naming the collective and
the rank, and no process hangs."""

import os
import socket
import subprocess
import time

import numpy as np
import pytest

from test_multirank import _env, megatron_bundle
from test_runtime_python import PMC_RUN

pytestmark = pytest.mark.skipif(not os.path.exists(PMC_RUN), reason="pmc-run is not built")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(args, world=4, **extra):
    """Starts `world` pmc-run processes; returns [(code, stdout + stderr)] by rank."""
    port = free_port()
    procs = []
    for r in range(world):
        env = _env(RANK=r, WORLD_SIZE=world, LOCAL_RANK=r, MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=port, PMC_RENDEZVOUS_TIMEOUT=20, **extra)
        procs.append(subprocess.Popen([PMC_RUN] + args, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    results = []
    for p in procs:
        out = p.communicate(timeout=90)[0]
        results.append((p.returncode, out))
    return results


def test_four_processes_match_numpy(tmp_path):
    path, x, y, h = megatron_bundle(tmp_path)
    np.savez(tmp_path / "in.npz", x=x)
    results = torchrun([path, "--inputs", str(tmp_path / "in.npz"), "--output",
                        str(tmp_path / "o.npz")])
    for r, (code, text) in enumerate(results):
        assert code == 0, (r, text)
    with np.load(tmp_path / "o.npz") as out:
        np.testing.assert_allclose(out["y"], y, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(out["h"], h, rtol=1e-5, atol=1e-5)


def test_stalled_rank_times_out_everywhere(tmp_path):
    path, x, _, _ = megatron_bundle(tmp_path)
    np.savez(tmp_path / "in.npz", x=x)
    start = time.monotonic()
    results = torchrun([path, "--inputs", str(tmp_path / "in.npz"), "--output",
                        str(tmp_path / "o.npz"), "--collective-timeout", "2"],
                       PMC_TEST_STALL_RANK=2)
    assert time.monotonic() - start < 30
    for r, (code, text) in enumerate(results):
        assert code != 0, (r, text)
    # Rank 3 waits for rank 2 in the tp all_gather and names it; everyone fails.
    assert "all_gather (command 2, axes [tp]) on rank 3: timed out after 2 s; rank(s) 2 " \
           "of group [2, 3] did not arrive" in results[3][1], results[3][1]
    assert not os.path.exists(tmp_path / "o.npz")


def test_failing_rank_fails_everywhere(tmp_path):
    path, x, _, _ = megatron_bundle(tmp_path)
    np.savez(tmp_path / "in.npz", x=x)
    start = time.monotonic()
    results = torchrun([path, "--inputs", str(tmp_path / "in.npz"), "--output",
                        str(tmp_path / "o.npz"), "--collective-timeout", "20"],
                       PMC_TEST_FAIL_RANK=1, PMC_TEST_FAIL_AT_COMMAND=3)
    assert time.monotonic() - start < 15  # nobody waited for the 20 s timeout
    for r, (code, text) in enumerate(results):
        assert code != 0, (r, text)
    assert "rank 1 failed: rank1.program: command 3 (matmul): test hook" in results[0][1], \
        results[0][1]
    assert not os.path.exists(tmp_path / "o.npz")


def test_world_size_must_match(tmp_path):
    path, x, _, _ = megatron_bundle(tmp_path)
    results = torchrun([path, "--info"], world=2)
    assert all(code != 0 for code, _ in results)
    assert "runs on 4 devices but the communicator has 2 ranks" in results[0][1], results[0][1]
