"""pmc: an ahead-of-time compiler for ONNX models, with a numpy-in numpy-out runtime.

    import numpy as np, pmc
    exe = pmc.compile("mlp.onnx", input_shapes={"x": (2, 64)})   # -> pmc.Executable
    y, = exe.run(None, {"x": np.zeros((2, 64), np.float32)})     # as onnxruntime
    out = exe.run_dict({"x": np.zeros((2, 64), np.float32)})     # {"y": array}
    print(exe.plan)                                              # what was chosen
    exe.save("mlp.pmc")
    same = pmc.load("mlp.pmc")

Compile failures raise `pmc.CompileError` with the compiler's diagnostics; bad
feeds raise `ValueError`/`TypeError` naming the input; a damaged bundle raises
`RuntimeError` with the runtime's message.
"""

from __future__ import annotations

import os
import tempfile
from typing import Mapping, Optional, Sequence, Union

import numpy as np

from ._compiler_glue import (CompileError, MeshLike, ShardingsLike, compile_bundle,
                             make_options, plan_model)
from ._compiler_glue import import_model as _import_model_file
from .bundle import BundleInfo
from .executable import Executable, TensorSpec, as_numpy
from .training import (SGD, Adam, AdamW, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss,
                       MSELoss, Trainer, compile_training, load_training, plan_training,
                       schedules)

#: What pmc.compile and pmc.plan take as a model: a path or an onnx.ModelProto.
ModelLike = Union[str, os.PathLike, "onnx.ModelProto"]  # noqa: F821

__version__ = "0.1.0"
__all__ = ["compile", "plan", "load", "verify_against_one_device", "import_model", "Executable", "TensorSpec", "CompileError",
           "BundleInfo", "__version__", "compile_training", "Trainer", "CrossEntropyLoss",
           "MSELoss", "L1Loss", "BCEWithLogitsLoss", "SGD", "Adam", "AdamW", "schedules",
           "load_training", "plan_training"]

def _is_model_proto(model):
    try:
        import onnx  # noqa: PLC0415 - only needed for ModelProto input
    except ImportError:
        return False
    return isinstance(model, onnx.ModelProto)


def _all_tensors(graph):
    """Initializers and attribute tensors of `graph` and its subgraphs."""
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _all_tensors(attr.g)
            for sub in attr.graphs:
                yield from _all_tensors(sub)


def _write_model_proto(model, folder, base_dir):
    """Saves a ModelProto as `folder/model.onnx`. Tensors whose data still lives
    in external files are loaded from `base_dir` first; big models are written
    with their weights as external data beside the file (the 2 GiB protobuf limit)."""
    import onnx  # noqa: PLC0415
    from onnx import external_data_helper  # noqa: PLC0415

    external = [t.name for t in _all_tensors(model.graph)
                if external_data_helper.uses_external_data(t)]
    if external:
        if base_dir is None:
            raise CompileError(
                f"the ModelProto references external data for {len(external)} tensor(s) "
                f"(first: '{external[0]}') that is not loaded; pass base_dir= (the folder of "
                "the original model), load it with onnx.load(path) (which loads external "
                "data), or pass the model's path instead")
        model_copy = onnx.ModelProto()
        model_copy.CopyFrom(model)
        external_data_helper.load_external_data_for_model(model_copy, os.fspath(base_dir))
        model = model_copy
    path = os.path.join(folder, "model.onnx")
    big = model.ByteSize() > (1 << 30)
    onnx.save_model(model, path, save_as_external_data=big, all_tensors_to_one_file=True,
                    location="model.weights" if big else None)
    return path


def _check_static_inputs(model_path, input_shapes, bound):
    """Fails early, naming the input and dimension, when a graph input has a
    dynamic dimension that `input_shapes` does not fix."""
    try:
        import onnx  # noqa: PLC0415
        model = onnx.load(model_path, load_external_data=False)
    except Exception:  # noqa: BLE001 - the compiler reports unreadable models itself
        return
    initializers = {t.name for t in model.graph.initializer}
    for vi in model.graph.input:
        if vi.name in initializers or vi.name in bound or vi.name in input_shapes:
            continue
        if not vi.type.HasField("tensor_type"):
            continue
        for i, d in enumerate(vi.type.tensor_type.shape.dim):
            if not d.HasField("dim_value") or d.dim_value <= 0:
                label = f"'{d.dim_param}'" if d.dim_param else "unknown"
                raise CompileError(
                    f"input '{vi.name}' has a dynamic dimension {i} ({label}); pmc compiles "
                    f"static shapes: pass input_shapes={{'{vi.name}': (...)}}")


def _normalize_shapes(input_shapes):
    shapes = {}
    for name, shape in (input_shapes or {}).items():
        try:
            dims = tuple(int(d) for d in shape)
        except (TypeError, ValueError):
            raise ValueError(f"input_shapes['{name}'] must be a sequence of integers, "
                             f"got {shape!r}") from None
        if any(d <= 0 for d in dims):
            raise ValueError(f"input_shapes['{name}'] = {dims}: dimensions must be positive")
        shapes[name] = dims
    return shapes


def _random_feeds(specs, seed=0):
    """Random inputs for --verify: standard normal floats; 0/1 integers and
    bools (valid indices of any gather table with two rows or more)."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in specs:
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            feeds[spec.name] = rng.standard_normal(spec.shape).astype(dtype)
        else:
            feeds[spec.name] = rng.integers(0, 2, size=spec.shape).astype(dtype)
    return feeds


def verify_against_one_device(exe, reference, tolerance=1e-4):
    """Runs `exe` (N devices) and `reference` (1 device) on the same random
    inputs; returns {"outputs": {name: {"max_abs": .., "max_rel": ..}},
    "max_abs": .., "max_rel": .., "ok": bool}, ok meaning every element has
    |a - b| <= tolerance * (1 + |b|)."""
    feeds = _random_feeds(reference.inputs)
    got, want = exe.run_dict(feeds), reference.run_dict(feeds)
    report = {"outputs": {}, "max_abs": 0.0, "max_rel": 0.0, "ok": True,
              "tolerance": tolerance, "devices": exe.plan_dict["devices"]}
    for name, b in want.items():
        a = got[name]
        if a.shape != b.shape:
            report["ok"] = False
            report["outputs"][name] = {"error": f"shape {a.shape} vs {b.shape}"}
            continue
        a64, b64 = a.astype(np.float64), b.astype(np.float64)
        # NaN where the reference has NaN (sqrt of a random negative) is equal.
        both_nan = np.isnan(a64) & np.isnan(b64)
        a64, b64 = np.where(both_nan, 0.0, a64), np.where(both_nan, 0.0, b64)
        diff = np.abs(a64 - b64)
        max_abs = float(diff.max()) if diff.size else 0.0
        big = np.abs(b64) > 1e-6
        max_rel = float((diff[big] / np.abs(b64[big])).max()) if big.any() else 0.0
        ok = bool(np.all(diff <= tolerance * (1 + np.abs(b64))))
        report["outputs"][name] = {"max_abs": max_abs, "max_rel": max_rel, "ok": ok}
        report["max_abs"] = max(report["max_abs"], max_abs)
        report["max_rel"] = max(report["max_rel"], max_rel)
        report["ok"] &= ok
    return report


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _check_str(name: str, value) -> str:
    """Strings are checked for their type here; for their value by the
    compiler, which knows the choices (CompileError naming the option)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {value!r}")
    return value


def _bound_values(bind) -> dict:
    """{input name: numpy array} of `bind` (arrays, array-likes or .npy paths)."""
    values = {}
    for name, value in (bind or {}).items():
        if isinstance(value, (str, os.PathLike)):
            try:
                value = np.load(os.fspath(value), allow_pickle=False)
            except (OSError, ValueError) as e:
                raise CompileError(f"bind['{name}']: cannot read {os.fspath(value)}: {e}") from e
        values[name] = as_numpy(value, f"bind['{name}']")
    return values


def _model_file(model: ModelLike, folder: str, base_dir) -> str:
    """The path of `model` on disk (a ModelProto is written into `folder`)."""
    if _is_model_proto(model):
        return _write_model_proto(model, folder, base_dir)
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError("model must be a path or an onnx.ModelProto, got "
                        f"{type(model).__name__}")
    path = os.fspath(model)
    if not os.path.isfile(path):
        raise CompileError(f"{path}: no such model file")
    return path


def compile(  # noqa: A001, PLR0913 - the compiler's options, each documented below
        model: ModelLike,
        devices: int = 1,
        *,
        target: str = "cpu",
        input_shapes: Optional[Mapping[str, Sequence[int]]] = None,
        mesh: Optional[MeshLike] = None,
        shardings: Optional[ShardingsLike] = None,
        plan: str = "auto",
        device_spec: Union[str, os.PathLike, None] = None,
        dtype: str = "fp32",
        stages: int = 0,
        microbatches: int = 1,
        schedule: str = "1f1b",
        bind: Optional[Mapping[str, object]] = None,
        base_dir: Union[str, os.PathLike, None] = None,
        cpu: str = "host",
        sequence_lengths: Optional[Mapping[str, int]] = None,
        absent: Optional[Sequence[str]] = None,
        verify: bool = False) -> Executable:
    """Compiles an ONNX model (a path or an `onnx.ModelProto`) into an Executable.

        exe = pmc.compile("mlp.onnx", devices=4, mesh={"dp": 2, "tp": 2},
                          shardings={"fc1_w_0": (None, "tp"), "x": ("dp",)}, verify=True)
        print(exe.plan)            # mesh, plan source, collectives per rank
        exe.verify_report          # {"max_abs": ..., "max_rel": ..., "ok": True, ...}

    Args:
      model: path of a `.onnx` file (or a `.mlir` file in the pmc dialect), or
        an `onnx.ModelProto`.
      devices: number of devices to plan for. Above 1 without mesh/shardings
        the planner chooses the mesh and shardings (see `pmc.plan`).
      target: "cpu" or "cuda" (PTX kernels and cuBLASLt/cuDNN calls).
      input_shapes: {input name: shape} for inputs with dynamic dimensions.
      mesh: {axis name: size} in order (product = devices), e.g. {"dp": 2, "tp": 2}.
      shardings: {graph input or initializer name: per-dimension None
        (replicated), an axis name, or a tuple of axis names}; needs mesh.
      plan: without mesh/shardings: "auto" (the planner, default), "default"
        (data parallel over the batch) or "random[:SEED]" (a random legal
        plan, for differential tests).
      device_spec: the spec the planner scores with: "h100-sxm", "h100-pcie",
        "h200", "a100", "cpu" or a spec JSON path (default: cpu for target cpu,
        h100-sxm for cuda).
      dtype: "fp32" (default), "bf16" or "fp16": weights and compute in that
        type; reductions, softmax and LayerNorm statistics stay fp32; feeds
        and results stay float32 (docs/user-guide.md, "Reduced precision").
      stages: a hand-made pipeline of K >= 2 stages cut evenly by estimated
        FLOPs (the mesh gets pp=K first; without mesh it is pp=K, dp=devices/K),
        e.g. pmc.compile(m, devices=4, stages=2, microbatches=4, schedule="gpipe").
      microbatches: the batch is split into M microbatches (needs stages).
      schedule: "1f1b" (default) or "gpipe", the pipeline schedule.
      bind: {input name: array (numpy, torch, anything with __dlpack__ or
        __array__) or .npy path}: specializes those inputs to constants (they
        leave the executable's inputs), e.g. a Reshape's shape.
      base_dir: for a ModelProto whose external data is not loaded, the folder
        its data files are relative to.
      cpu: the LLVM CPU the CPU kernels are generated for: "host" (default,
        this machine's CPU and every extension it has) or a name such as
        "x86-64-v2" or "skylake-avx512"; an executable run on a CPU without
        one of the extensions it uses raises RuntimeError when it is opened.
      sequence_lengths: {sequence input name: length N}: the sequence's
        elements are the inputs "name[0]" ... "name[N-1]" (their shapes from the
        model or from input_shapes["name[i]"]); sequence outputs come back as
        "name[i]" too.
      absent: names of optional graph inputs given no value.
      verify: also compile for one device, run both on random inputs and raise
        CompileError when they differ by more than 1e-4 * (1 + |reference|).

    Raises CompileError with the compiler's diagnostics when the model is
    rejected, TypeError/ValueError naming a bad option.
    """
    _check_int("devices", devices, 1)
    _check_int("stages", stages, 0)
    _check_int("microbatches", microbatches, 1)
    for name, value in (("target", target), ("plan", plan), ("dtype", dtype),
                        ("schedule", schedule), ("cpu", cpu)):
        _check_str(name, value)
    if not isinstance(verify, bool):
        raise TypeError(f"verify must be a bool, got {verify!r}")
    shapes = _normalize_shapes(input_shapes)
    bound = _bound_values(bind)
    sequences = dict(sequence_lengths=dict(sequence_lengths or {}),
                     absent=list(absent or ()))
    options = dict(target=target, input_shapes=shapes, bind=bound, mesh=mesh,
                   shardings=shardings, plan=plan, device_spec=device_spec, dtype=dtype,
                   stages=stages, microbatches=microbatches, schedule=schedule, cpu=cpu,
                   **sequences)
    temp_dir = tempfile.mkdtemp(prefix="pmc-")
    try:
        model_path = _model_file(model, temp_dir, base_dir)
        _check_static_inputs(model_path, shapes, bound)
        bundle_path = os.path.join(temp_dir, "model.pmc")
        compile_bundle(model_path, bundle_path, make_options(devices=devices, **options))
        exe = Executable(bundle_path, _temp_dir=temp_dir)
        if verify:
            if devices == 1 and not mesh:
                raise ValueError("verify=True compares a multi-device executable with "
                                 "one device; pass devices=N (N > 1)")
            reference_path = os.path.join(temp_dir, "reference.pmc")
            compile_bundle(model_path, reference_path,
                           make_options(target=target, input_shapes=shapes, bind=bound,
                                        dtype=dtype, **sequences))
            report = verify_against_one_device(exe, Executable(reference_path))
            exe.verify_report = report
            if not report["ok"]:
                raise CompileError(
                    f"verify: the {devices}-device executable differs from the 1-device one "
                    f"(max abs diff {report['max_abs']:.3g}, max rel diff "
                    f"{report['max_rel']:.3g}, tolerance {report['tolerance']}): "
                    f"{report['outputs']}")
        return exe
    except BaseException:
        import shutil  # noqa: PLC0415
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise


def plan(model: ModelLike, devices: int, *, target: str = "cpu",
         input_shapes: Optional[Mapping[str, Sequence[int]]] = None,
         device_spec: Union[str, os.PathLike, None] = None,
         base_dir: Union[str, os.PathLike, None] = None) -> dict:
    """Runs only the planner and returns its plan as a dict.

        p = pmc.plan("gpt.onnx", devices=8, device_spec="h100-sxm")
        p["mesh"]                                # {"dp": 4, "tp": 2}
        p["predicted"]["step_time_s"], p["predicted"]["memory_per_device_bytes"]
        [(a["name"], a["reason"]) for a in p["alternatives"]]

    Keys: devices, device_spec, mesh (axis -> size), stages (1), microbatches
    (1), schedule ("none"), predicted {step_time_s, compute_s, comm_s,
    memory_per_device_bytes (per rank), weight_bytes, activation_bytes},
    shardings {inputs, weights: {name: per-dimension axis lists}},
    alternatives [{name, mesh, step_time_s, compute_s, comm_s,
    memory_per_device_bytes, fits, chosen, reason}], search {method,
    evaluations}. Weight bytes are never read (shapes only).
    Raises CompileError when no plan fits the device memory.
    """
    import json  # noqa: PLC0415
    _check_int("devices", devices, 1)
    _check_str("target", target)
    temp_dir = tempfile.mkdtemp(prefix="pmc-plan-")
    try:
        model_path = _model_file(model, temp_dir, base_dir)
        options = make_options(devices=devices, target=target,
                               input_shapes=_normalize_shapes(input_shapes),
                               device_spec=device_spec)
        return json.loads(plan_model(model_path, options))
    finally:
        import shutil  # noqa: PLC0415
        shutil.rmtree(temp_dir, ignore_errors=True)


def load(path: Union[str, os.PathLike], rank: int = 0, *, virtual_ranks: bool = False,
         device: Optional[int] = None, cuda_graphs: bool = True) -> Executable:
    """Opens a bundle written by `Executable.save` or `pmc-opt compile -o`.

    A `target: cuda` bundle (docs/design/cuda-runtime.md) runs rank r on GPU
    `device + r` (`device` None: 0); `virtual_ranks=True` runs every rank as a
    thread on GPU `device`; `cuda_graphs=False` never captures CUDA graphs.
    The options are ignored by cpu bundles:

        exe = pmc.load("model.pmc", virtual_ranks=True, device=0)

    Raises RuntimeError with the runtime's message when the bundle is damaged
    or cannot run here ("this bundle targets CUDA; no CUDA driver was found")."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such bundle file")
    return Executable(path, rank=rank, virtual_ranks=virtual_ranks, device=device,
                      cuda_graphs=cuda_graphs)


def import_model(model: Union[str, os.PathLike],
                 input_shapes: Optional[Mapping[str, Sequence[int]]] = None) -> str:
    """Returns the model (a path) imported into the pmc dialect, as MLIR text."""
    options = make_options(input_shapes=_normalize_shapes(input_shapes))
    return _import_model_file(os.fspath(model), options)
