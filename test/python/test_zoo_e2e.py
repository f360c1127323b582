"""End to end: every zoo model through the CLI and the Python API, against onnxruntime."""

import numpy as np
import pytest

import make_zoo
from conftest import assert_matches, run_tool


@pytest.mark.parametrize("model", make_zoo.MODEL_NAMES)
def test_cli_compile_and_run(model, zoo, zoo_reference, pmc_opt, pmc_run, tmp_path):
    feeds, reference = zoo_reference[model]
    bundle = tmp_path / f"{model}.pmc"
    proc = run_tool([pmc_opt, "compile", zoo[model], "-o", bundle, "--target", "cpu",
                     "--devices", "1"])
    assert proc.returncode == 0, proc.stderr
    assert bundle.stat().st_size > 0

    args = [pmc_run, bundle]
    for name, value in feeds.items():
        np.save(tmp_path / f"{name}.npy", value)
        args += ["--input", f"{name}={tmp_path / f'{name}.npy'}"]
    out = tmp_path / "out.npz"
    proc = run_tool(args + ["--output", out])
    assert proc.returncode == 0, proc.stderr
    with np.load(out) as npz:
        assert_matches(reference, {k: npz[k] for k in npz.files})


@pytest.mark.parametrize("model", ["mlp", "gpt_decoder"])
def test_cli_inputs_npz(model, zoo, zoo_reference, pmc_opt, pmc_run, tmp_path):
    """`--inputs all.npz` feeds every input from one archive."""
    feeds, reference = zoo_reference[model]
    bundle = tmp_path / "m.pmc"
    assert run_tool([pmc_opt, "compile", zoo[model], "-o", bundle]).returncode == 0
    np.savez(tmp_path / "in.npz", **feeds)
    proc = run_tool([pmc_run, bundle, "--inputs", tmp_path / "in.npz",
                     "--output", tmp_path / "out.npz"])
    assert proc.returncode == 0, proc.stderr
    with np.load(tmp_path / "out.npz") as npz:
        assert_matches(reference, {k: npz[k] for k in npz.files})


@pytest.mark.parametrize("model", make_zoo.MODEL_NAMES)
def test_python_compile_run_save_load(model, zoo, zoo_reference, pmc_module, tmp_path):
    pmc = pmc_module
    feeds, reference = zoo_reference[model]
    exe = pmc.compile(zoo[model], devices=1, target="cpu")
    assert [s.name for s in exe.inputs] == list(feeds)
    assert [s.name for s in exe.outputs] == list(reference)
    first = exe.run_dict(feeds)
    assert list(first) == list(reference), "results come in graph output order"
    assert_matches(reference, first)
    # Running twice gives the same numbers (no state carried between runs).
    second = exe.run_dict(feeds)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])

    saved = tmp_path / f"{model}.pmc"
    exe.save(saved)
    reloaded = pmc.load(saved)
    assert reloaded.inputs == exe.inputs and reloaded.outputs == exe.outputs
    again = reloaded.run_dict(feeds)
    for name in first:
        np.testing.assert_array_equal(first[name], again[name])


@pytest.mark.parametrize("model", make_zoo.MODEL_NAMES)
def test_import_prints_pmc_dialect(model, zoo, pmc_opt):
    proc = run_tool([pmc_opt, "import", zoo[model]])
    assert proc.returncode == 0, proc.stderr
    assert "func.func @main" in proc.stdout
    assert "pmc." in proc.stdout
