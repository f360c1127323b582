"""The one place where the Python API meets the compiler.

The compiler is reached through the `pmc._compiler` nanobind extension when it is
built, and otherwise (or for options the extension does not take) through the
`pmc-opt` executable. Either way a failure surfaces as `CompileError` carrying
the compiler's diagnostics text.
"""

import os
import shutil
import subprocess


class CompileError(RuntimeError):
    """The compiler rejected the model; `str(e)` holds its diagnostics."""


def _extension():
    try:
        from . import _compiler  # noqa: PLC0415 - optional extension
    except ImportError:
        return None
    return _compiler


def find_tool(name):
    """Path of the pmc executable `name` (`pmc-opt`, `pmc-run`).

    Looked up, in order: `$PMC_BUILD_DIR/bin`, the `bin/` folder beside the
    package's build folder (build/python/pmc -> build/bin), then `PATH`.
    """
    candidates = []
    build_dir = os.environ.get("PMC_BUILD_DIR")
    if build_dir:
        candidates.append(os.path.join(build_dir, "bin", name))
    here = os.path.dirname(os.path.abspath(__file__))
    candidates.append(os.path.normpath(os.path.join(here, "..", "..", "bin", name)))
    for c in candidates:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    found = shutil.which(name)
    if found:
        return found
    raise CompileError(f"cannot find the '{name}' executable (looked in "
                       f"{', '.join(candidates)} and PATH); build pmc or set PMC_BUILD_DIR")


def format_shape(shape):
    """(1, 128) -> '1x128', the `--input-shape` spelling."""
    return "x".join(str(int(d)) for d in shape)


def _run_pmc_opt(args):
    tool = find_tool("pmc-opt")
    proc = subprocess.run([tool, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        text = (proc.stderr or proc.stdout).strip()
        if proc.returncode < 0:
            text = f"pmc-opt was killed by signal {-proc.returncode}\n{text}"
        raise CompileError(text or f"pmc-opt exited with status {proc.returncode}")
    return proc.stdout


def _shape_args(input_shapes):
    args = []
    for name, shape in (input_shapes or {}).items():
        args += ["--input-shape", f"{name}={format_shape(shape)}"]
    return args


def mesh_arg(mesh):
    """{"dp": 2, "tp": 2} (or [("dp", 2), ...]) -> 'dp=2,tp=2', the `--mesh` spelling."""
    items = mesh.items() if isinstance(mesh, dict) else mesh
    parts = []
    for name, size in items:
        if not isinstance(name, str) or not isinstance(size, int) or size < 1:
            raise ValueError(f"mesh axis {name!r}={size!r}: expected a name and a positive size")
        parts.append(f"{name}={size}")
    return ",".join(parts)


def shard_args(shardings):
    """{"w_fc": (None, "tp"), "x": ("dp",), "y": (("dp", "tp"),)} ->
    ['w_fc=,tp', 'x=dp', 'y=dp+tp'], the `--shard` spelling: per dimension
    None (replicated), an axis name, or a tuple of axis names (major first)."""
    args = []
    for name, dims in (shardings or {}).items():
        if isinstance(dims, str):
            dims = (dims,)
        texts = []
        for d in dims:
            if d is None:
                texts.append("")
            elif isinstance(d, str):
                texts.append(d)
            elif isinstance(d, (tuple, list)) and all(isinstance(a, str) for a in d):
                texts.append("+".join(d))
            else:
                raise ValueError(f"shardings['{name}']: dimension entry {d!r} is not None, "
                                 "an axis name or a tuple of axis names")
        args.append(f"{name}={','.join(texts)}")
    return args


def compile_bundle(model_path, bundle_path, target, devices, input_shapes, bind_paths,
                   mesh="", shards=(), plan="auto", device_spec="", dtype="fp32",
                   stages=0, microbatches=1, schedule="1f1b"):
    """Compiles the ONNX file `model_path` into the bundle `bundle_path`.

    `input_shapes` maps input names to static shapes; `bind_paths` maps input
    names to `.npy` files whose values replace those inputs (`--bind`);
    `mesh` and `shards` are the `--mesh`/`--shard` values (see mesh_arg, shard_args);
    `dtype` is `--dtype` (fp32, bf16 or fp16).
    `stages`, `microbatches` and `schedule` those of `--stages`, `--microbatches`
    and `--schedule` (a pipeline; stages=0 is none).
    """
    ext = _extension()
    shapes = {k: [int(d) for d in v] for k, v in (input_shapes or {}).items()}
    if ext is not None and hasattr(ext, "compile"):
        try:
            kwargs = {}
            if bind_paths:
                kwargs["bind"] = dict(bind_paths)
            if mesh or shards:
                kwargs["mesh"] = mesh
                kwargs["shards"] = list(shards)
            if plan != "auto" or device_spec:
                kwargs["plan"] = plan
                kwargs["device_spec"] = device_spec
            if dtype != "fp32":
                kwargs["dtype"] = dtype
            if stages or microbatches != 1 or schedule != "1f1b":
                kwargs["stages"] = stages
                kwargs["microbatches"] = microbatches
                kwargs["schedule"] = schedule
            ext.compile(model_path, bundle_path, target, devices, shapes, **kwargs)
            return
        except TypeError:
            # This extension does not take these arguments: use the executable.
            pass
        except CompileError:
            raise
        except RuntimeError as e:
            raise CompileError(str(e)) from e
    args = ["compile", model_path, "-o", bundle_path, "--target", target,
            "--devices", str(devices), *_shape_args(shapes)]
    for name, path in (bind_paths or {}).items():
        args += ["--bind", f"{name}={path}"]
    if mesh:
        args += ["--mesh", mesh]
    for shard in shards:
        args += ["--shard", shard]
    if plan != "auto":
        args += ["--plan", plan]
    if device_spec:
        args += ["--device-spec", device_spec]
    if dtype != "fp32":
        args += ["--dtype", dtype]
    if stages:
        args += ["--stages", str(stages)]
    if microbatches != 1:
        args += ["--microbatches", str(microbatches)]
    if schedule != "1f1b":
        args += ["--schedule", schedule]
    _run_pmc_opt(args)


def plan_model(model_path, devices, target, device_spec, input_shapes):
    """Runs only the planner on `model_path`; returns the plan JSON text."""
    ext = _extension()
    shapes = {k: [int(d) for d in v] for k, v in (input_shapes or {}).items()}
    if ext is not None and hasattr(ext, "plan"):
        try:
            return ext.plan(model_path, devices, target, device_spec or "", shapes)
        except CompileError:
            raise
        except RuntimeError as e:
            raise CompileError(str(e)) from e
    args = ["compile", model_path, "--emit", "plan", "-o", "-", "--target", target,
            "--devices", str(devices), *_shape_args(shapes)]
    if device_spec:
        args += ["--device-spec", device_spec]
    return _run_pmc_opt(args)


def import_model(model_path, input_shapes):
    """Returns the pmc dialect text of the ONNX file `model_path`."""
    ext = _extension()
    shapes = {k: [int(d) for d in v] for k, v in (input_shapes or {}).items()}
    if ext is not None and hasattr(ext, "import_model"):
        try:
            return ext.import_model(model_path, shapes)
        except RuntimeError as e:
            raise CompileError(str(e)) from e
    return _run_pmc_opt(["import", model_path, *_shape_args(shapes)])
