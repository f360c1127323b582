#!/usr/bin/env python3
"""The GPU check: prebuilt CUDA bundles, their inputs and expected outputs, run
where a GPU is, with only pmc-run, the runtime libraries and numpy.

Two steps, on two machines:

    # here (MLIR, onnx, onnxruntime; no GPU needed): `make gpu-bundles`
    python3 tools/gpu_check.py prepare --build-dir build --out build/gpu-check
    # on the GPU machine (pmc-run + numpy only): `make test-gpu`, or
    python3 build/gpu-check/gpu_check.py run --pmc-run build/bin/pmc-run

`prepare` compiles with `--target cuda`:
  * zoo: the zoo models (test/zoo/make_zoo.py) at 1 device and at 4 devices (run
    with `pmc-run --virtual-ranks`: the 4 ranks on one GPU, each on its own
    streams), in fp32, bf16 and fp16 (`pmc-opt compile --dtype`);
  * pipeline: the mlp cut into 2 stages on 2 devices with 2 microbatches, run with
    `--virtual-ranks`. Whether the CUDA runtime runs pipeline bundles is the GPU
    machine's pmc-run's answer: when it rejects the bundle as a pipeline ("does not
    run pipeline bundles"), the case is reported *unsupported* with that message
    (neither a pass nor a failure); once it runs them, the case is compared like any
    other;
  * nccl: the mlp on a one-device mesh tp=1 with Megatron shardings, so the bundle
    holds an all-reduce: run as one process (collectives staged through the host),
    and as a world of one NCCL rank bootstrapped over TCP (torchrun's RANK,
    WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT + `--bootstrap tcp`) and
    through MPI (`mpirun -np 1 ... --bootstrap mpi`);
  * node: the ONNX node tests that compile for cuda (first data set of each).
Expected outputs: the zoo's from onnxruntime (fp32, CPU), the node tests' from
their own data sets. It writes bundles, .npz inputs and expected outputs,
`manifest.json`, `README.md` (what to carry to the GPU machine, checked with ldd)
and a copy of this script into the output folder, which is self-contained.

`run` executes every case, compares, prints a table and a summary (passed /
failed / unsupported / skipped, with reasons) and exits 0 when nothing failed, 1
when something did (or nothing ran), 2 when the folder or pmc-run is missing, and
77 (the automake "skipped" code) when there is no GPU or no CUDA driver: it never
reports a pass it did not see.

Tolerances (|got - expected| <= atol' + rtol * |expected|):
  zoo fp32   rtol 1e-4,   atol' = 1e-5
  zoo bf16   rtol 2e-2,   atol' = 2e-2   * max(1, max |expected|)
  zoo fp16   rtol 2.5e-3, atol' = 2.5e-3 * max(1, max |expected|)
  node       rtol 1e-3,   atol' = 1e-7 (the ONNX backend runner's; 1e-2 for
             bfloat16 outputs)
The bf16/fp16 bounds are those of docs/user-guide.md ("Reduced precision"): about
5 roundings of the narrow type (unit roundoff 2^-8 and 2^-11), the absolute part
scaled by the output's magnitude; the reference is onnxruntime's fp32 result.
"""

import argparse
import concurrent.futures
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np

MANIFEST = "manifest.json"
FORMAT = "pmc-gpu-check"
SKIP_EXIT = 77
# (rtol, atol, scaled): with `scaled`, atol is multiplied by max(1, max|expected|).
TOLERANCES = {
    "zoo-fp32": (1e-4, 1e-5, False),
    "zoo-bf16": (2e-2, 2e-2, True),
    "zoo-fp16": (2.5e-3, 2.5e-3, True),
    "node": (1e-3, 1e-7, False),
    "node-bf16": (1e-2, 1e-7, False),
}
ZOO_DTYPES = ("fp32", "bf16", "fp16")
ZOO_DEVICES = (1, 4)
# The pipeline case: `pmc-opt compile --devices 2 --stages 2 --microbatches 2`.
PIPELINE = {"devices": 2, "stages": 2, "microbatches": 2}
# What a pmc-run that cannot run pipeline bundles on CUDA says (Session::open).
PIPELINE_UNSUPPORTED = r"does not (run|support) pipeline bundles"
# Libraries pmc-run must not link (DESIGN.md contract 3).
FORBIDDEN_LIBS = re.compile(r"lib(MLIR|LLVM|clang)")
# Loaded with dlopen by the CUDA runtime (lib/Runtime/CUDA): needed on the GPU
# machine, not linked.
DLOPENED = [
    ("libcuda.so.1", "the NVIDIA driver"),
    ("libcublasLt.so.13 (or .12)", "cuBLASLt, for MatMul/Gemm"),
    ("libcudnn.so.9", "cuDNN, for Conv"),
    ("libnccl.so.2", "NCCL, for the nccl-tcp/nccl-mpi cases ($PMC_NCCL_LIBRARY overrides)"),
]


# --- Shared -------------------------------------------------------------------

def call(cmd, timeout, env=None):
    """Runs `cmd` in its own process group; returns (status, text) with status
    'ok', 'error', 'crash' or 'timeout' (the whole group is killed on timeout)."""
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True, errors="replace",
                                start_new_session=True, env=env)
    except OSError as e:
        return "error", f"cannot run {cmd[0]}: {e}"
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        return "timeout", f"{os.path.basename(cmd[0])} did not finish within {timeout} s"
    text = (err.strip() + "\n" + out.strip()).strip()
    if proc.returncode < 0:
        return "crash", f"killed by signal {-proc.returncode}: {first_error(text)}"
    return ("ok" if proc.returncode == 0 else "error"), text


def first_error(text):
    """The most telling line of a tool's output: the first naming an error."""
    lines = [l.strip() for l in (text or "").splitlines() if l.strip()]
    for line in lines:
        if "error" in line.lower():
            return line
    return lines[0] if lines else "no message"


def bf16_to_f32(bits):
    """bfloat16 bit patterns (uint16 or 2-byte void) as float32."""
    bits = np.ascontiguousarray(bits).view(np.uint16)
    return (bits.astype(np.uint32) << 16).view(np.float32)


def compare(name, expected, got, rtol, atol, bf16=False, scaled=False):
    """(None, max abs error) when `got` matches, else (reason, max abs error).
    With `scaled`, the absolute tolerance is atol * max(1, max |expected|)."""
    if bf16:
        if got.dtype.itemsize != 2:
            return f"output '{name}': dtype {got.dtype}, expected bfloat16 bits", None
        expected, got = bf16_to_f32(expected), bf16_to_f32(got)
    if got.shape != expected.shape:
        return f"output '{name}': shape {list(got.shape)}, expected {list(expected.shape)}", None
    if expected.dtype.kind in "biu" or expected.dtype.kind in "SU":
        if got.dtype != expected.dtype:
            return f"output '{name}': dtype {got.dtype}, expected {expected.dtype}", None
        bad = int(np.count_nonzero(expected != got))
        return (f"output '{name}': {bad} of {expected.size} elements differ" if bad else None,
                0.0 if not bad else None)
    e = expected.astype(np.float64)
    a = got.astype(np.float64)
    if scaled:
        finite_e = np.abs(e[np.isfinite(e)])
        atol = atol * max(1.0, float(finite_e.max()) if finite_e.size else 0.0)
    diff = np.abs(a - e)
    finite = np.isfinite(diff)
    worst = float(diff[finite].max()) if finite.any() else 0.0
    close = np.isclose(a, e, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return None, worst
    idx = np.unravel_index(int(np.argmax(np.where(close, -1, np.nan_to_num(diff, nan=np.inf)))),
                           e.shape)
    return (f"output '{name}': {int((~close).sum())} of {e.size} elements differ; at "
            f"{[int(i) for i in idx]} got {a[idx]!r}, expected {e[idx]!r} "
            f"(rtol={rtol}, atol={atol})"), worst


# --- prepare (here: MLIR, onnx, onnxruntime) ----------------------------------

def _repo_root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def debian_package(path):
    """The Debian package that installed `path` ('' when dpkg does not know it):
    tries the path, its target (alternatives links) and the merged-/usr twin."""
    if not shutil.which("dpkg"):
        return ""
    real = os.path.realpath(path)
    twin = path[4:] if path.startswith("/usr/") else "/usr" + path
    for candidate in (path, real, twin):
        status, text = call(["dpkg", "-S", candidate], 30)
        if status == "ok" and ":" in text:
            return text.split(":")[0].strip()
    return ""


def _save_npz(path, arrays):
    np.savez(path, **{k: np.ascontiguousarray(v) for k, v in arrays.items()})


class Preparer:
    def __init__(self, args):
        self.args = args
        self.out = os.path.abspath(args.out)
        self.pmc_opt = os.path.join(args.build_dir, "bin", "pmc-opt")
        self.pmc_run = os.path.join(args.build_dir, "bin", "pmc-run")
        self.cases = []
        self.skipped = []
        self.errors = []
        self.notes = []

    def compile(self, model, bundle, devices, extra=()):
        cmd = [self.pmc_opt, "compile", model, "-o", bundle, "--target", "cuda",
               "--devices", str(devices), *extra]
        return call(cmd, self.args.timeout)

    def compile_all(self, jobs):
        """Compiles `jobs` [(case entry, model path, extra flags)] in parallel;
        keeps the entries that compiled, records the others as errors."""
        def one(job):
            entry, model, extra = job
            entry["compile_flags"] = ["--target", "cuda", "--devices", str(entry["devices"]),
                                      *extra]
            return self.compile(model, os.path.join(self.out, entry["bundle"]),
                                entry["devices"], extra)
        with concurrent.futures.ThreadPoolExecutor(self.args.jobs) as pool:
            results = list(pool.map(one, jobs))
        kept = []
        for (entry, _, _), (status, text) in zip(jobs, results):
            if status == "ok":
                kept.append(entry)
                continue
            reason = f"compile {status}: {first_error(text)}"
            self.skipped.append({"name": entry["name"], "reason": reason})
            self.errors.append(f"{entry['name']}: {reason}")
        return kept

    @staticmethod
    def tolerance(key):
        rtol, atol, scaled = TOLERANCES[key]
        return {"rtol": rtol, "atol": atol, "atol_scaled": scaled}

    def zoo(self):
        """The zoo models at 1 and 4 devices in every dtype, the pipeline case and
        the one-rank NCCL cases; expected outputs from onnxruntime."""
        sys.path.insert(0, os.path.join(_repo_root(), "test", "zoo"))
        import onnx
        from make_zoo import build_zoo, make_inputs, megatron_shardings, run_onnxruntime
        src = os.path.join(self.out, "zoo", "onnx")
        paths = build_zoo(src, names=self.args.models)
        jobs = []
        for name, path in paths.items():
            feeds = make_inputs(onnx.load(path), seed=0)
            base = os.path.join("zoo", name)
            _save_npz(os.path.join(self.out, base + ".inputs.npz"), feeds)
            _save_npz(os.path.join(self.out, base + ".expected.npz"),
                      run_onnxruntime(path, feeds))
            io = {"inputs": base + ".inputs.npz", "expected": base + ".expected.npz"}
            for dtype in ZOO_DTYPES:
                for devices in ZOO_DEVICES:
                    entry = {"name": f"zoo/{name}/{devices}dev/{dtype}", "group": "zoo",
                             "bundle": f"{base}.{devices}dev.{dtype}.pmc", **io,
                             "devices": devices, "dtype": dtype,
                             **self.tolerance(f"zoo-{dtype}"),
                             "mode": "single" if devices == 1 else "virtual-ranks"}
                    extra = () if dtype == "fp32" else ("--dtype", dtype)
                    jobs.append((entry, path, extra))
            if name == "mlp":
                p = PIPELINE
                tag = f"{p['devices']}dev-{p['stages']}stages-{p['microbatches']}mb"
                entry = {"name": f"pipeline/{name}/{tag}/fp32", "group": "pipeline",
                         "bundle": f"{base}.{tag}.fp32.pmc", **io, "devices": p["devices"],
                         "dtype": "fp32", **self.tolerance("zoo-fp32"),
                         "mode": "virtual-ranks", "unsupported_if": PIPELINE_UNSUPPORTED}
                jobs.append((entry, path, ("--stages", str(p["stages"]),
                                           "--microbatches", str(p["microbatches"]))))
                # A one-device mesh tp=1 with Megatron shardings keeps an
                # all-reduce in the program, so a distributed run creates NCCL.
                shardings, _ = megatron_shardings(name)
                extra = ["--mesh", "tp=1"]
                for weight, dims in sorted(shardings.items()):
                    extra += ["--shard", weight + "=" + ",".join(d or "" for d in dims)]
                for mode in ("single", "nccl-tcp", "nccl-mpi"):
                    entry = {"name": f"nccl/{name}/1dev-tp1/{mode}", "group": "nccl",
                             "bundle": f"{base}.1dev-tp1.fp32.pmc", **io, "devices": 1,
                             "dtype": "fp32", **self.tolerance("zoo-fp32"), "mode": mode}
                    jobs.append((entry, path, tuple(extra)) if mode == "single" else
                                (entry, None, None))
        compiled = self.compile_all([j for j in jobs if j[1] is not None])
        bundles = {e["bundle"] for e in compiled}
        flags = {e["bundle"]: e["compile_flags"] for e in compiled}
        for entry, model, _ in jobs:
            if model is None and entry["bundle"] in bundles:
                # The nccl runs share the `single` bundle.
                compiled.append(dict(entry, compile_flags=flags[entry["bundle"]]))
        order = {j[0]["name"]: i for i, j in enumerate(jobs)}
        self.cases += sorted(compiled, key=lambda e: order[e["name"]])
        for entry in compiled:
            if entry["group"] == "pipeline":
                self.ask_runtime_here(entry)

    def ask_runtime_here(self, entry):
        """Records what this machine's pmc-run says of the pipeline bundle (it
        checks pipelines before looking for a GPU); the GPU machine's pmc-run
        decides at run time."""
        status, text = call([self.pmc_run, os.path.join(self.out, entry["bundle"]),
                             "--inputs", os.path.join(self.out, entry["inputs"]),
                             "--virtual-ranks"], 120)
        line = first_error(text).replace(self.out + os.sep, "") if status != "ok" else "ran"
        if re.search(entry["unsupported_if"], text or ""):
            note = f"{entry['name']}: this pmc-run does not run CUDA pipelines ({line})"
        else:
            note = f"{entry['name']}: this pmc-run accepts the pipeline bundle ({line})"
        entry["runtime_here"] = line
        self.notes.append(note)

    def node_case(self, case_dir):
        """Compiles one node test for cuda; returns (entry or None, skip reason)."""
        import onnx
        import run_node_tests as rnt
        name = os.path.basename(case_dir)
        model_path = os.path.join(case_dir, "model.onnx")
        model = onnx.load(model_path, load_external_data=False)
        ds = os.path.join(case_dir, "test_data_set_0")
        if not os.path.isdir(ds):
            return None, "no test_data_set_0"
        inputs, outputs = rnt.read_data_set(ds, model)
        if any(not isinstance(v, np.ndarray) for v in inputs.values()) or \
                any(not isinstance(v, np.ndarray) for _, v in outputs):
            return None, "sequence or optional values (pmc-run takes tensors)"
        static = {vi.name: rnt.declared_shape(vi) for vi in rnt.graph_inputs(model)
                  if rnt.is_static_tensor(vi)}
        base = os.path.join("node", name)
        os.makedirs(os.path.join(self.out, base), exist_ok=True)
        for bind_all in (False, True):
            bound = rnt.constant_candidates(inputs) if bind_all else \
                rnt.shape_operand_inputs(model)
            binds = {n: inputs[n] for n in bound if n in inputs}
            shapes = {n: tuple(v.shape) for n, v in inputs.items()
                      if n not in binds and static.get(n) != tuple(v.shape)}
            if any(n in static and len(static[n]) != len(s) for n, s in shapes.items()):
                return None, "input ranks differ from the model's declared shapes"
            extra = []
            for n, shape in sorted(shapes.items()):
                extra += ["--input-shape", f"{n}=" + "x".join(str(d) for d in shape)]
            for i, n in enumerate(sorted(binds)):
                p = os.path.join(self.out, base, f"bind{i}.npy")
                np.save(p, binds[n], allow_pickle=False)
                extra += ["--bind", f"{n}={p}"]
            bundle = os.path.join(base, "model.pmc")
            status, text = self.compile(model_path, os.path.join(self.out, bundle), 1, extra)
            if status == "error" and rnt.CONSTANT_RE.search(text) and not bind_all:
                continue
            break
        if status != "ok":
            shutil.rmtree(os.path.join(self.out, base), ignore_errors=True)
            return None, f"does not compile for cuda: {first_error(text)}"
        for f in os.listdir(os.path.join(self.out, base)):
            if f.startswith("bind"):
                os.remove(os.path.join(self.out, base, f))
        feeds = {n: v for n, v in inputs.items() if n not in binds}
        _save_npz(os.path.join(self.out, base, "inputs.npz"), feeds)
        _save_npz(os.path.join(self.out, base, "expected.npz"), dict(outputs))
        bf16 = sorted(rnt.bfloat16_outputs(model))
        return {"name": f"node/{name}", "group": "node", "bundle": bundle,
                "inputs": os.path.join(base, "inputs.npz"),
                "expected": os.path.join(base, "expected.npz"), "devices": 1,
                "dtype": "onnx", **self.tolerance("node-bf16" if bf16 else "node"),
                "mode": "single", "bf16_outputs": bf16}, ""

    def nodes(self):
        sys.path.insert(0, os.path.join(_repo_root(), "test", "conformance"))
        import run_node_tests as rnt
        if not os.path.isdir(self.args.node_data):
            self.skipped.append({"name": "node/*",
                                 "reason": f"no ONNX node tests at {self.args.node_data}"})
            return
        names = rnt.list_cases(self.args.node_data)
        if self.args.node_filter:
            rx = re.compile(self.args.node_filter)
            names = [n for n in names if rx.search(n)]
        dirs = [os.path.join(self.args.node_data, n) for n in names]
        with concurrent.futures.ThreadPoolExecutor(self.args.jobs) as pool:
            results = list(pool.map(self._node_safe, dirs))
        compiled = 0
        for d, (entry, reason) in zip(dirs, results):
            if entry:
                self.cases.append(entry)
                compiled += 1
            else:
                self.skipped.append({"name": "node/" + os.path.basename(d), "reason": reason})
        print(f"node tests: {compiled} of {len(dirs)} compile for cuda")

    def _node_safe(self, case_dir):
        try:
            return self.node_case(case_dir)
        except Exception as e:  # noqa: BLE001 - one bad case is skipped, not fatal
            return None, f"cannot prepare: {type(e).__name__}: {e}"

    def runtime_libraries(self):
        """The shared libraries pmc-run links (ldd), each with its Debian package
        where dpkg knows it; an error when one of them is MLIR or LLVM."""
        status, text = call(["ldd", self.pmc_run], 60)
        if status != "ok":
            self.errors.append(f"ldd {self.pmc_run}: {first_error(text)}")
            return []
        status, dynamic = call(["readelf", "-d", self.pmc_run], 60)
        needed = set(re.findall(r"\(NEEDED\).*\[(\S+)\]", dynamic)) if status == "ok" else set()
        libs = []
        for line in text.splitlines():
            m = re.match(r"\s*(\S+)\s+=>\s+(\S+)", line)
            if not m or m.group(2) == "not":
                if m:
                    self.errors.append(f"pmc-run needs {m.group(1)}, which is not found")
                continue
            name, path = m.group(1), os.path.realpath(m.group(2))
            if FORBIDDEN_LIBS.search(name):
                self.errors.append(f"pmc-run links {name} ({path}): the runtime must not "
                                   "need MLIR or LLVM (DESIGN.md contract 3)")
            package = debian_package(m.group(2))
            libs.append({"name": name, "path": path, "package": package,
                         "direct": name in needed})
        return libs

    def write_readme(self, libs):
        """README.md of the folder: what to carry to the GPU machine and how to run."""
        lines = ["# pmc GPU check", "",
                 f"Prepared {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by "
                 "`make gpu-bundles` (`tools/gpu_check.py prepare`): "
                 f"{len(self.cases)} cases (CUDA bundles, inputs, expected outputs) in "
                 "`manifest.json`.", "",
                 "## Carry to the GPU machine", "",
                 "1. this folder (`gpu-check/`, any location);",
                 "2. `build/bin/pmc-run` (pmc's runtime is linked in statically; it "
                 "needs no MLIR or LLVM library, which `make gpu-bundles` checks). By "
                 "default `gpu_check.py run` looks for it at `../bin/pmc-run` next to "
                 "this folder, as in `build/`;",
                 "3. the shared libraries pmc-run links, as `ldd build/bin/pmc-run` lists "
                 "them here (libc, libm, libstdc++, libgcc_s are on every machine):", ""]
        common = ("libc.so", "libm.so", "libstdc++", "libgcc_s", "ld-linux", "linux-vdso")
        packages = []
        for lib in libs:
            if lib["name"].startswith(common):
                continue
            pkg = f" (Debian `{lib['package']}`)" if lib["package"] else ""
            how = "linked" if lib.get("direct") else "needed by those"
            lines.append(f"   - `{lib['name']}`{pkg}, {how}")
            if lib.get("direct") and lib["package"] and lib["package"] not in packages:
                packages.append(lib["package"])
        if packages:
            lines += ["", "   On Debian/Ubuntu: `apt-get install " + " ".join(packages) +
                      "` brings them all."]
        lines += ["", "4. Python 3 with numpy (nothing else: no MLIR, onnx or onnxruntime);",
                  "5. on the GPU machine itself (loaded with dlopen, not linked): "]
        lines += [f"   - `{name}`: {what}" for name, what in DLOPENED]
        lines += ["   - `mpirun` (Open MPI) for the `nccl-mpi` case; without it that case is "
                  "skipped.", "",
                  "## Run", "",
                  "```sh",
                  "make test-gpu                                  # in a checkout with build/",
                  "python3 gpu-check/gpu_check.py run --pmc-run path/to/pmc-run "
                  "--json results.json",
                  "```", "",
                  "Exit status: 0 every case that ran passed; 1 a failure (or nothing ran); "
                  "2 folder or pmc-run missing; 77 no CUDA driver or no GPU (nothing ran). "
                  "`--filter REGEX` runs some cases; the pipeline case is *unsupported* "
                  "(neither pass nor fail) while the runtime rejects CUDA pipeline bundles.",
                  ""]
        with open(os.path.join(self.out, "README.md"), "w") as f:
            f.write("\n".join(lines))

    def run(self):
        for tool in (self.pmc_opt, self.pmc_run):
            if not os.path.exists(tool):
                sys.exit(f"error: {tool} does not exist (build pmc-opt and pmc-run first)")
        if os.path.exists(self.out):
            shutil.rmtree(self.out)
        os.makedirs(os.path.join(self.out, "zoo"))
        start = time.monotonic()
        self.zoo()
        if not self.args.no_node_tests:
            self.nodes()
        libs = self.runtime_libraries()
        manifest = {"format": FORMAT, "version": 2,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "tolerances": {k: {"rtol": r, "atol": a, "atol_scaled": sc}
                                   for k, (r, a, sc) in TOLERANCES.items()},
                    "runtime_libraries": libs,
                    "dlopened": [name for name, _ in DLOPENED],
                    "cases": self.cases, "skipped": self.skipped}
        with open(os.path.join(self.out, MANIFEST), "w") as f:
            json.dump(manifest, f, indent=1)
        self.write_readme(libs)
        shutil.copy(os.path.abspath(__file__), os.path.join(self.out, "gpu_check.py"))
        groups = {}
        for c in self.cases:
            groups[c["group"]] = groups.get(c["group"], 0) + 1
        print(f"wrote {len(self.cases)} cases ("
              + ", ".join(f"{n} {g}" for g, n in groups.items())
              + f"; {len(self.skipped)} skipped at prepare) to {self.out} in "
              f"{time.monotonic() - start:.0f} s")
        for note in self.notes:
            print(f"note: {note}")
        print(f"carry to the GPU machine: see {os.path.join(self.out, 'README.md')}")
        for e in self.errors:
            print(f"error: {e}", file=sys.stderr)
        return 1 if self.errors else 0


# --- run (the GPU machine: pmc-run + numpy) -----------------------------------

def probe_gpu():
    """(True, 'NVIDIA H100 ...') when the CUDA driver loads and sees a device,
    else (False, why)."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError as e:
        return False, f"no CUDA driver (libcuda.so.1 cannot be loaded: {e})"
    rc = cuda.cuInit(0)
    if rc != 0:
        return False, f"cuInit failed with CUDA error {rc} (no usable GPU)"
    count = ctypes.c_int(0)
    if cuda.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value == 0:
        return False, "the CUDA driver sees no device"
    name = ctypes.create_string_buffer(256)
    dev = ctypes.c_int(0)
    cuda.cuDeviceGet(ctypes.byref(dev), 0)
    cuda.cuDeviceGetName(name, 256, dev)
    return True, f"{count.value} device(s), device 0: {name.value.decode(errors='replace')}"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Runner:
    def __init__(self, args):
        self.args = args
        self.dir = os.path.abspath(args.dir)
        self.pmc_run = args.pmc_run
        with open(os.path.join(self.dir, MANIFEST)) as f:
            self.manifest = json.load(f)
        if self.manifest.get("format") != FORMAT:
            sys.exit(f"error: {self.dir}/{MANIFEST} is not a {FORMAT} manifest")
        self.mpirun = shutil.which("mpirun")

    def command(self, case, out):
        """(argv, env) for `case`, or (None, skip reason)."""
        bundle = os.path.join(self.dir, case["bundle"])
        argv = [self.pmc_run, bundle, "--inputs", os.path.join(self.dir, case["inputs"]),
                "--output", out]
        env = dict(os.environ)
        mode = case["mode"]
        if mode == "virtual-ranks":
            argv.append("--virtual-ranks")
        elif mode == "nccl-tcp":
            env.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                       MASTER_PORT=str(free_port()))
            argv += ["--bootstrap", "tcp"]
        elif mode == "nccl-mpi":
            if not self.mpirun:
                return None, "mpirun is not installed"
            argv = [self.mpirun, "--allow-run-as-root", "-np", "1", *argv, "--bootstrap", "mpi"]
        return argv, env

    def run_case(self, case):
        out = os.path.join(self.work, case["name"].replace("/", "__") + ".npz")
        argv, env = self.command(case, out)
        if argv is None:
            return {"status": "skip", "detail": env, "seconds": 0.0, "err": None}
        start = time.monotonic()
        status, text = call(argv, self.args.timeout, env)
        seconds = time.monotonic() - start
        result = {"seconds": seconds, "err": None}
        if status != "ok":
            # The runtime's own answer decides: a case that this pmc-run declares
            # unsupported (by the message the manifest names) is not a failure.
            pattern = case.get("unsupported_if")
            if status == "error" and pattern and re.search(pattern, text):
                return dict(result, status="unsupported",
                            detail=f"pmc-run: {first_error(text)}")
            return dict(result, status="fail", detail=f"run {status}: {first_error(text)}")
        try:
            with np.load(out, allow_pickle=False) as got_npz, \
                    np.load(os.path.join(self.dir, case["expected"]), allow_pickle=False) as exp:
                worst = 0.0
                for name in exp.files:
                    if name not in got_npz.files:
                        return dict(result, status="fail",
                                    detail=f"output '{name}' missing from pmc-run's results")
                    problem, err = compare(name, exp[name], got_npz[name], case["rtol"],
                                           case["atol"], name in case.get("bf16_outputs", []),
                                           case.get("atol_scaled", False))
                    if err is not None:
                        worst = max(worst, err)
                    if problem:
                        return dict(result, status="fail", detail=problem, err=err)
        except (OSError, ValueError) as e:
            return dict(result, status="fail", detail=f"cannot read outputs: {e}")
        return dict(result, status="pass", detail="", err=worst)

    def run(self):
        ok, what = probe_gpu()
        if not ok:
            print(f"no GPU: {what}; the GPU check is skipped (exit {SKIP_EXIT}), "
                  "nothing was run")
            return SKIP_EXIT
        if not os.path.exists(self.pmc_run):
            print(f"error: {self.pmc_run} does not exist (pass --pmc-run)", file=sys.stderr)
            return 2
        print(f"GPU: {what}")
        self.work = os.path.join(self.dir, "results")
        os.makedirs(self.work, exist_ok=True)
        cases = self.manifest["cases"]
        if self.args.filter:
            rx = re.compile(self.args.filter)
            cases = [c for c in cases if rx.search(c["name"])]
        rows = []
        width = max([len(c["name"]) for c in cases] + [4])
        print(f"{'case':<{width}}  {'mode':<13} {'status':<11} {'max err':>9} {'ms':>8}  detail")
        for case in cases:
            r = self.run_case(case)
            rows.append((case, r))
            err = "" if r["err"] is None else f"{r['err']:.2e}"
            print(f"{case['name']:<{width}}  {case['mode']:<13} {r['status']:<11} {err:>9} "
                  f"{r['seconds'] * 1000:8.0f}  {r['detail']}", flush=True)
        passed = sum(r["status"] == "pass" for _, r in rows)
        failed = sum(r["status"] == "fail" for _, r in rows)
        unsupported = [(c["name"], r["detail"]) for c, r in rows
                       if r["status"] == "unsupported"]
        skipped = [(c["name"], r["detail"]) for c, r in rows if r["status"] == "skip"]
        skipped += [(s["name"], s["reason"]) for s in self.manifest.get("skipped", [])
                    if not self.args.filter or re.search(self.args.filter, s["name"])]
        print(f"\n{passed} passed, {failed} failed, {len(unsupported)} unsupported, "
              f"{len(skipped)} skipped")
        for name, why in unsupported:
            print(f"  unsupported: {name}: {why}")
        reasons = {}
        for _, reason in skipped:
            key = reason.split(":")[0] if reason.startswith("does not compile") else reason
            reasons[key] = reasons.get(key, 0) + 1
        for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1]):
            print(f"  skipped {n:4d}: {reason}")
        if self.args.json:
            with open(self.args.json, "w") as f:
                json.dump({"gpu": what, "passed": passed, "failed": failed,
                           "unsupported": len(unsupported),
                           "results": [dict(name=c["name"], mode=c["mode"], **r)
                                       for c, r in rows],
                           "skipped": [{"name": n, "reason": r} for n, r in skipped]}, f,
                          indent=1)
        if failed:
            return 1
        if not passed:
            print("error: no case ran", file=sys.stderr)
            return 1
        return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="step", required=True)
    prep = sub.add_parser("prepare", help="compile the cases (no GPU needed)")
    prep.add_argument("--build-dir", default="build")
    prep.add_argument("--out", default=None, help="default: BUILD_DIR/gpu-check")
    prep.add_argument("--models", nargs="+",
                      default=["mlp", "resnet_cnn", "transformer_encoder", "gpt_decoder"])
    prep.add_argument("--node-data", default="/usr/share/libonnx-testdata/data/node")
    prep.add_argument("--node-filter", default=None, help="regex on node test names")
    prep.add_argument("--no-node-tests", action="store_true")
    prep.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    prep.add_argument("--timeout", type=float, default=300, help="seconds per compile")
    run = sub.add_parser("run", help="run the cases on this machine's GPU")
    here = os.path.dirname(os.path.abspath(__file__))
    run.add_argument("--dir", default=here if os.path.exists(os.path.join(here, MANIFEST))
                     else "build/gpu-check")
    run.add_argument("--pmc-run", default=None,
                     help="default: $PMC_RUN, else DIR/../bin/pmc-run")
    run.add_argument("--filter", default=None, help="regex on case names")
    run.add_argument("--timeout", type=float, default=300, help="seconds per case")
    run.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    if args.step == "prepare":
        args.out = args.out or os.path.join(args.build_dir, "gpu-check")
        return Preparer(args).run()
    if not os.path.exists(os.path.join(args.dir, MANIFEST)):
        print(f"error: {args.dir}/{MANIFEST} not found: run `make gpu-bundles` (or "
              "`gpu_check.py prepare`) on a machine with the compiler first", file=sys.stderr)
        return 2
    args.pmc_run = args.pmc_run or os.environ.get("PMC_RUN") or \
        os.path.join(os.path.dirname(os.path.abspath(args.dir)), "bin", "pmc-run")
    return Runner(args).run()


if __name__ == "__main__":
    sys.exit(main())
