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


def compile_bundle(model_path, bundle_path, target, devices, input_shapes, bind_paths):
    """Compiles the ONNX file `model_path` into the bundle `bundle_path`.

    `input_shapes` maps input names to static shapes; `bind_paths` maps input
    names to `.npy` files whose values replace those inputs (`--bind`).
    """
    ext = _extension()
    shapes = {k: [int(d) for d in v] for k, v in (input_shapes or {}).items()}
    if ext is not None and hasattr(ext, "compile"):
        try:
            if bind_paths:
                ext.compile(model_path, bundle_path, target, devices, shapes,
                            bind=dict(bind_paths))
            else:
                ext.compile(model_path, bundle_path, target, devices, shapes)
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
    _run_pmc_opt(args)


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
