#!/usr/bin/env python3
"""Differential plan testing: random legal plans against one device.

Every plan on every device count must compute what one device computes. This
runs COUNT random plans (`pmc-opt compile --plan random:SEED`: a mesh, per-op
factor splits drawn from each op's own sharding rule, pipelines; see the
pmc-random-plan pass) over the model corpus (test/corpus) and compares each
with the one-device program on the same feeds. A plan that differs, or that
does not compile, is a bug of pmc: it is shrunk to a small reproducer (fewest
nodes, smallest mesh) saved with its feeds, and printed as a command to rerun.

    python3 test/plans/run_plans.py --build-dir build --seed 1 --count 200
    python3 test/plans/run_plans.py --families zoo,light --devices 4,8 --count 1000 --jobs 2
    python3 test/plans/run_plans.py --repro /tmp/pmc-plans/repro-1/case.json   # rerun one
    python3 test/plans/run_plans.py --count 0 --planner    # the planner's plans only

Prints one line per failure, then per family: plans run, equal, differing,
not compiling, skipped (entries whose one-device program does not compile or
differs from onnxruntime are counted, not planned), and which factor kinds of
which ops the plans split. Exits 1 when a plan differs or fails to compile.
"""

import argparse
import collections
import concurrent.futures
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO_ROOT, "test", "corpus"))
sys.path.insert(0, HERE)

import corpus  # noqa: E402
import op_models  # noqa: E402

# A plan equals one device when max |plan - one| <= RTOL * max |one| (floats;
# integers and booleans exactly): a wrong split is far above it, a reordered
# sum far below.
RTOL = 1e-4
# pmc against onnxruntime at one device (the entry's own check).
ORT_RTOL = 1e-3
TIMEOUT = 300
DEFAULT_FAMILIES = ("ops", "zoo", "light", "pytorch-converted", "pytorch-operator",
                    "exported")


def entries(families):
    """The corpus entries of `families`, with `ops` (op_models.py: one model per
    operator, dimensions that split) beside test/corpus's families."""
    chosen = []
    for family in families:
        if family == "ops":
            built = {name: (model, feeds) for name, model, feeds in op_models.models()}
            chosen += [corpus.Entry(name, "ops", lambda e, seed, built=built: built[e.name])
                       for name in built]
        else:
            chosen += corpus.entries([family])
    return chosen


def tools(build_dir):
    return {name: os.path.join(build_dir, "bin", name) for name in ("pmc-opt", "pmc-run")}


def run(cmd, timeout=TIMEOUT):
    try:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                              errors="replace", timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {timeout} s"
    text = proc.stderr.strip() or proc.stdout.strip()
    if proc.returncode < 0:
        text = f"killed by signal {-proc.returncode}\n{text}"
    return proc.returncode, text if proc.returncode else proc.stdout


def relative_error(got, want):
    """max |got - want| / max |want| for floats; 0 or inf for exact types."""
    if got.shape != want.shape or got.dtype != want.dtype:
        return float("inf")
    if want.dtype.kind not in "fc":
        return 0.0 if np.array_equal(got, want) else float("inf")
    g, w = got.astype(np.float64), want.astype(np.float64)
    # NaN and infinities must sit at the same places; the rest is compared.
    special = ~np.isfinite(w)
    if not np.array_equal(special, ~np.isfinite(g)) or \
            not np.array_equal(np.nan_to_num(w[special]), np.nan_to_num(g[special])):
        return float("inf")
    g, w = g[~special], w[~special]
    if w.size == 0:
        return 0.0
    scale = max(float(np.abs(w).max()), 1e-6)
    return float(np.abs(g - w).max()) / scale


def max_error(got, want):
    missing = sorted(set(want) - set(got))
    if missing:
        return float("inf"), f"outputs missing: {missing}"
    worst, name = 0.0, ""
    for key, value in want.items():
        e = relative_error(np.asarray(got[key]), np.asarray(value))
        if e > worst:
            worst, name = e, key
    return worst, name


class Case:
    """A model with feeds on disk, its bound inputs and its one-device outputs."""

    def __init__(self, folder, model, feeds, bind):
        os.makedirs(folder, exist_ok=True)
        self.folder = folder
        self.model_path = os.path.join(folder, "model.onnx")
        onnx.save(model, self.model_path)
        # Inputs with dynamic dims (exports with dynamic batch or sequence)
        # compile for the feeds' shapes.
        self.bind_args = []
        for vi in model.graph.input:
            dims = vi.type.tensor_type.shape.dim if vi.type.HasField("tensor_type") else []
            if vi.name in feeds and vi.name not in bind and \
                    any(not d.HasField("dim_value") for d in dims):
                self.bind_args += ["--input-shape", f"{vi.name}=" +
                                   "x".join(str(d) for d in np.shape(feeds[vi.name]))]
        for i, name in enumerate(bind):
            path = os.path.join(folder, f"bind_{i}.npy")
            np.save(path, feeds[name])
            self.bind_args += ["--bind", f"{name}={path}"]
        self.feeds = {k: v for k, v in feeds.items() if k not in bind}
        self.feeds_path = os.path.join(folder, "feeds.npz")
        np.savez(self.feeds_path, **self.feeds)
        self.reference = None
        # onnxruntime's outputs (when known) and the relative errors of the
        # plans against one device and against onnxruntime.
        self.ort = None
        self.errors, self.ort_errors = [], []

    def compile_and_run(self, tool, extra, tag):
        """Compiles with `extra` flags and runs; (outputs, None) or (None, error)."""
        bundle = os.path.join(self.folder, f"{tag}.pmc")
        out = os.path.join(self.folder, f"{tag}.npz")
        code, text = run([tool["pmc-opt"], "compile", self.model_path, *self.bind_args,
                          *extra, "--explain", "-o", bundle])
        if code != 0:
            return None, f"compile failed: {first_error(text)}", ""
        explain = text
        code, text = run([tool["pmc-run"], bundle, "--inputs", self.feeds_path,
                          "--output", out])
        if code != 0:
            return None, f"run failed: {first_error(text)}", explain
        with np.load(out) as data:
            outputs = {k: data[k] for k in data.files}
        for path in (bundle, out):
            os.remove(path)
        return outputs, None, explain

    def one_device(self, tool):
        outputs, error, _ = self.compile_and_run(tool, [], "one")
        self.reference = outputs
        return error

    def plan(self, tool, devices, seed):
        """('equal' | 'differs' | 'error', detail, explain) of one random plan,
        or with seed None, of the planner's own plan."""
        flags = ["--devices", str(devices)]
        if seed is not None:
            flags += ["--plan", f"random:{seed}"]
        outputs, error, explain = self.compile_and_run(
            tool, flags, f"plan{seed}" if seed is not None else f"auto{devices}")
        if error:
            return "error", error, explain
        e, name = max_error(outputs, self.reference)
        if e > RTOL:
            return "differs", f"output '{name}': relative error {e:.3g}", explain
        self.errors.append(e)
        if self.ort is not None:
            e_ort, name = max_error(outputs, self.ort)
            self.ort_errors.append(e_ort)
            if e_ort > ORT_RTOL:
                return "differs", f"output '{name}': relative error {e_ort:.3g} against " \
                                  f"onnxruntime", explain
        return "equal", f"{e:.2g}", explain


def first_error(text):
    lines = [ln for ln in text.splitlines() if "error" in ln.lower()]
    return (lines[0] if lines else text.strip().splitlines()[-1] if text.strip() else "")[:400]


def coverage_of(explain):
    """{"pmc.conv reduction": 2, ...} from the `coverage:` line of --explain."""
    m = re.search(r"coverage:(.*)", explain)
    counts = collections.Counter()
    if m:
        for item in m.group(1).split(";"):
            item = item.strip()
            if "=" in item:
                what, n = item.rsplit("=", 1)
                counts[what.strip()] += int(n)
    return counts


# --- Shrinking -------------------------------------------------------------------

def prefix_model(model, k):
    """The first k nodes of `model` (a topological order), with every output of
    node k-1 that is used later, or is a graph output, as the graph outputs;
    unused graph inputs and initializers dropped."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    nodes = list(model.graph.node)[:k]
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    inferred = onnx.shape_inference.infer_shapes(model)
    infos = {vi.name: vi for vi in list(inferred.graph.value_info) + list(inferred.graph.output)}
    del m.graph.output[:]
    m.graph.output.extend(infos[name] for name in nodes[-1].output if name in infos)
    used = {name for node in nodes for name in node.input}
    keep_inputs = [i for i in m.graph.input if i.name in used]
    del m.graph.input[:]
    m.graph.input.extend(keep_inputs)
    keep_inits = [t for t in m.graph.initializer if t.name in used]
    del m.graph.initializer[:]
    m.graph.initializer.extend(keep_inits)
    return m


def last_node_model(model, feeds):
    """The last node of `model` alone, its inputs made graph inputs and fed the
    values they have in `model` (computed by onnxruntime); None when that
    cannot be built."""
    node = model.graph.node[-1]
    inits = {t.name: t for t in model.graph.initializer}
    graph_inputs = {i.name: i for i in model.graph.input}
    wanted = [n for n in node.input if n and n not in inits and n not in graph_inputs]
    inferred = onnx.shape_inference.infer_shapes(model)
    infos = {vi.name: vi for vi in inferred.graph.value_info}
    if any(n not in infos for n in wanted):
        return None
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(infos[n] for n in wanted)
    try:
        values = dict(zip([o.name for o in probe.graph.output],
                          corpus.reference(probe, feeds).values()))
    except Exception:  # noqa: BLE001 - onnxruntime cannot run the probe
        return None
    m = onnx.ModelProto()
    m.CopyFrom(model)
    del m.graph.node[:-1]
    del m.graph.input[:]
    m.graph.input.extend([graph_inputs[n] for n in node.input if n in graph_inputs] +
                         [infos[n] for n in wanted])
    keep = [t for t in model.graph.initializer if t.name in set(node.input)]
    del m.graph.initializer[:]
    m.graph.initializer.extend(keep)
    new_feeds = {n: feeds[n] for n in node.input if n in graph_inputs}
    new_feeds.update({n: np.asarray(values[n]) for n in wanted})
    return m, new_feeds


def shrink(case_args, tool, workdir, log):
    """Smallest failing (model prefix, devices, seed) found from a failing plan."""
    model, feeds, bind, devices, seed, status = case_args
    best = (model, devices, seed, feeds)

    def fails(m, d, s, tag, feeds=feeds):
        f = {k: v for k, v in feeds.items() if k in {i.name for i in m.graph.input}}
        b = [n for n in bind if n in f]
        folder = os.path.join(workdir, tag)
        try:
            case = Case(folder, m, f, b)
            if case.one_device(tool):
                return False
            verdict, _, _ = case.plan(tool, d, s)
            return verdict == status
        except Exception:  # noqa: BLE001 - a candidate that does not even load is no repro
            return False
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    nodes = len(model.graph.node)
    # Bisection on the prefix length: the smallest k whose prefix still fails.
    lo, hi = 1, nodes
    while lo < hi:
        mid = (lo + hi) // 2
        try:
            candidate = prefix_model(model, mid)
        except Exception:  # noqa: BLE001
            lo = mid + 1
            continue
        if fails(candidate, devices, seed, f"shrink-{mid}"):
            hi = mid
        else:
            lo = mid + 1
    if lo < nodes:
        candidate = prefix_model(model, lo)
        if fails(candidate, devices, seed, f"shrink-{lo}"):
            best = (candidate, devices, seed, feeds)
            log(f"    shrunk to the first {lo} of {nodes} nodes")
    # The last node alone, fed what it reads in the model.
    if len(best[0].graph.node) > 1:
        alone = last_node_model(best[0], best[3])
        if alone and fails(alone[0], devices, seed, "shrink-alone", feeds=alone[1]):
            best = (alone[0], devices, seed, alone[1])
            log(f"    shrunk to its last node alone ({alone[0].graph.node[0].op_type})")
    # A smaller mesh (another seed draws it).
    for d in sorted({2, 4, 8} - {devices}):
        if d >= devices:
            break
        for s in range(seed, seed + 16):
            if fails(best[0], d, s, f"shrink-d{d}-{s}", feeds=best[3]):
                best = (best[0], d, s, best[3])
                log(f"    shrunk to {d} devices (seed {s})")
                break
        if best[1] == d:
            break
    return best


# --- Driver ----------------------------------------------------------------------

def plan_seed(run_seed, index):
    digest = hashlib.sha256(f"{run_seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def prepare(entry, workdir, tool, log):
    """(Case, None) or (None, reason it is skipped)."""
    try:
        model, feeds = entry.load(seed=0)
    except Exception as e:  # noqa: BLE001
        return None, f"does not load: {e}"
    bind = entry.constant_inputs(model)
    try:
        case = Case(os.path.join(workdir, entry.id.replace("/", "_")), model, feeds, bind)
    except (ValueError, TypeError) as e:  # sequence or map feeds: not tensors
        return None, f"feeds are not tensors: {e}"
    error = case.one_device(tool)
    if error:
        return None, f"one device: {error}"
    try:
        want = entry.reference(model, feeds)
    except Exception as e:  # noqa: BLE001
        return None, f"onnxruntime cannot run it: {str(e).splitlines()[0][:200]}"
    try:
        e, name = max_error(case.reference, want)
    except Exception as error:  # noqa: BLE001 - outputs numpy cannot compare
        return None, f"outputs not comparable with onnxruntime's: {error}"
    if e > ORT_RTOL:
        return None, f"one device differs from onnxruntime ({name}: {e:.3g})"
    case.entry, case.model, case.all_feeds, case.bind = entry, model, feeds, bind
    case.ort, case.one_vs_ort = want, e
    return case, None


def save_repro(folder, model, feeds, bind, devices, seed, status, detail):
    os.makedirs(folder, exist_ok=True)
    onnx.save(model, os.path.join(folder, "model.onnx"))
    inputs = {i.name for i in model.graph.input}
    np.savez(os.path.join(folder, "feeds.npz"), **{k: v for k, v in feeds.items() if k in inputs})
    spec = {"devices": devices, "seed": seed, "status": status, "detail": detail,
            "bind": [b for b in bind if b in inputs]}
    with open(os.path.join(folder, "case.json"), "w") as f:
        json.dump(spec, f, indent=1)
    return os.path.join(folder, "case.json")


def rerun(path, tool, workdir):
    """--repro: one saved case; prints its verdict and the commands behind it."""
    folder = os.path.dirname(os.path.abspath(path))
    with open(path) as f:
        spec = json.load(f)
    model = onnx.load(os.path.join(folder, "model.onnx"))
    with np.load(os.path.join(folder, "feeds.npz")) as data:
        feeds = {k: data[k] for k in data.files}
    case = Case(os.path.join(workdir, "repro"), model, feeds, spec["bind"])
    error = case.one_device(tool)
    if error:
        print(f"one device: {error}")
        return 1
    verdict, detail, explain = case.plan(tool, spec["devices"], spec["seed"])
    print(explain.strip())
    print(f"{verdict}: {detail}")
    print(f"  pmc-opt compile {os.path.join(folder, 'model.onnx')} --devices {spec['devices']} "
          f"--plan random:{spec['seed']} --explain -o plan.pmc")
    return 0 if verdict == "equal" else 1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--build-dir", default=os.environ.get("PMC_BUILD_DIR", "build"))
    p.add_argument("--seed", type=int, default=1, help="seed of the whole run")
    p.add_argument("--count", type=int, default=100, help="random plans to run")
    p.add_argument("--families", default=",".join(DEFAULT_FAMILIES))
    p.add_argument("--filter", help="regex of entry ids (family/name) to use")
    p.add_argument("--exclude", help="regex of entry ids to leave out")
    p.add_argument("--devices", default="2,4,8")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--time-budget", type=float, default=0,
                   help="stop starting plans after this many seconds (0: no limit)")
    p.add_argument("--no-shrink", action="store_true")
    p.add_argument("--workdir", help="keep the cases here (default: a temp folder)")
    p.add_argument("--repro-dir", default=None,
                   help="where shrunk failures are saved (default: <workdir>/repros)")
    p.add_argument("--json", help="write the per-plan results here")
    p.add_argument("--repro", help="rerun one saved case.json and exit")
    p.add_argument("--planner", action="store_true",
                   help="also check the planner's own plan of every model at every "
                        "--devices count (pmc-opt compile --devices N)")
    args = p.parse_args(argv)

    tool = tools(os.path.abspath(args.build_dir))
    for path in tool.values():
        if not os.access(path, os.X_OK):
            print(f"error: {path} is not built", file=sys.stderr)
            return 2
    workdir = args.workdir or tempfile.mkdtemp(prefix="pmc-plans-")
    if args.repro:
        return rerun(args.repro, tool, workdir)
    repro_dir = args.repro_dir or os.path.join(workdir, "repros")

    def log(text):
        print(text, flush=True)

    started = time.time()
    chosen = entries([f.strip() for f in args.families.split(",") if f.strip()])
    if args.filter:
        chosen = [e for e in chosen if re.search(args.filter, e.id)]
    if args.exclude:
        chosen = [e for e in chosen if not re.search(args.exclude, e.id)]
    device_counts = [int(d) for d in args.devices.split(",")]
    stats = collections.defaultdict(collections.Counter)
    skipped = []
    cases = []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for entry, (case, reason) in zip(chosen, pool.map(
                lambda e: prepare(e, workdir, tool, log), chosen)):
            if case:
                cases.append(case)
            else:
                skipped.append((entry.id, reason))
                stats[entry.family]["skipped"] += 1
    log(f"{len(cases)} models planned, {len(skipped)} skipped "
        f"({time.time() - started:.0f} s to prepare)")
    if not cases:
        print("error: no model of the corpus compiles on one device", file=sys.stderr)
        return 1

    jobs = [(cases[i % len(cases)], device_counts[(i // len(cases)) % len(device_counts)],
             plan_seed(args.seed, i)) for i in range(args.count)]
    if args.planner:
        jobs += [(case, d, None) for case in cases for d in device_counts]
    coverage = collections.Counter()
    failures, results = [], []

    def one(job):
        case, devices, seed = job
        if args.time_budget and time.time() - started > args.time_budget:
            return job, "not run", "", ""
        verdict, detail, explain = case.plan(tool, devices, seed)
        return job, verdict, detail, explain

    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for job, verdict, detail, explain in pool.map(one, jobs):
            case, devices, seed = job
            family = case.entry.family
            if verdict == "not run":
                stats[family]["not run (time budget)"] += 1
                continue
            if seed is None:
                family = "planner: " + family
            stats[family][verdict] += 1
            stats[family]["plans"] += 1
            coverage.update(coverage_of(explain))
            results.append({"entry": case.entry.id, "devices": devices, "seed": seed,
                            "verdict": verdict, "detail": detail})
            if verdict != "equal":
                how = f"--plan random:{seed}" if seed is not None else "(the planner's plan)"
                log(f"FAIL {case.entry.id} --devices {devices} {how}: {verdict}: {detail}")
                failures.append((case, devices, seed, verdict, detail))

    for index, (case, devices, seed, verdict, detail) in enumerate(failures):
        model, d, s, feeds = case.model, devices, seed, case.all_feeds
        if seed is None:
            # The planner's plan: the command is the reproducer.
            log(f"  reproducer: pmc-opt compile {case.model_path} --devices {devices} --explain")
            continue
        if not args.no_shrink:
            log(f"  shrinking {case.entry.id} --devices {devices} --plan random:{seed}")
            model, d, s, feeds = shrink(
                (case.model, case.all_feeds, case.bind, devices, seed, verdict), tool, workdir, log)
        path = save_repro(os.path.join(repro_dir, f"repro-{index}"), model, feeds,
                          case.bind, d, s, verdict, detail)
        log(f"  reproducer ({len(model.graph.node)} nodes, {d} devices): "
            f"python3 test/plans/run_plans.py --build-dir {args.build_dir} --repro {path}")

    log("")
    log(f"{'family':<20} {'plans':>6} {'equal':>6} {'differ':>7} {'error':>6} {'skipped':>8}")
    total = collections.Counter()
    for family in sorted(stats):
        s = stats[family]
        total.update(s)
        log(f"{family:<20} {s['plans']:>6} {s['equal']:>6} {s['differs']:>7} {s['error']:>6} "
            f"{s['skipped']:>8}")
    log(f"{'all':<20} {total['plans']:>6} {total['equal']:>6} {total['differs']:>7} "
        f"{total['error']:>6} {total['skipped']:>8}")
    log("largest relative errors of equal plans (vs one device / vs onnxruntime; one "
        "device vs onnxruntime):")
    for family in sorted({c.entry.family for c in cases}):
        mine = [c for c in cases if c.entry.family == family]
        worst = max((x for c in mine for x in c.errors), default=0.0)
        worst_ort = max((x for c in mine for x in c.ort_errors), default=0.0)
        one = max(c.one_vs_ort for c in mine)
        log(f"  {family:<18} {worst:.2e} / {worst_ort:.2e}; {one:.2e}")
    if total["not run (time budget)"]:
        log(f"{total['not run (time budget)']} plans not run: the time budget "
            f"({args.time_budget:.0f} s) ran out")
    for entry_id, reason in skipped:
        log(f"skipped {entry_id}: {reason}")
    by_op = collections.defaultdict(dict)
    for what, n in coverage.items():
        op, _, kind = what.partition(" ")
        by_op[op][kind] = n
    log("factor splits drawn (op: kind=count): " + "; ".join(
        f"{op} " + ",".join(f"{k}={v}" for k, v in sorted(kinds.items()))
        for op, kinds in sorted(by_op.items())))
    log(f"{total['plans']} plans, {total['differs']} differ, {total['error']} do not compile "
        f"({time.time() - started:.0f} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "skipped": skipped}, f, indent=1)
    if not args.workdir:
        shutil.rmtree(workdir, ignore_errors=True) if not failures else None
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
