"""`pmc.Executable`: a compiled bundle opened by the runtime, run from numpy.

    >>> exe = pmc.load("mlp.pmc")
    >>> exe.inputs
    [TensorSpec(name='x', dtype='float32', shape=(2, 64))]
    >>> y, = exe.run(None, {"x": np.zeros((2, 64), np.float32)})   # as onnxruntime
    >>> y.shape
    (2, 10)
    >>> exe.run_dict({"x": np.zeros((2, 64), np.float32)})["y"].shape
    (2, 10)
"""

from __future__ import annotations

import collections.abc
import os
import shutil
import weakref
from typing import Mapping, NamedTuple, Optional, Sequence

import numpy as np

from .bundle import BundleInfo, BundleFormatError


class TensorSpec(NamedTuple):
    """A graph input or output: name, numpy dtype name and static shape."""
    name: str
    dtype: str
    shape: tuple

    def __str__(self):
        return f"{self.name}: {self.dtype}[{','.join(str(d) for d in self.shape)}]"


def _runtime_module():
    try:
        from . import _runtime  # noqa: PLC0415 - the compiled extension
    except ImportError as e:
        raise ImportError(
            "the pmc runtime extension (pmc/_runtime*.so) is not built or not on "
            f"PYTHONPATH: {e}") from e
    return _runtime


def _cuda_options(virtual_ranks, device, cuda_graphs):
    """Checks the CUDA run options of `Executable`/`pmc.load` (TypeError or
    ValueError naming the option) and returns them."""
    if not isinstance(virtual_ranks, bool):
        raise TypeError(f"virtual_ranks must be a bool, got {virtual_ranks!r}")
    if not isinstance(cuda_graphs, bool):
        raise TypeError(f"cuda_graphs must be a bool, got {cuda_graphs!r}")
    if device is not None:
        if isinstance(device, bool) or not isinstance(device, int):
            raise TypeError(f"device must be a GPU index (int) or None, got {device!r}")
        if device < 0:
            raise ValueError(f"device must be >= 0, got {device}")
    return virtual_ranks, device, cuda_graphs


class Executable:
    """A bundle loaded for one rank. Create with `pmc.compile` or `pmc.load`."""

    def __init__(self, bundle_path, rank=0, _temp_dir=None, *, virtual_ranks=False,
                 device=None, cuda_graphs=True):
        virtual_ranks, device, cuda_graphs = _cuda_options(virtual_ranks, device, cuda_graphs)
        self._path = os.path.abspath(bundle_path)
        self._rank = rank
        self._temp_dir = _temp_dir
        # The temporary folder of a compiled-but-unsaved bundle goes away with us.
        self._finalizer = (weakref.finalize(self, shutil.rmtree, _temp_dir, True)
                           if _temp_dir else None)
        self._session = _runtime_module().Session(
            self._path, rank, virtual_ranks=virtual_ranks,
            device=-1 if device is None else device, cuda_graphs=cuda_graphs)
        self._inputs = [TensorSpec(n, str(d), tuple(int(x) for x in s))
                        for n, d, s in self._session.inputs]
        self._outputs = [TensorSpec(n, str(d), tuple(int(x) for x in s))
                         for n, d, s in self._session.outputs]
        self._plan_dict = None
        #: Set by pmc.compile(..., verify=True): the comparison with one device.
        self.verify_report = None

    # --- Introspection --------------------------------------------------------

    @property
    def path(self):
        """The bundle file this executable runs (a temporary one until saved)."""
        return self._path

    @property
    def inputs(self):
        """The graph inputs, in order, as `TensorSpec(name, dtype, shape)`."""
        return list(self._inputs)

    @property
    def outputs(self):
        """The graph outputs, in order, as `TensorSpec(name, dtype, shape)`."""
        return list(self._outputs)

    @property
    def arena_bytes(self):
        """Bytes of the runtime's temporary arena for this rank."""
        return int(self._session.arena_bytes)

    def memory_use(self, rank=None):
        """Host bytes each rank holds while it runs (all at once): {"arena",
        "state" (its shards of a train step's state), "inputs" (its shards of
        the other inputs), "other" (weights, scratch), "total"} for `rank`, or
        a list over all ranks run here. The number pmc's planner predicts as
        memory per device (plan_dict["predicted"]["memory_per_device_bytes"])."""
        if rank is not None:
            return dict(self._session.memory_use(int(rank)))
        return [dict(self._session.memory_use(r)) for r in range(int(self._session.devices))]

    @property
    def plan_dict(self):
        """The plan as a dict: devices, target, mesh, partitioning, plan_source
        ("user", "auto", "default" or "partitioned input"); for "auto" also
        planner (the plan JSON of pmc.plan), explain, stages, microbatches,
        schedule, predicted and alternatives; plan_text (the user's
        annotations or the default plan's `pmc.plan`), collectives (per-rank
        counts by kind) and per-rank command and buffer counts, read from the bundle."""
        if self._plan_dict is None:
            self._plan_dict = _plan_of_bundle(self._path, self.arena_bytes)
        return self._plan_dict

    @property
    def plan(self):
        """What the compiler chose, as readable text."""
        return _format_plan(self.plan_dict)

    def __repr__(self):
        ins = ", ".join(str(s) for s in self._inputs)
        outs = ", ".join(str(s) for s in self._outputs)
        return f"<pmc.Executable {os.path.basename(self._path)} ({ins}) -> ({outs})>"

    # --- Running --------------------------------------------------------------

    def run(self, output_names: Optional[Sequence[str]],
            input_feed: Optional[Mapping[str, object]] = None, run_options: None = None) -> list:
        """Runs the model as `onnxruntime.InferenceSession.run` does: returns
        the outputs named in `output_names` (None: every output, in graph
        order) as a list of numpy arrays.

            y, = exe.run(None, {"x": x})
            logits, = exe.run(["logits"], feeds)

        `input_feed` maps each input name to an array of the input's dtype and
        shape exactly: a numpy array, or anything exporting DLPack
        (`__dlpack__`: torch CPU tensors, JAX arrays) or `__array__`.
        `run_options` is accepted for onnxruntime compatibility and must be None."""
        if input_feed is None:
            raise TypeError("run(output_names, input_feed) takes the output names first, "
                            "as onnxruntime does: exe.run(None, feeds) returns a list; "
                            "exe.run_dict(feeds) returns {name: array}")
        if run_options is not None:
            raise ValueError("run_options is not supported; pass None")
        results = self._run(input_feed)
        return [results[name] for name in self._output_names(output_names)]

    def run_dict(self, feeds: Mapping[str, object],
                 output_names: Optional[Sequence[str]] = None) -> dict:
        """Runs the model on `feeds` (as `run`) and returns {output name: numpy
        array} in graph output order (only `output_names` when given). The
        updates of a train step's state kept on the ranks (see `set_state`)
        are not returned."""
        results = self._run(feeds)
        names = self._output_names(output_names)
        if output_names is None:
            names = [n for n in names if n in results]
        for name in names:
            if name not in results:
                raise ValueError(f"output '{name}' updates state kept on the ranks; read it "
                                 f"with get_state('{name}')")
        return {name: results[name] for name in names}

    # --- A train step's state ---------------------------------------------------

    @property
    def state_names(self) -> list:
        """The inputs of a train step that the runtime keeps on the ranks
        across runs (parameters and optimizer state): each rank holds its own
        shard; a run reads those not fed from there and writes their updates
        back, without sending them to the host."""
        return list(self._session.state_names)

    def set_state(self, name: str, value) -> None:
        """Sets state input `name` to the full array `value` (each rank keeps
        its shard). Optimizer state starts at zeros."""
        spec = next((s for s in self._inputs if s.name == name), None)
        if spec is None or name not in self._session.state_names:
            raise ValueError(f"'{name}' is no state input; the state inputs are: "
                             f"{', '.join(self._session.state_names) or 'none'}")
        array = as_numpy(value, f"state '{name}'", f"{spec.dtype} with shape {list(spec.shape)}")
        if array.dtype != np.dtype(spec.dtype) or tuple(array.shape) != spec.shape:
            raise ValueError(f"state '{name}': expected {spec.dtype} with shape "
                             f"{list(spec.shape)}, got {array.dtype} {list(array.shape)}")
        self._session.set_state(name, np.require(array, requirements="C"))

    def get_state(self, name: str) -> np.ndarray:
        """The full value of state input `name`, gathered from the ranks."""
        if name not in self._session.state_names:
            raise ValueError(f"'{name}' is no state input; the state inputs are: "
                             f"{', '.join(self._session.state_names) or 'none'}")
        return self._session.get_state(name)

    def _output_names(self, output_names) -> list:
        if output_names is None:
            return [o.name for o in self._outputs]
        if isinstance(output_names, str) or not isinstance(output_names, collections.abc.Iterable):
            raise TypeError("output_names must be a list of output names or None, got "
                            f"{output_names!r}")
        known = {o.name for o in self._outputs}
        names = list(output_names)
        for name in names:
            if name not in known:
                raise ValueError(f"unknown output '{name}'; outputs are: "
                                 f"{', '.join(sorted(known))}")
        return names

    def _run(self, feeds):
        return self._session.run(self._check_feeds(feeds))

    def _check_feeds(self, feeds):
        if not isinstance(feeds, collections.abc.Mapping):
            raise TypeError("feeds must be a dict {input name: array}, got "
                            f"{type(feeds).__name__}")
        expected = {s.name: s for s in self._inputs}
        for name in feeds:
            if name not in expected:
                raise ValueError(f"unknown input '{name}'; the model's inputs are: "
                                 f"{', '.join(str(s) for s in self._inputs)}")
        prepared = {}
        state = set(self._session.state_names)
        for spec in self._inputs:
            if spec.name not in feeds and spec.name in state:
                continue  # kept on the ranks
            if spec.name not in feeds:
                raise ValueError(f"missing input '{spec.name}' (expected {spec.dtype} "
                                 f"with shape {list(spec.shape)})")
            value = as_numpy(feeds[spec.name], f"input '{spec.name}'",
                             f"{spec.dtype} with shape {list(spec.shape)}")
            if spec.dtype == "bfloat16":
                value = _bfloat16_bits(spec.name, value)
            elif value.dtype != np.dtype(spec.dtype):
                raise ValueError(f"input '{spec.name}': expected dtype {spec.dtype}, got "
                                 f"{value.dtype} (convert with .astype(np.{spec.dtype}))")
            if tuple(value.shape) != spec.shape:
                raise ValueError(f"input '{spec.name}': expected shape {list(spec.shape)}, "
                                 f"got {list(value.shape)}")
            # (np.ascontiguousarray would make a 0-d feed 1-d.)
            prepared[spec.name] = np.require(value, requirements="C")
        return prepared

    # --- Saving ---------------------------------------------------------------

    def save(self, path):
        """Writes the bundle to `path`; `pmc.load(path)` reopens it."""
        path = os.fspath(path)
        if os.path.abspath(path) != self._path:
            shutil.copyfile(self._path, path)
        return path


def as_numpy(value, what: str, expected: str = "an array") -> np.ndarray:
    """`value` as a numpy array without copying where possible: numpy arrays
    as they are, DLPack exporters (torch CPU tensors, JAX arrays, CuPy is
    refused as not on the CPU) through `np.from_dlpack`, then anything with
    `__array__`. TypeError naming `what` otherwise."""
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "__dlpack__"):
        try:
            return np.from_dlpack(value)
        except (BufferError, TypeError, RuntimeError, ValueError) as e:
            raise TypeError(f"{what}: cannot read the {type(value).__name__} through DLPack "
                            f"({e}); pass a CPU array of {expected}") from None
    if hasattr(value, "__array__"):
        return np.asarray(value)
    raise TypeError(f"{what}: expected a numpy.ndarray (or a DLPack / __array__ exporter such "
                    f"as a torch tensor) of {expected}, got {type(value).__name__}")


def _bfloat16_bits(name, value):
    """numpy has no bfloat16: a bfloat16 input is fed as uint16 bit patterns, or as
    an `ml_dtypes.bfloat16` array (viewed as its bits)."""
    if value.dtype == np.uint16:
        return value
    if value.dtype.name == "bfloat16" and value.dtype.itemsize == 2:
        return value.view(np.uint16)
    raise ValueError(f"input '{name}': expected bfloat16 as uint16 bit patterns (or an "
                     f"ml_dtypes.bfloat16 array), got {value.dtype}")


def _plan_of_bundle(path, arena_bytes):
    try:
        info = BundleInfo.read(path)
        manifest = info.manifest
    except (OSError, BundleFormatError) as e:
        raise RuntimeError(f"cannot read the plan of {path}: {e}") from e
    ranks = []
    for entry in manifest.get("ranks", []):
        rank = int(entry.get("rank", len(ranks)))
        program = info.program(rank) if info.has_section(f"rank{rank}.program") else {}
        ops = collections.Counter(c.get("op", "?") for c in program.get("commands", []))
        kinds = collections.Counter(b.get("kind", "?") for b in program.get("buffers", []))
        ranks.append({"rank": rank, "commands": sum(ops.values()), "commands_by_op": dict(ops),
                      "buffers": sum(kinds.values()), "buffers_by_kind": dict(kinds)})
    devices = int(manifest.get("devices", 1))
    axes = manifest.get("mesh", {}).get("axes", [])
    collective_ops = set(_runtime_module().collective_commands())
    collectives = {op: n for op, n in (ranks[0]["commands_by_op"] if ranks else {}).items()
                   if op in collective_ops}
    plan = manifest.get("plan") or {}
    planner = plan.get("planner") or {}
    pipeline = manifest.get("pipeline") or {}
    return {
        "planner": planner,
        "explain": plan.get("explain", ""),
        # A hand-made pipeline (stages=, no planner) is in the manifest only.
        "stages": pipeline.get("stages", planner.get("stages", 1)),
        "microbatches": pipeline.get("microbatches", planner.get("microbatches", 1)),
        "schedule": pipeline.get("schedule", planner.get("schedule", "none")),
        "predicted": planner.get("predicted", {}),
        "alternatives": planner.get("alternatives", []),
        "plan_source": plan.get("source", "none" if devices == 1 else "?"),
        "plan_text": plan.get("text", ""),
        "collectives": collectives,
        "devices": devices,
        "target": manifest.get("target", "?"),
        "mesh": axes,
        "partitioning": "none" if devices == 1 and not axes else "mesh",
        "producer": manifest.get("producer", "?"),
        "inputs": manifest.get("inputs", []),
        "outputs": manifest.get("outputs", []),
        "ranks": ranks,
        "arena_bytes": arena_bytes,
        "weight_bytes": sum(s.size for s in info.weight_sections()),
    }


def _count(n, noun):
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _format_plan(plan):
    devices = plan["devices"]
    head = f"{devices} device{'s' if devices != 1 else ''}, target {plan['target']}, "
    if plan["partitioning"] == "none":
        head += "no partitioning"
    else:
        head += "mesh " + ", ".join(f"{a.get('name', '?')}={a.get('size', '?')}"
                                    if isinstance(a, dict) else str(a) for a in plan["mesh"])
    lines = [head]
    if plan["partitioning"] != "none":
        source = plan["plan_source"]
        lines.append(f"plan: {source}" + (f" ({plan['plan_text']})" if plan["plan_text"] else ""))
        counts = ", ".join(f"{n} {op}" for op, n in sorted(plan["collectives"].items()))
        lines.append(f"collectives per rank: {counts or 'none'}")
        if plan.get("explain"):
            lines.append(plan["explain"].rstrip("\n"))
    for r in plan["ranks"]:
        ops = ", ".join(f"{n} {op}" for op, n in sorted(r["commands_by_op"].items()))
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(r["buffers_by_kind"].items()))
        lines.append(f"rank {r['rank']}: {_count(r['commands'], 'command')} ({ops}); "
                     f"{_count(r['buffers'], 'buffer')} ({kinds})")
    lines.append(f"memory: arena {plan['arena_bytes']} bytes, weights {plan['weight_bytes']} bytes")
    for key in ("inputs", "outputs"):
        specs = ", ".join(f"{t['name']}: {t['dtype']}[{','.join(str(d) for d in t['shape'])}]"
                          for t in plan[key])
        lines.append(f"{key}: {specs}")
    return "\n".join(lines)
