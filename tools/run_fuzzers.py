#!/usr/bin/env python3
"""Runs pmc's libFuzzer harnesses (test/fuzz) for a while on a copy of their seed corpus.

    python3 tools/run_fuzzers.py --build-dir build-asan --seconds 60
    python3 tools/run_fuzzers.py --build-dir build-asan --only bundle_load --seconds 1800 \\
        --keep-corpus --fork

Each fuzzer runs as one process (-jobs=1) in <build-dir>/fuzz/<fuzzer>/: its
corpus/ starts as a fresh copy of test/fuzz/corpus/<fuzzer>/ (the checked-in
seeds are never written; --keep-corpus goes on from the previous run's
corpus), crash inputs land in crashes/, the log in fuzz.log. Exits 1 when a
fuzzer found a crash (or failed to start), naming the crash input and the
command that reproduces it; 0 when every fuzzer ran its time clean.
--fork keeps going after a crash (libFuzzer's -fork=1 -ignore_crashes=1), for
long campaigns; the crashes are still reported at the end.
"""

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED_ROOT = os.path.join(REPO_ROOT, "test", "fuzz", "corpus")

# name -> libFuzzer flags of its own (the seeds stay under -max_len).
FUZZERS = {
    "onnx_import": ["-max_len=65536", "-timeout=30"],
    # A bundle may declare a huge arena; allocating it (lazily mapped) is no
    # bug, only the RSS limit applies.
    "bundle_load": ["-max_len=131072", "-timeout=30", "-malloc_limit_mb=1048576"],
}
COMMON_FLAGS = ["-rss_limit_mb=4096", "-print_final_stats=1", "-reload=0"]


def sanitizer_env(extra_asan=""):
    """The environment of an instrumented process: stop at the first report."""
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ("halt_on_error=1:abort_on_error=0:detect_leaks=1:"
                           "allocator_may_return_null=1:check_initialization_order=1:"
                           "strict_init_order=1" + extra_asan)
    env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
    return env


def fuzzer_binary(build_dir, name):
    return os.path.join(build_dir, "bin", f"{name}_fuzzer")


def stats(log_lines):
    """execs, seconds, coverage and corpus figures from libFuzzer's output."""
    out = {}
    for line in log_lines:
        m = re.match(r"stat::(\w+):\s*(\d+)", line)
        if m:
            out[m.group(1)] = int(m.group(2))
        # -fork: "#N: cov: C ft: F corp: K exec/s: ..."
        m = re.match(r"#(\d+): cov: (\d+) ft: (\d+) corp: (\d+) ", line)
        if m:
            out["last_execs"] = int(m.group(1))
            out["cov"], out["ft"] = int(m.group(2)), int(m.group(3))
            continue
        m = re.match(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)/(\d+)(\w*)", line)
        if m:
            out["last_execs"] = int(m.group(1))
            out["cov"] = int(m.group(2))
            out["ft"] = int(m.group(3))
            out["corpus_inputs"] = int(m.group(4))
            size, unit = int(m.group(5)), m.group(6)
            out["corpus_bytes"] = size * {"b": 1, "": 1, "Kb": 1024, "Mb": 1 << 20}.get(unit, 1)
    return out


def corpus_size(folder):
    files = [f for f in glob.glob(os.path.join(folder, "*")) if os.path.isfile(f)]
    return len(files), sum(os.path.getsize(f) for f in files)


def run_fuzzer(name, args):
    """Runs one fuzzer; returns (ok, one-line summary)."""
    exe = fuzzer_binary(args.build_dir, name)
    if not os.access(exe, os.X_OK):
        return False, f"{exe} not found (build with PMC_FUZZ=ON: make build-asan)"
    seeds = os.path.join(SEED_ROOT, name)
    work = os.path.join(args.build_dir, "fuzz", name)
    corpus = os.path.join(work, "corpus")
    crashes = os.path.join(work, "crashes")
    os.makedirs(work, exist_ok=True)
    if not args.keep_corpus or not os.path.isdir(corpus):
        shutil.rmtree(corpus, ignore_errors=True)
        shutil.copytree(seeds, corpus)
    shutil.rmtree(crashes, ignore_errors=True)
    os.makedirs(crashes)
    log_path = os.path.join(work, "fuzz.log")
    cmd = [exe, f"-max_total_time={args.seconds}", f"-artifact_prefix={crashes}/",
           *COMMON_FLAGS, *FUZZERS[name]]
    if args.seed:
        cmd.append(f"-seed={args.seed}")
    if args.fork:
        cmd += ["-fork=1", "-ignore_crashes=1", "-ignore_timeouts=1", "-ignore_ooms=1"]
    cmd.append(corpus)
    print(f"$ {' '.join(cmd)}  > {log_path}", flush=True)
    start = time.monotonic()
    with open(log_path, "w") as log:
        # A hard stop well past the time limit, in case the fuzzer hangs.
        try:
            code = subprocess.run(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT,
                                  env=sanitizer_env(), timeout=args.seconds * 2 + 300).returncode
        except subprocess.TimeoutExpired:
            code = "hang"
    seconds = time.monotonic() - start
    with open(log_path, errors="replace") as f:
        lines = f.read().splitlines()
    s = stats(lines)
    inputs, size = corpus_size(corpus)
    found = sorted(f for f in glob.glob(os.path.join(crashes, "*")) if os.path.isfile(f))
    figures = (f"{s.get('number_of_executed_units', s.get('last_execs', 0))} execs in "
               f"{seconds:.0f}s, cov {s.get('cov', '?')} ft {s.get('ft', '?')}, "
               f"corpus {inputs} inputs / {size} bytes")
    if code == 0 and not found:
        print(f"{name}: clean: {figures}", flush=True)
        return True, f"{name}: {figures}"
    print("\n".join(lines[-80:]))
    where = found[0] if found else "(no input saved)"
    print(f"\nerror: {name}_fuzzer failed (exit status {code}); {len(found)} crash input(s) "
          f"in {crashes}/", flush=True)
    for f in found:
        print(f"  {f}\n    reproduce: {exe} {f}\n    minimise:  {exe} -minimize_crash=1 "
              f"-runs=10000 -exact_artifact_path={f}.min {f}")
    return False, f"{name}: crash input {where} ({figures})"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build-dir", default="build-asan")
    p.add_argument("--seconds", type=int, default=60, help="per fuzzer (default 60)")
    p.add_argument("--only", help=f"comma-separated fuzzers ({','.join(FUZZERS)})")
    p.add_argument("--keep-corpus", action="store_true",
                   help="go on from the corpus of the previous run")
    p.add_argument("--fork", action="store_true", help="keep going after crashes")
    p.add_argument("--seed", type=int, default=0,
                   help="libFuzzer's -seed (0: a random one); CI passes 1, so that a "
                        "run can be repeated")
    args = p.parse_args(argv)
    args.build_dir = os.path.abspath(os.path.join(REPO_ROOT, args.build_dir))
    chosen = [s.strip() for s in args.only.split(",")] if args.only else list(FUZZERS)
    unknown = sorted(set(chosen) - set(FUZZERS))
    if unknown:
        p.error(f"unknown fuzzer(s) {', '.join(unknown)}; fuzzers: {', '.join(FUZZERS)}")
    results = [run_fuzzer(name, args) for name in chosen]
    for ok, line in results:
        print(("ok     " if ok else "FAILED ") + line)
    passed = sum(ok for ok, _ in results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
