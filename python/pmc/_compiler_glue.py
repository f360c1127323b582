"""The one place where the Python API meets the compiler.

The compiler is the `pmc._compiler` nanobind extension; options reach it as
one structured `pmc._compiler.CompileOptions` (the C++ `pmc::CompileOptions`,
bound field for field), never as flag strings or temporary files. A failure
surfaces as `CompileError` carrying the compiler's diagnostics text.
"""

from __future__ import annotations

import os
import shutil
from typing import Mapping, Optional, Sequence, Union

import numpy as np


class CompileError(RuntimeError):
    """The compiler rejected the model; `str(e)` holds its diagnostics."""


def _extension():
    try:
        from . import _compiler  # noqa: PLC0415 - the compiled extension
    except ImportError as e:
        raise ImportError(
            "the pmc compiler extension (pmc/_compiler*.so) is not built or not on "
            f"PYTHONPATH: {e}") from e
    return _compiler


def find_tool(name: str) -> str:
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


MeshLike = Union[Mapping[str, int], Sequence[tuple]]
AxisSpec = Union[None, str, Sequence[str]]
ShardingsLike = Mapping[str, Union[str, Sequence[AxisSpec]]]


def mesh_axes(mesh: Optional[MeshLike]) -> list[tuple[str, int]]:
    """{"dp": 2, "tp": 2} (or [("dp", 2), ...]) -> [("dp", 2), ("tp", 2)]."""
    items = mesh.items() if isinstance(mesh, Mapping) else (mesh or ())
    axes = []
    for item in items:
        try:
            name, size = item
        except (TypeError, ValueError):
            raise ValueError(f"mesh entry {item!r}: expected (axis name, size)") from None
        if (not isinstance(name, str) or isinstance(size, bool) or not isinstance(size, int)
                or size < 1):
            raise ValueError(f"mesh axis {name!r}={size!r}: expected a name and a positive size")
        axes.append((name, size))
    return axes


def sharding_dims(shardings: Optional[ShardingsLike]) -> list[tuple[str, list[list[str]]]]:
    """{"w_fc": (None, "tp"), "x": ("dp",), "y": (("dp", "tp"),)} ->
    [("w_fc", [[], ["tp"]]), ("x", [["dp"]]), ("y", [["dp", "tp"]])]: per
    dimension None (replicated), an axis name, or a tuple of axis names
    (major first)."""
    out = []
    for name, dims in (shardings or {}).items():
        if isinstance(dims, str):
            dims = (dims,)
        axes = []
        for d in dims:
            if d is None:
                axes.append([])
            elif isinstance(d, str):
                axes.append([d])
            elif isinstance(d, (tuple, list)) and all(isinstance(a, str) for a in d):
                axes.append(list(d))
            else:
                raise ValueError(f"shardings['{name}']: dimension entry {d!r} is not None, "
                                 "an axis name or a tuple of axis names")
        out.append((name, axes))
    return out


def make_options(*, devices=1, target="cpu", input_shapes=None, bind=None, mesh=None,
                 shardings=None, plan="auto", device_spec=None, dtype="fp32", stages=0,
                 microbatches=1, schedule="1f1b", cpu="host", sequence_lengths=None,
                 absent=None):
    """The `pmc._compiler.CompileOptions` of these (already checked) values;
    `bind` maps input names to arrays."""
    options = _extension().CompileOptions()
    options.devices = devices
    options.target = target
    options.input_shapes = {k: [int(d) for d in v] for k, v in (input_shapes or {}).items()}
    for name, value in (bind or {}).items():
        # (np.ascontiguousarray would make a 0-d array 1-d.)
        options.bind(name, np.require(value, requirements="C"))
    options.mesh = mesh_axes(mesh)
    options.shardings = sharding_dims(shardings)
    options.plan = plan
    options.device_spec = os.fspath(device_spec) if device_spec else ""
    options.dtype = dtype
    options.stages = stages
    options.microbatches = microbatches
    options.schedule = schedule
    options.cpu = cpu
    options.sequence_lengths = {k: int(v) for k, v in (sequence_lengths or {}).items()}
    options.absent = set(absent or ())
    return options


def _call(function, *args):
    ext = _extension()
    try:
        return function(*args)
    except ext.CompileError as e:
        raise CompileError(str(e)) from None


def compile_bundle(model_path: str, bundle_path: str, options) -> None:
    """Compiles the ONNX (or pmc-dialect .mlir) file `model_path` into the
    bundle `bundle_path` with `options` (see make_options)."""
    _call(_extension().compile, model_path, bundle_path, options)


def plan_model(model_path: str, options) -> str:
    """Runs only the planner on `model_path`; returns the plan JSON text."""
    return _call(_extension().plan, model_path, options)


def import_model(model_path: str, options) -> str:
    """Returns the pmc dialect text of the ONNX file `model_path`."""
    return _call(_extension().import_model, model_path, options)
