"""Shared fixtures of pmc's Python tests: where the built tools are, the zoo.

The build folder comes from `PMC_BUILD_DIR` (default `build`, relative to the
repository root). `<build>/python` is put on `sys.path` so `import pmc` finds the
built package; without a build, the source package under `python/` is used so
the pure-Python parts can still be tested.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.path.abspath(os.path.join(REPO_ROOT, os.environ.get("PMC_BUILD_DIR", "build")))

_built_package = os.path.join(BUILD_DIR, "python", "pmc", "__init__.py")
sys.path.insert(0, os.path.join(BUILD_DIR, "python") if os.path.isfile(_built_package)
                else os.path.join(REPO_ROOT, "python"))
sys.path.insert(0, os.path.join(REPO_ROOT, "test", "zoo"))
sys.path.insert(0, os.path.join(REPO_ROOT, "test", "conformance"))

import make_zoo  # noqa: E402

# Tool calls never take this long on the zoo; a hang fails the test instead of the run.
TOOL_TIMEOUT = 300


def tool_path(name):
    path = os.path.join(BUILD_DIR, "bin", name)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} is not built (set PMC_BUILD_DIR to the build folder)")
    return path


@pytest.fixture(scope="session")
def pmc_opt():
    return tool_path("pmc-opt")


@pytest.fixture(scope="session")
def pmc_run():
    return tool_path("pmc-run")


@pytest.fixture(scope="session")
def pmc_module():
    """The `pmc` package with its runtime extension; fails the test if not built."""
    import pmc
    try:
        from pmc import _runtime  # noqa: F401
    except ImportError as e:
        pytest.fail(f"pmc._runtime is not built under {BUILD_DIR}/python: {e}")
    return pmc


def run_tool(args, **kwargs):
    """Runs a pmc tool; returns the CompletedProcess (text output)."""
    return subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          errors="replace", timeout=TOOL_TIMEOUT, **kwargs)


def assert_clean_failure(proc, *needles):
    """A rejected input: exit status 1 (not a signal, not 0), an `error:` message on
    stderr that contains every one of `needles` (case-insensitive)."""
    where = f"\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 1, f"expected exit status 1, got {proc.returncode}{where}"
    assert "error" in proc.stderr.lower(), f"no error message on stderr{where}"
    for needle in needles:
        assert str(needle).lower() in proc.stderr.lower(), f"message lacks {needle!r}{where}"


def assert_matches(reference, actual, rtol=1e-4, atol=1e-5):
    """Same output names, dtypes and shapes; values allclose."""
    assert sorted(actual) == sorted(reference)
    for name, ref in reference.items():
        got = actual[name]
        assert got.dtype == ref.dtype, f"{name}: dtype {got.dtype} != {ref.dtype}"
        assert got.shape == ref.shape, f"{name}: shape {got.shape} != {ref.shape}"
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol, err_msg=f"output {name}")


@pytest.fixture(scope="session")
def zoo(tmp_path_factory):
    """{model name: path} of the zoo, generated once per session."""
    return make_zoo.build_zoo(str(tmp_path_factory.mktemp("zoo")))


#: The batch of `batch8_zoo`: divisible by 8 ranks and by 8 microbatches.
ZOO_BATCH = 8


@pytest.fixture(scope="session")
def batch8_zoo(tmp_path_factory):
    """{model name: path} of the zoo built with batch ZOO_BATCH (multi-device,
    pipeline and planner tests), generated once per session."""
    import onnx
    folder = tmp_path_factory.mktemp("zoo8")
    paths = {}
    for name in make_zoo.MODEL_NAMES:
        path = str(folder / f"{name}.onnx")
        onnx.save(make_zoo.BUILDERS[name](batch=ZOO_BATCH), path)
        paths[name] = path
    return paths


_one_device_results = {}


def one_device_reference(path):
    """(feeds, outputs) of the 1-device pmc bundle of `path`, computed once:
    what every partitioned or pipelined plan of the model must equal."""
    if path not in _one_device_results:
        import onnx
        import pmc
        feeds = make_zoo.make_inputs(onnx.load(path))
        _one_device_results[path] = (feeds, pmc.compile(path).run_dict(feeds))
    return _one_device_results[path]


@pytest.fixture(scope="session")
def zoo_reference(zoo):
    """{model name: (feeds, onnxruntime outputs)} for the zoo models."""
    import onnx
    out = {}
    for name, path in zoo.items():
        feeds = make_zoo.make_inputs(onnx.load(path), seed=1)
        out[name] = (feeds, make_zoo.run_onnxruntime(path, feeds))
    return out


@pytest.fixture(scope="session")
def mlp_bundle(zoo, pmc_opt, tmp_path_factory):
    """The MLP compiled once with `pmc-opt compile`, for tests that damage or feed it."""
    bundle = tmp_path_factory.mktemp("mlp_bundle") / "mlp.pmc"
    proc = run_tool([pmc_opt, "compile", zoo["mlp"], "-o", bundle])
    assert proc.returncode == 0, proc.stderr
    return bundle
