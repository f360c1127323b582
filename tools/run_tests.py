#!/usr/bin/env python3
"""Runs every pmc test stage in order: lit, ctest, pytest, conformance, plans, asan, fuzz.

    python3 tools/run_tests.py --build-dir build
    python3 tools/run_tests.py --build-dir build --only lit,pytest
    python3 tools/run_tests.py --build-dir build --conformance-filter '^test_(add|relu)'
    python3 tools/run_tests.py --only asan,fuzz --asan-build-dir build-asan --fuzz-seconds 60

The asan and fuzz stages use the sanitizer build (`make build-asan`, clang,
PMC_SANITIZE=address,undefined, PMC_FUZZ=ON; test/fuzz/README.md): asan runs
ctest, lit and the conformance cases there and fails on any sanitizer report; fuzz runs each libFuzzer harness for --fuzz-seconds.

Prints each stage's output as it runs, then a summary; exits 1 if any stage
failed, and also when no stage ran at all (a run that tested nothing is not a pass).
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import time

# The conformance stages run two suites of ONNX node tests: Debian's files
# (ONNX 1.12, /usr/share/libonnx-testdata) and the cases of the pinned onnx
# package (opsets up to 28), written at test time into the build folder by
# test/conformance/generate_onnx_suite.py. A stage fails when fewer cases pass
# than the suite's minimum or more fail than its maximum; both move with
# coverage (the minimum up, the maximum down to 0).
CONFORMANCE_MIN_PASS = 888
ONNX_SUITE_MIN_PASS = 1575
ONNX_SUITE_MAX_FAIL = 0

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIT = "/usr/lib/llvm-22/bin/lit"
STAGES = ("lit", "ctest", "pytest", "conformance", "conformance-2dev", "conformance-onnx",
          "conformance-onnx-2dev", "plans", "asan", "fuzz")
# The fixed-seed slice of the differential plan tests (test/plans/run_plans.py)
# that every run makes: (families, random plans, seed). Cheap models get many
# plans, heavy ones a few; every slice also checks the planner's own plan of
# each model at 2, 4 and 8 devices. `make test-plans SEED=.. COUNT=..` runs more.
PLAN_SLICES = (("ops,zoo,pytorch-converted,pytorch-operator", 400, 1),
               ("exported,light", 32, 2))
# Stages that use the sanitizer build (--asan-build-dir) instead of --build-dir.
ASAN_STAGES = ("asan", "fuzz")
# The asan stage runs every conformance case (about 2.5 minutes with 2 jobs
# under the sanitizers); --asan-conformance-filter picks fewer.
ASAN_CONFORMANCE_FILTER = None


def lit_tests_using_python_package():
    """lit tests that load the pmc Python package (in a RUN line, or through a
    script of Inputs/): the sanitizer build has none (PMC_PYTHON=OFF)."""
    uses = re.compile(r"\bimport pmc\b|\bfrom pmc\b|import [\w ,]*\bpmc\b")
    names = []
    for root, _, files in os.walk(os.path.join(REPO_ROOT, "test")):
        for f in files:
            if not f.endswith((".mlir", ".test")):
                continue
            with open(os.path.join(root, f), errors="replace") as fh:
                runs = [ln for ln in fh if "RUN:" in ln]
            hit = any(uses.search(ln) for ln in runs)
            for script in re.findall(r"%S/(\S+\.py)", "".join(runs)):
                path = os.path.join(root, script)
                if os.path.isfile(path):
                    with open(path, errors="replace") as fh:
                        hit = hit or bool(uses.search(fh.read()))
            if hit:
                names.append(re.escape(os.path.relpath(os.path.join(root, f),
                                                       os.path.join(REPO_ROOT, "test"))))
    return names


class Result:
    def __init__(self, stage, status, detail="", seconds=0.0):
        self.stage, self.status, self.detail, self.seconds = stage, status, detail, seconds


def stream(cmd, env=None):
    """Runs `cmd`, echoing its output; returns (exit status, output lines)."""
    print(f"$ {' '.join(cmd)}", flush=True)
    lines = []
    try:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace")
    except OSError as e:
        print(f"error: cannot run {cmd[0]}: {e}", flush=True)
        return 127, [str(e)]
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(line.rstrip("\n"))
    return proc.wait(), lines


def test_env(build_dir):
    env = dict(os.environ)
    env["PMC_BUILD_DIR"] = build_dir
    python_dir = os.path.join(build_dir, "python")
    env["PYTHONPATH"] = python_dir + (os.pathsep + env["PYTHONPATH"]
                                      if env.get("PYTHONPATH") else "")
    return env


def _status(code, what):
    if code < 0:
        return "failed", f"{what} killed by signal {-code}"
    return ("passed", "") if code == 0 else ("failed", f"{what} exited with status {code}")


def run_lit(args):
    test_dir = os.path.join(args.build_dir, "test")
    if not os.path.isfile(os.path.join(test_dir, "lit.site.cfg.py")):
        return "failed", f"{test_dir}/lit.site.cfg.py missing (configure the build first)"
    lit = LIT if os.access(LIT, os.X_OK) else shutil.which("lit")
    if not lit:
        return "failed", "lit not found"
    code, lines = stream([lit, "-sv", test_dir])
    status, detail = _status(code, "lit")
    for line in lines:
        if re.match(r"\s*(Passed|Failed|Unsupported|Expectedly Failed)\s*:", line):
            detail = (detail + "; " if detail else "") + line.strip()
    return status, detail


def run_ctest(args):
    listing = subprocess.run(["ctest", "--test-dir", args.build_dir, "-N"], cwd=REPO_ROOT,
                             capture_output=True, text=True)
    m = re.search(r"Total Tests:\s*(\d+)", listing.stdout)
    if listing.returncode != 0 or not m:
        return "failed", f"ctest -N failed: {listing.stderr.strip() or listing.stdout.strip()}"
    if int(m.group(1)) == 0:
        return "skipped", "no tests registered with ctest"
    code, lines = stream(["ctest", "--test-dir", args.build_dir, "--output-on-failure"])
    status, detail = _status(code, "ctest")
    summary = [ln for ln in lines if "tests passed" in ln]
    return status, summary[-1].strip() if summary else detail


def run_pytest(args):
    # test/unit's pytest files run under ctest (target runtime-python), not twice.
    dirs = [d for d in ("test/python",) if os.path.isdir(os.path.join(REPO_ROOT, d))]
    if not dirs:
        return "failed", "no Python test folder found"
    # One worker per core (pytest-xdist, requirements.txt): most tests compile
    # on one thread, and the stage is the longest of a run.
    workers = ["-n", str(args.pytest_workers)] if args.pytest_workers > 1 else []
    code, lines = stream([sys.executable, "-m", "pytest", "-q", *workers, *dirs],
                         env=test_env(args.build_dir))
    status, detail = _status(code, "pytest")
    if code == 5:
        detail = "pytest collected no tests"
    tail = [ln for ln in lines if re.search(r"\d+ (passed|failed|error)", ln)]
    return status, tail[-1].strip("= ") if tail else detail


def onnx_suite_dir(args):
    """The node tests of the pinned onnx package, written once per version."""
    out = os.path.join(args.build_dir, "onnx-node-tests")
    code, _ = stream([sys.executable, "test/conformance/generate_onnx_suite.py", "--output", out])
    return os.path.join(out, "node") if code == 0 else None


def run_conformance(args, devices=1, suite="debian"):
    cmd = [sys.executable, "test/conformance/run_node_tests.py", "--build-dir", args.build_dir,
           "--jobs", str(args.jobs), "--devices", str(devices)]
    if suite == "onnx":
        data_dir = onnx_suite_dir(args)
        if data_dir is None:
            return "failed", "generate_onnx_suite.py failed"
        min_pass, max_fail = args.onnx_min_pass, args.onnx_max_fail
        cmd += ["--data-dir", data_dir]
    else:
        min_pass, max_fail = args.min_pass, 0
    cmd += ["--min-pass", str(min_pass)]
    if max_fail is not None:
        cmd += ["--max-fail", str(max_fail)]
    if args.conformance_filter:
        cmd += ["--filter", args.conformance_filter]
    code, lines = stream(cmd, env=test_env(args.build_dir))
    status, detail = _status(code, "conformance")
    counts = [ln for ln in lines if re.fullmatch(r"\d+ passed, \d+ failed", ln)]
    unsupported = [ln for ln in lines if re.fullmatch(r"\d+ unsupported", ln)]
    if counts:
        detail = counts[-1] + (", " + unsupported[-1] if unsupported else "") + \
            f" (min pass {min_pass}" + (f", max fail {max_fail})" if max_fail is not None else ")")
    return status, detail


def sanitizer_env(args, log_dir):
    """The test environment of the sanitizer build: every report is written
    under `log_dir` (a process that reports stops there, halt_on_error)."""
    env = test_env(args.asan_build_dir)
    env["ASAN_OPTIONS"] = (f"halt_on_error=1:detect_leaks=1:check_initialization_order=1:"
                           f"log_path={log_dir}/asan")
    env["UBSAN_OPTIONS"] = f"halt_on_error=1:print_stacktrace=1:log_path={log_dir}/ubsan"
    env["LSAN_OPTIONS"] = f"suppressions={REPO_ROOT}/tools/lsan.supp:print_suppressions=0"
    return env


def sanitizer_reports(log_dir):
    """Prints the reports found under `log_dir`; returns their count."""
    reports = sorted(glob.glob(os.path.join(log_dir, "*")))
    for path in reports:
        print(f"\n----- sanitizer report {path} -----")
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
        print("\n".join(lines[:120]) + ("\n..." if len(lines) > 120 else ""))
    return len(reports)


def run_asan(args):
    build = args.asan_build_dir
    for tool in ("pmc-opt", "pmc-run"):
        if not os.access(os.path.join(build, "bin", tool), os.X_OK):
            return "failed", f"{build}/bin/{tool} missing (make build-asan)"
    log_dir = os.path.join(build, "sanitizer-logs")
    shutil.rmtree(log_dir, ignore_errors=True)
    os.makedirs(log_dir)
    env = sanitizer_env(args, log_dir)
    problems, details = [], []
    # C++ unit tests (the Python ones are not built here: PMC_PYTHON=OFF).
    code, lines = stream(["ctest", "--test-dir", build, "--output-on-failure"], env=env)
    summary = [ln.strip() for ln in lines if "tests passed" in ln]
    details.append("ctest: " + (summary[-1] if summary else f"exit status {code}"))
    if code != 0:
        problems.append("ctest")
    # lit: pmc-opt's passes on the .mlir tests.
    lit = LIT if os.access(LIT, os.X_OK) else shutil.which("lit")
    if lit and os.path.isfile(os.path.join(build, "test", "lit.site.cfg.py")):
        cmd = [lit, "-sv", os.path.join(build, "test")]
        skipped = lit_tests_using_python_package()
        if skipped:
            cmd[2:2] = ["--filter-out", "|".join(skipped)]
        code, lines = stream(cmd, env=env)
        passed = [ln.strip() for ln in lines if re.match(r"\s*Passed\s*:", ln)]
        details.append("lit: " + (passed[-1] if passed else f"exit status {code}"))
        if code != 0:
            problems.append("lit")
    # ONNX conformance cases compiled and run by the instrumented tools; a
    # case may fail (slower tools, unsupported ops), a sanitizer report may not.
    cmd = [sys.executable, "test/conformance/run_node_tests.py", "--build-dir", build,
           "--jobs", str(args.jobs), "--timeout", "180"]
    if args.asan_conformance_filter:
        cmd += ["--filter", args.asan_conformance_filter]
    code, lines = stream(cmd, env=env)
    counts = [ln for ln in lines if re.fullmatch(r"\d+ passed, \d+ failed", ln)]
    details.append("conformance: " + (counts[-1] if counts else f"exit status {code}"))
    if code != 0:
        problems.append("conformance")
    reports = sanitizer_reports(log_dir)
    if reports:
        problems.append(f"{reports} sanitizer report(s) in {log_dir}")
    detail = "; ".join(details)
    if problems:
        return "failed", "failed: " + ", ".join(problems) + "; " + detail
    return "passed", detail


def run_plans(args):
    """Random legal plans against one device, and the planner's plans."""
    details, failed = [], False
    for families, count, seed in PLAN_SLICES:
        cmd = [sys.executable, "test/plans/run_plans.py", "--build-dir", args.build_dir,
               "--families", families, "--count", str(count), "--seed", str(seed),
               "--planner", "--jobs", str(args.jobs)]
        code, lines = stream(cmd, env=test_env(args.build_dir))
        failed |= code != 0
        summary = [ln for ln in lines if re.match(r"\d+ plans, \d+ differ", ln)]
        details.append(f"{families}: " + (summary[-1] if summary else f"exit status {code}"))
    return ("failed" if failed else "passed"), "; ".join(details)


def run_fuzz(args):
    # A fixed seed: the same mutations on every CI run, so a failure repeats.
    cmd = [sys.executable, "tools/run_fuzzers.py", "--build-dir", args.asan_build_dir,
           "--seconds", str(args.fuzz_seconds), "--seed", "1"]
    code, lines = stream(cmd)
    status, detail = _status(code, "run_fuzzers.py")
    summary = [ln[7:] for ln in lines if ln.startswith(("ok     ", "FAILED "))]
    return status, "; ".join(summary) if summary else detail


RUNNERS = {"lit": run_lit, "ctest": run_ctest, "pytest": run_pytest,
           "conformance": run_conformance,
           # The same node tests on 2 devices with the default (data parallel) plan.
           "conformance-2dev": lambda args: run_conformance(args, devices=2),
           "conformance-onnx": lambda args: run_conformance(args, suite="onnx"),
           "conformance-onnx-2dev": lambda args: run_conformance(args, devices=2, suite="onnx"),
           "plans": run_plans, "asan": run_asan, "fuzz": run_fuzz}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build-dir", default=os.environ.get("PMC_BUILD_DIR", "build"))
    p.add_argument("--only", help=f"comma-separated stages to run ({','.join(STAGES)})")
    p.add_argument("--skip", default="", help="comma-separated stages to skip")
    p.add_argument("--jobs", type=int, default=2, help="conformance cases in parallel")
    p.add_argument("--pytest-workers", type=int, default=min(os.cpu_count() or 1, 2),
                   help="pytest-xdist workers of the pytest stage (1: none)")
    p.add_argument("--min-pass", type=int, default=CONFORMANCE_MIN_PASS,
                   help=f"conformance passes required (default {CONFORMANCE_MIN_PASS})")
    p.add_argument("--onnx-min-pass", type=int, default=ONNX_SUITE_MIN_PASS,
                   help="passes required of the onnx package's suite")
    p.add_argument("--onnx-max-fail", type=int, default=ONNX_SUITE_MAX_FAIL,
                   help="failures allowed in the onnx package's suite")
    p.add_argument("--conformance-filter", help="regex of conformance cases to run")
    p.add_argument("--asan-build-dir", default="build-asan",
                   help="the sanitizer build of the asan and fuzz stages (make build-asan)")
    p.add_argument("--asan-conformance-filter", default=ASAN_CONFORMANCE_FILTER,
                   help="regex of the conformance cases the asan stage runs (default all)")
    p.add_argument("--fuzz-seconds", type=int, default=60, help="per fuzzer (default 60)")
    args = p.parse_args(argv)
    args.build_dir = os.path.abspath(os.path.join(REPO_ROOT, args.build_dir))
    args.asan_build_dir = os.path.abspath(os.path.join(REPO_ROOT, args.asan_build_dir))

    chosen = [s.strip() for s in args.only.split(",")] if args.only else list(STAGES)
    skipped = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = sorted((set(chosen) | skipped) - set(STAGES))
    if unknown:
        p.error(f"unknown stage(s) {', '.join(unknown)}; stages: {', '.join(STAGES)}")
    selected = [s for s in chosen if s not in skipped]
    for stage_set, folder, how in ((set(STAGES) - set(ASAN_STAGES), args.build_dir, "build pmc"),
                                   (set(ASAN_STAGES), args.asan_build_dir, "make build-asan")):
        if stage_set & set(selected) and not os.path.isdir(folder):
            print(f"error: build folder {folder} does not exist; {how} first",
                  file=sys.stderr)
            return 2

    results = []
    for stage in STAGES:
        if stage not in chosen or stage in skipped:
            continue
        print(f"\n===== {stage} =====", flush=True)
        start = time.monotonic()
        status, detail = RUNNERS[stage](args)
        results.append(Result(stage, status, detail, time.monotonic() - start))

    print("\n===== summary =====")
    for r in results:
        print(f"{r.stage:<12} {r.status.upper():<8} {r.seconds:7.1f}s  {r.detail}")
    failed = [r.stage for r in results if r.status == "failed"]
    ran = [r.stage for r in results if r.status != "skipped"]
    if not ran:
        print("error: no test stage ran")
        return 1
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    print("all stages passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
