#!/usr/bin/env python3
"""Writes the ONNX backend node tests of the installed (pinned) onnx package.

The onnx wheel carries its node tests as Python cases
(`onnx.backend.test.case.node.collect_testcases()`), not as files; its own
test-data writer (`onnx.backend.test.cmd_tools.generate_data`, the
`generate-data` command) writes only the model cases. This script hands that
writer the node cases instead, so every case is written by onnx itself, as
`<output>/node/<case>/model.onnx` and `test_data_set_*/{input,output}_*.pb`,
the layout run_node_tests.py reads (`--data-dir <output>/node`).

    python3 test/conformance/generate_onnx_suite.py --output build/onnx-node-tests

A folder already written for the same onnx version is kept (a stamp file holds
the version and the number of cases).
"""

import argparse
import os
import sys
import warnings


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--output", required=True, help="folder to write (its node/ holds the cases)")
    args = p.parse_args()

    import onnx
    import onnx.backend.test.case.node as node_cases
    import onnx.backend.test.cmd_tools as cmd_tools

    stamp = os.path.join(args.output, "onnx-version")
    node_dir = os.path.join(args.output, "node")
    if os.path.isfile(stamp) and os.path.isdir(node_dir):
        with open(stamp) as f:
            version, _, count = f.read().strip().partition(" ")
        if version == onnx.__version__ and count == str(len(os.listdir(node_dir))):
            print(f"{node_dir}: {count} cases of onnx {version} (already written)")
            return 0
    # The writer collects "model" cases; give it the node cases. Their
    # generators print numpy warnings (divisions by zero on purpose).
    cmd_tools.model_test.collect_testcases = node_cases.collect_testcases
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cmd_tools.generate_data(argparse.Namespace(output=args.output, clean=False))
    count = len(os.listdir(node_dir))
    with open(stamp, "w") as f:
        f.write(f"{onnx.__version__} {count}\n")
    print(f"{node_dir}: {count} cases of onnx {onnx.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
