"""The CPU a bundle's kernels are generated for (`pmc-opt compile --cpu`).

The kernel library records its LLVM CPU and the x86 extensions its code may
use (pmc/Support/CPUFeatures.h); `pmc-run` and `pmc.Executable` refuse it on a
CPU that lacks one, naming them, instead of dying of an illegal instruction
(a bundle compiled on an AVX-512 machine and run on one without it).
"""

import platform
import re

import numpy as np
import pytest

from conftest import assert_clean_failure, make_zoo, run_tool

pytestmark = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                                reason="the CPU records are x86's")

#: x86-64-v2 (Nehalem, 2008): SSE4.2 and POPCNT, no AVX.
V2_FEATURES = {"cmov", "cx16", "popcnt", "sahf", "sse", "sse2", "sse3", "sse4.1",
               "sse4.2", "ssse3"}


def kernels_line(pmc_run, bundle):
    info = run_tool([pmc_run, bundle, "--info"])
    assert info.returncode == 0, info.stderr
    match = re.search(r"^kernels:  CPU (\S+) \((.*)\)$", info.stdout, re.M)
    assert match, info.stdout
    return match.group(1), set(match.group(2).split())


def test_host_bundle_records_this_cpu(zoo, pmc_opt, pmc_run, tmp_path):
    bundle = tmp_path / "host.pmc"
    proc = run_tool([pmc_opt, "compile", zoo["mlp"], "-o", bundle])
    assert proc.returncode == 0, proc.stderr
    cpu, features = kernels_line(pmc_run, bundle)
    assert cpu not in ("host", "generic", "")
    # Every x86-64 CPU LLVM names as a host has SSE2; the record holds the
    # extensions of this machine, so its bundle runs here.
    assert "sse2" in features
    flags = set(open("/proc/cpuinfo").read().split())
    for feature in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl"):
        if feature in flags:
            assert feature in features, f"this CPU has {feature}: {sorted(features)}"


def test_portable_bundle_uses_only_its_cpus_extensions(zoo, zoo_reference, pmc_opt, pmc_run,
                                                         tmp_path):
    bundle = tmp_path / "v2.pmc"
    proc = run_tool([pmc_opt, "compile", zoo["mlp"], "-o", bundle, "--cpu", "x86-64-v2"])
    assert proc.returncode == 0, proc.stderr
    cpu, features = kernels_line(pmc_run, bundle)
    assert cpu == "x86-64-v2"
    assert features == V2_FEATURES
    feeds, reference = zoo_reference["mlp"]
    for i, (name, value) in enumerate(feeds.items()):
        np.save(tmp_path / f"in{i}.npy", value)
    args = [a for i, name in enumerate(feeds) for a in ("--input", f"{name}={tmp_path}/in{i}.npy")]
    out = tmp_path / "out.npz"
    ran = run_tool([pmc_run, bundle, *args, "--output", out])
    assert ran.returncode == 0, ran.stderr
    outputs = np.load(out)
    for name, ref in reference.items():
        np.testing.assert_allclose(outputs[name], ref, rtol=1e-4, atol=1e-5)


def test_unknown_cpu_is_an_error(zoo, pmc_opt, tmp_path):
    proc = run_tool([pmc_opt, "compile", zoo["mlp"], "-o", tmp_path / "m.pmc",
                     "--cpu", "pentium-9000"])
    assert_clean_failure(proc, "'pentium-9000' is not a CPU LLVM knows", "x86-64-v2")


def test_a_newer_cpus_bundle_is_refused_naming_what_is_missing(zoo, zoo_reference, pmc_opt,
                                                              pmc_run, tmp_path):
    """diamondrapids (AVX10.2, APX): no machine of this project has it; should
    one, the bundle must run and agree with onnxruntime instead."""
    bundle = tmp_path / "dmr.pmc"
    proc = run_tool([pmc_opt, "compile", zoo["mlp"], "-o", bundle, "--cpu", "diamondrapids"])
    assert proc.returncode == 0, proc.stderr
    feeds, reference = zoo_reference["mlp"]
    for i, value in enumerate(feeds.values()):
        np.save(tmp_path / f"in{i}.npy", value)
    args = [a for i, name in enumerate(feeds) for a in ("--input", f"{name}={tmp_path}/in{i}.npy")]
    ran = run_tool([pmc_run, bundle, *args, "--output", tmp_path / "out.npz"])
    info = run_tool([pmc_run, bundle, "--info"])
    if ran.returncode == 0:
        assert info.returncode == 0, info.stderr
        outputs = np.load(tmp_path / "out.npz")
        for name, ref in reference.items():
            np.testing.assert_allclose(outputs[name], ref, rtol=1e-4, atol=1e-5)
        return
    for proc in (ran, info):
        assert_clean_failure(proc, "section 'kernels.cpu'",
                             "compiled for CPU 'diamondrapids'",
                             "which this CPU does not support", "--cpu x86-64-v2")
    missing = re.search(r"and use (.*), which", ran.stderr).group(1).split(", ")
    flags = open("/proc/cpuinfo").read().split()
    assert "sse2" not in missing and "avx" not in missing
    assert all(f.replace(".", "_") not in flags for f in missing if f.startswith("avx512"))


def test_python_api_cpu_option(zoo, pmc_module):
    exe = pmc_module.compile(zoo["mlp"], cpu="x86-64-v2")
    feeds = {name: np.ones(shape, np.float32) for name, _, shape in exe.inputs}
    out = exe.run(None, feeds)
    assert all(np.isfinite(o).all() for o in out)
    with pytest.raises(pmc_module.CompileError, match="'no-such-cpu' is not a CPU LLVM knows"):
        pmc_module.compile(zoo["mlp"], cpu="no-such-cpu")
    with pytest.raises(TypeError, match="cpu"):
        pmc_module.compile(zoo["mlp"], cpu=7)
