#!/usr/bin/env python3
"""Writes the seed corpus of onnx_import_fuzzer: small ONNX models.

    python3 test/fuzz/make_onnx_seeds.py            # into test/fuzz/corpus/onnx_import
    python3 test/fuzz/make_onnx_seeds.py --out DIR

Takes the ONNX backend node tests of Debian's libonnx-testdata (the smallest
model of each distinct set of operators and attribute names, so that one seed
stands for each way an operator is used), the onnx wheel's own backend models
(simple, pytorch-operator, pytorch-converted, light) under --max-bytes, and
hand-made models for the crashes found so far (regress-*.onnx, kept as
regressions). The output is checked in, so CI never needs this script;
rerun it when the test data changes. Existing regress-* and crash-* files are
kept: crash inputs found by fuzzing are added to the folder by hand.
"""

import argparse
import glob
import hashlib
import os
import sys

import onnx
from onnx import TensorProto, helper

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NODE_TESTS = "/usr/share/libonnx-testdata/data/node"
DEFAULT_OUT = os.path.join(REPO, "test", "fuzz", "corpus", "onnx_import")


def signature(model):
    """The operators and their attribute names: what a seed exercises."""
    return tuple(sorted({(n.domain, n.op_type, tuple(sorted(a.name for a in n.attribute)))
                         for n in model.graph.node}))


def regressions():
    """Hand-made models of crashes found so far, by file name."""
    def variadic(op, inputs, name):
        xs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [3])
              for n in inputs if n]
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])
        node = helper.make_node(op, inputs, ["y"], name=name)
        return helper.make_model(helper.make_graph([node], name, xs, [y]),
                                 opset_imports=[helper.make_opsetid("", 13)])

    return {
        # SIGSEGV in pmc-opt compile: an empty input name in a variadic op.
        "regress-max-empty-input.onnx": variadic("Max", ["data_0", "", "data_1"], "max"),
        "regress-min-empty-input.onnx": variadic("Min", ["data_0", ""], "min"),
        "regress-sum-empty-input.onnx": variadic("Sum", ["", "data_0"], "sum"),
        "regress-mean-empty-input.onnx": variadic("Mean", ["data_0", ""], "mean"),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--node-tests", default=NODE_TESTS)
    p.add_argument("--max-bytes", type=int, default=48 * 1024,
                   help="skip larger models (the fuzzer runs with -max_len 65536)")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    # Regenerated files go; crash inputs and regressions stay.
    for old in glob.glob(os.path.join(args.out, "*.onnx")):
        if not os.path.basename(old).startswith(("crash-", "regress-")):
            os.remove(old)

    candidates = []  # (size, name, path)
    for path in sorted(glob.glob(os.path.join(args.node_tests, "*", "model.onnx"))):
        candidates.append((os.path.getsize(path), "node-" + os.path.basename(os.path.dirname(path)),
                           path))
    wheel = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
    for kind in ("simple", "pytorch-operator", "pytorch-converted"):
        for path in sorted(glob.glob(os.path.join(wheel, kind, "*", "model.onnx"))):
            candidates.append((os.path.getsize(path),
                               f"{kind}-" + os.path.basename(os.path.dirname(path)), path))
    for path in sorted(glob.glob(os.path.join(wheel, "light", "*.onnx"))):
        candidates.append((os.path.getsize(path), os.path.basename(path)[:-5], path))

    seen, written, total = set(), 0, 0
    for size, name, path in sorted(candidates):
        if size > args.max_bytes:
            continue
        try:
            model = onnx.load(path, load_external_data=False)
        except Exception as e:  # noqa: BLE001 - an unreadable model is skipped
            print(f"skip {path}: {e}", file=sys.stderr)
            continue
        sig = signature(model)
        if sig in seen:
            continue
        seen.add(sig)
        with open(path, "rb") as f:
            data = f.read()
        with open(os.path.join(args.out, name + ".onnx"), "wb") as f:
            f.write(data)
        written += 1
        total += len(data)
    for name, model in regressions().items():
        data = model.SerializeToString()
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
        written += 1
        total += len(data)
    digest = hashlib.sha1(str(sorted(seen)).encode()).hexdigest()[:12]
    print(f"{written} seeds, {total} bytes in {args.out} (signatures {digest})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
