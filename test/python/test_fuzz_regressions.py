"""Inputs the fuzzers (test/fuzz) found crashing pmc: each is now rejected cleanly,
exit status 1 and an error naming the node, the operator (or the bundle section)
and what is wrong.

The inputs are the minimised crash inputs kept in the fuzzers' seed corpora
(test/fuzz/corpus/onnx_import/{crash,regress}-*.onnx,
test/fuzz/corpus/bundle_load/crash-*.pmc), so the fuzz stage replays them too.
A crash found later and not fixed yet waits in test/fuzz/open-crashes/ (its
README), out of the corpus, until it is fixed and moved here.
"""

import os
import subprocess

import pytest

from conftest import REPO_ROOT, assert_clean_failure, run_tool

CORPUS = os.path.join(REPO_ROOT, "test", "fuzz", "corpus", "onnx_import")

# file -> what the error message must name
CASES = {
    # SIGSEGV: an empty input name in a variadic op.
    "regress-max-empty-input.onnx": ("'max'", "Max", "input 1"),
    "regress-min-empty-input.onnx": ("'min'", "Min", "input 1"),
    "regress-sum-empty-input.onnx": ("'sum'", "Sum", "input 0"),
    "regress-mean-empty-input.onnx": ("'mean'", "Mean", "input 1"),
    # UBSan float-cast-overflow: Shrink's bias -inf converted to an integer type.
    "crash-shrink-int-inf-bias.onnx": ("Shrink", "bias", "inf", "ui16"),
    # protobuf's out-of-range check (UB in a release build): a Constant without output.
    "crash-constant-no-output.onnx": ("'const_no_output'", "Constant", "no output"),
    # Assertion "element type cannot be iterated": float constant indices.
    "crash-gather-float-indices.onnx": ("'gather'", "Gather", "indices", "f32"),
    "crash-gatherelements-float-indices.onnx": ("GatherElements", "indices", "f32"),
    # UBSan signed overflow in shape arithmetic: a graph input dim of 2^63 - 1.
    "crash-huge-input-dim.onnx": ("'data'", "9223372036854775807", "2^40"),
    # UBSan signed overflow in SAME padding: kernel_shape of INT64_MIN.
    "crash-pool-kernel-int64-min.onnx": ("AveragePool", "kernel_shape[1]",
                                         "-9223372036854775808"),
    # Assertion in getSplatValue<bool>: Dropout's training_mode a float list.
    "crash-dropout-training-mode-float.onnx": ("'dropout'", "training_mode", "bool"),
    # Out of memory (16 GB) from a 2^31 x 2 EyeLike folded into constants.
    "crash-eyelike-huge-dim.onnx": ("'eye'", "EyeLike", "2147483648"),
    # Hardmax over 747579343 columns: a 6 GB folded index tensor.
    "crash-hardmax-huge-axis.onnx": ("Hardmax", "747579343 elements", "too large to fold"),
    # LayerNorm scale [4] for the normalized shape [1]: the verifier broadcast
    # both ways, the linalg lowering then built invalid IR.
    "crash-layernorm-scale-shape.onnx": ("LayerNormalization", "scale", "[4]"),
    # UBSan signed overflow: Reshape's constant shape [34828261920790017, 9216].
    "crash-reshape-shape-overflow.onnx": ("'n15'", "Reshape", "34828261920790017", "2^40"),
    # UBSan signed overflow in ConvTranspose's SAME padding: a stride of 2^62 - 1.
    "regress-convtranspose-stride-overflow.onnx": ("ConvTranspose", "spatial dim 1",
                                                   "4611686018427387903", "2^20"),
    # Assertion in SmallVector::insert: ConcatFromSequence new_axis over
    # elements of ranks 3 and 2, the axis checked against the first only.
    "regress-concat-from-sequence-ranks.onnx": ("ConcatFromSequence", "value 1 of rank 2",
                                                "axis 3"),
}
# Valid models that used to hang or exhaust memory: they compile, quickly.
COMPILE_CASES = {
    # LRN size 2^32: one slice per window position, the import never ended;
    # positions beyond the channels are skipped now.
    "regress-lrn-huge-size.onnx": 20,
}

BUNDLE_CORPUS = os.path.join(REPO_ROOT, "test", "fuzz", "corpus", "bundle_load")
# bundle_load_fuzzer's crash inputs: file -> what `pmc-run --info`'s error must name.
BUNDLE_CASES = {
    # UBSan signed overflow in Mesh::size(); 2 * 7 * 7905747460161236407 wraps
    # to 2, so an unchecked build accepted the mesh for 2 devices.
    "crash-mesh-size-overflow.pmc": ("mesh", "'y'", "overflow", "2 devices"),
}

@pytest.mark.parametrize("name", sorted(CASES))
def test_fuzz_crash_is_a_clean_error(name, pmc_opt, tmp_path):
    path = os.path.join(CORPUS, name)
    assert os.path.isfile(path), f"{path} is missing from the seed corpus"
    proc = run_tool([pmc_opt, "compile", path, "-o", tmp_path / "m.pmc"])
    assert_clean_failure(proc, *CASES[name])


@pytest.mark.parametrize("name", sorted(BUNDLE_CASES))
def test_fuzz_crash_bundle_is_a_clean_error(name, pmc_run):
    path = os.path.join(BUNDLE_CORPUS, name)
    proc = run_tool([pmc_run, path, "--info"])
    assert_clean_failure(proc, name, *BUNDLE_CASES[name])


@pytest.mark.parametrize("name", sorted(COMPILE_CASES))
def test_fuzz_hang_now_compiles(name, pmc_opt, tmp_path):
    proc = subprocess.run([pmc_opt, "compile", os.path.join(CORPUS, name), "-o",
                           str(tmp_path / "m.pmc")], capture_output=True, text=True,
                          errors="replace", timeout=COMPILE_CASES[name])
    assert proc.returncode == 0, proc.stderr


def test_every_crash_input_is_covered():
    """A crash input added to the corpus gets its case here."""
    kept = {f for f in os.listdir(CORPUS) if f.startswith(("crash-", "regress-", "timeout-"))}
    covered = set(CASES) | set(COMPILE_CASES)
    assert kept <= covered, f"no test for {sorted(kept - covered)}"
    kept = {f for f in os.listdir(BUNDLE_CORPUS) if f.startswith(("crash-", "timeout-"))}
    assert kept <= set(BUNDLE_CASES), f"no test for {sorted(kept - set(BUNDLE_CASES))}"
