"""The TCP rendezvous with real processes: N copies of pmc-rendezvous-check
started with the torchrun variables (RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT). Success, a rank that never starts, a rank that
dies after connecting, and bad variables. Every process has a hard timeout,
so a hang fails the test instead of blocking it."""

import os
import socket
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("PMC_BUILD_DIR", os.path.join(ROOT, "build"))
CHECK = os.path.join(BUILD, "bin", "pmc-rendezvous-check")

pytestmark = pytest.mark.skipif(not os.path.exists(CHECK),
                                reason="pmc-rendezvous-check is not built")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(world, ranks, port, timeout="3", extra=None):
    """Starts `ranks` of a world of `world`; returns {rank: (code, out, err)}."""
    procs = {}
    for r in ranks:
        env = dict(os.environ, RANK=str(r), WORLD_SIZE=str(world), LOCAL_RANK=str(r % 2),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                   PMC_RENDEZVOUS_TIMEOUT=timeout)
        env.update((extra or {}).get(r, {}))
        procs[r] = subprocess.Popen([CHECK], env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
    results = {}
    for r, p in procs.items():
        out, err = p.communicate(timeout=60)
        results[r] = (p.returncode, out, err)
    return results


def test_four_ranks_exchange_blobs():
    results = launch(4, range(4), free_port())
    for r, (code, out, err) in results.items():
        assert code == 0, err
        assert out.strip() == f"rank {r} of 4: ok (local rank {r % 2})"


def test_missing_rank_fails_every_rank_naming_it():
    port = free_port()
    results = launch(4, [0, 1, 3], port, timeout="1")
    expected = f"error: rendezvous at 127.0.0.1:{port}: rank 2 of 4 did not connect within 1 s"
    for r, (code, out, err) in results.items():
        assert code == 1, (r, out, err)
        assert err.strip() == expected, (r, err)


def test_rank_that_dies_is_reported_by_rank():
    port = free_port()
    results = launch(3, range(3), port, timeout="5",
                     extra={1: {"PMC_TEST_RENDEZVOUS_EXIT": "connected"}})
    assert results[1][0] == 3
    for r in (0, 2):
        code, _, err = results[r]
        assert code == 1
        assert (f"rendezvous at 127.0.0.1:{port}: rank 1 of 3 disconnected before "
                "test exchange 0") in err, err


@pytest.mark.parametrize("env,message", [
    ({"RANK": "4"}, "RANK must be an integer in [0, WORLD_SIZE=4), got '4'"),
    ({"WORLD_SIZE": "four"}, "WORLD_SIZE must be an integer in [1, 65536], got 'four'"),
    ({"MASTER_PORT": "0"}, "MASTER_PORT must be an integer in [1, 65535], got '0'"),
    ({"LOCAL_RANK": "x"}, "LOCAL_RANK must be an integer in [0, WORLD_SIZE=4), got 'x'"),
    ({"RANK": None}, "RANK is not set"),
    ({"MASTER_ADDR": "no-such-host.invalid", "RANK": "1", "PMC_RENDEZVOUS_TIMEOUT": "0.5"},
     "cannot resolve MASTER_ADDR 'no-such-host.invalid'"),
])
def test_bad_variables_are_named(env, message):
    full = dict(os.environ, RANK="0", WORLD_SIZE="4", MASTER_ADDR="127.0.0.1",
                MASTER_PORT=str(free_port()), PMC_RENDEZVOUS_TIMEOUT="1")
    for k, v in env.items():
        if v is None:
            full.pop(k, None)
        else:
            full[k] = v
    r = subprocess.run([CHECK], env=full, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert message in r.stderr, r.stderr
