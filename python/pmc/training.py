"""Training: an ONNX forward model, a loss and an optimizer compiled into one
train step (forward, loss, backward, gradient synchronisation and update in
one pmc program, planned and partitioned like any other).

    trainer = pmc.compile_training(
        "mlp.onnx", loss=pmc.CrossEntropyLoss(logits="logits", labels="labels"),
        optimizer=pmc.AdamW(lr=3e-4, weight_decay=0.1), devices=4)
    for x, y in batches:
        print(trainer.step({"x": x, "labels": y})["loss"])
    trainer.parameters()                 # {name: np.ndarray}, full values
    trainer.export_onnx("trained.onnx")  # the forward model, trained weights

Losses and optimizers follow PyTorch's functions of the same names and
defaults (torch.nn.CrossEntropyLoss, torch.optim.AdamW, ...). The compiler
side: --pmc-train-step (lib/Dialect/PMC/Transforms/TrainStep.cpp) and the
gradient rules of lib/Dialect/PMC/IR/Gradients.cpp.

The parameters are the model's float initializers with more than one element
and finite values (weights and biases; not masks or fill values), less
BatchNormalization's running statistics and `frozen`. This version keeps them, and the optimizer state, on the host and
feeds them to every step.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ._compiler_glue import CompileError, compile_bundle, make_options, plan_model
from .executable import Executable

LossLike = Union["CrossEntropyLoss", "MSELoss", "L1Loss", "BCEWithLogitsLoss", str]
LearningRate = Union[float, Callable[[int], float]]


# --- Losses -------------------------------------------------------------------

_REDUCTIONS = ("mean", "sum")


def _check_reduction(reduction):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


@dataclass(frozen=True)
class CrossEntropyLoss:
    """torch.nn.CrossEntropyLoss on logits whose last dim is the classes:
    the loss of logits.reshape(-1, C) against labels.reshape(-1) (int64
    class indices; `ignore_index` entries count for nothing)."""
    logits: str
    labels: str = "labels"
    ignore_index: int = -100
    reduction: str = "mean"
    label_smoothing: float = 0.0


@dataclass(frozen=True)
class MSELoss:
    """torch.nn.MSELoss: mean (or sum) of (output - target)^2."""
    output: str
    target: str = "target"
    reduction: str = "mean"


@dataclass(frozen=True)
class L1Loss:
    """torch.nn.L1Loss: mean (or sum) of |output - target|."""
    output: str
    target: str = "target"
    reduction: str = "mean"


@dataclass(frozen=True)
class BCEWithLogitsLoss:
    """torch.nn.BCEWithLogitsLoss: binary cross-entropy of sigmoid(output)
    against targets in [0, 1], computed stably from the logits."""
    output: str
    target: str = "target"
    reduction: str = "mean"


# --- Optimizers ----------------------------------------------------------------

@dataclass(frozen=True)
class SGD:
    """torch.optim.SGD."""
    lr: LearningRate
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0

    def _settings(self):
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        return dict(optimizer="sgd", momentum=self.momentum, dampening=self.dampening,
                    nesterov=self.nesterov, weight_decay=self.weight_decay)

    def _states(self):
        return ["momentum_buffer"] if self.momentum != 0 else []


@dataclass(frozen=True)
class AdamW:
    """torch.optim.AdamW (decoupled weight decay)."""
    lr: LearningRate = 1e-3
    betas: Tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 1e-2
    _kind = "adamw"

    def _settings(self):
        return dict(optimizer=self._kind, beta1=self.betas[0], beta2=self.betas[1],
                    eps=self.eps, weight_decay=self.weight_decay)

    def _states(self):
        return ["exp_avg", "exp_avg_sq"]


@dataclass(frozen=True)
class Adam(AdamW):
    """torch.optim.Adam (weight decay as an L2 term of the gradient)."""
    weight_decay: float = 0.0
    _kind = "adam"


class schedules:  # noqa: N801 - a namespace, as pmc.schedules.WarmupCosine
    """Learning-rate schedules: callables of the step number (from 1)."""

    @dataclass(frozen=True)
    class Constant:
        lr: float

        def __call__(self, step: int) -> float:
            return self.lr

    @dataclass(frozen=True)
    class WarmupCosine:
        """Linear warm-up from 0 to `lr` over `warmup_steps`, then a cosine
        decay to `min_lr` at `total_steps` (and `min_lr` after)."""
        lr: float
        warmup_steps: int
        total_steps: int
        min_lr: float = 0.0

        def __call__(self, step: int) -> float:
            if step <= self.warmup_steps:
                return self.lr * step / max(1, self.warmup_steps)
            span = max(1, self.total_steps - self.warmup_steps)
            progress = min(1.0, (step - self.warmup_steps) / span)
            return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * progress))


# --- The training graph -----------------------------------------------------------

def _value_info(graph, name):
    for vi in list(graph.output) + list(graph.value_info) + list(graph.input):
        if vi.name == name:
            return vi
    return None


def _loss_spec(loss):
    """(the compiler's loss spec, the inputs the loss adds) of `loss`; the
    loss itself is built by the compiler (lib/Import/ONNX/TrainingLoss.cpp)."""
    if isinstance(loss, str):
        if not loss.startswith("output:") or not loss[len("output:"):]:
            raise ValueError(f"loss must be a loss object or 'output:NAME', got {loss!r}")
        return loss, []
    if isinstance(loss, CrossEntropyLoss):
        _check_reduction(loss.reduction)
        if not 0.0 <= loss.label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1], got {loss.label_smoothing!r}")
        return (f"cross_entropy:{loss.logits},{loss.labels},reduction={loss.reduction},"
                f"ignore_index={int(loss.ignore_index)},"
                f"label_smoothing={float(loss.label_smoothing)!r}"), [loss.labels]
    kinds = {MSELoss: "mse", L1Loss: "l1", BCEWithLogitsLoss: "bce_with_logits"}
    if type(loss) in kinds:
        _check_reduction(loss.reduction)
        return (f"{kinds[type(loss)]}:{loss.output},{loss.target},"
                f"reduction={loss.reduction}"), [loss.target]
    raise TypeError(f"loss must be a pmc loss (CrossEntropyLoss, MSELoss, L1Loss, "
                    f"BCEWithLogitsLoss) or 'output:NAME', got {type(loss).__name__}")


def _check_frozen(model, frozen):
    names = {t.name for t in model.graph.initializer}
    unknown = sorted(set(frozen) - names)
    if unknown:
        raise ValueError(f"frozen names {unknown} are not initializers of the model")


def _state_inputs(bundle_path, kind):
    """The state inputs of `kind` ("parameter": those the compiler chose to
    train; "buffer": BatchNormalization's running statistics), in the
    bundle's input order."""
    from .bundle import BundleInfo  # noqa: PLC0415

    manifest = BundleInfo.read(bundle_path).manifest
    return [e["name"] for e in manifest["inputs"] if e.get("state") == kind]


# --- The trainer ---------------------------------------------------------------------

class Trainer:
    """A compiled train step and the state it updates (parameters, optimizer
    moments, step count)."""

    def __init__(self, exe, model, parameters, optimizer, extra_inputs, loss=None, classes=0,
                 settings=None):
        self._settings = settings or {}
        self._loss = loss
        self._classes = classes
        self._exe = exe
        self._model = model
        self._optimizer = optimizer
        # Parameters and optimizer state live on the ranks (Executable.set_state):
        # each keeps its shard across steps; none goes through the host per step.
        self._param_names = list(parameters)
        # The loss scaler's state (pmc.loss_scale, ...) is no model buffer:
        # it counts with the optimizer's state (in checkpoints too).
        self._buffer_names = [n for n in _state_inputs(exe.path, "buffer")
                              if not n.startswith("pmc.")]
        self._state_names = [n for n in exe.state_names
                             if n not in parameters and n not in self._buffer_names]
        for name, value in parameters.items():
            exe.set_state(name, value)
        self._step = 0
        self.extra_inputs = extra_inputs

    @property
    def plan(self) -> str:
        return self._exe.plan

    @property
    def step_count(self) -> int:
        return self._step

    @property
    def loss_scale(self) -> Optional[float]:
        """The current dynamic loss scale (fp16 training), or None without
        loss scaling."""
        if "pmc.loss_scale" not in self._state_names:
            return None
        return float(self._exe.get_state("pmc.loss_scale"))

    def learning_rate(self, step: int) -> float:
        lr = self._optimizer.lr
        return float(lr(step) if callable(lr) else lr)

    def step(self, feeds: Mapping[str, object]) -> dict:
        """One optimizer step on the batch `feeds` (the model's inputs and the
        loss's labels/targets); returns {"loss": float}. With loss scaling
        also "skipped": True when the gradients held inf or NaN, so that
        nothing changed but the scale (torch.amp.GradScaler); the step count
        then stays, as torch.optim's does when GradScaler skips step()."""
        t = self._step + 1
        inputs = dict(feeds)
        if isinstance(self._loss, CrossEntropyLoss) and self._loss.labels in inputs:
            labels = np.asarray(inputs[self._loss.labels])
            bad = (labels != self._loss.ignore_index) & ((labels < 0) | (labels >= self._classes))
            if bad.any():
                where = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ValueError(
                    f"labels '{self._loss.labels}' hold {labels[where]} at {list(where)}: "
                    f"outside [0, {self._classes}) and not ignore_index "
                    f"({self._loss.ignore_index})")
        provided = self._param_names + self._buffer_names + self._state_names
        for name in provided + ["pmc.lr", "pmc.step"]:
            if name in inputs:
                raise ValueError(f"feeds name '{name}', which the trainer provides")
        inputs["pmc.lr"] = np.array(self.learning_rate(t), np.float32)
        inputs["pmc.step"] = np.array(t, np.float32)
        out = self._exe.run_dict(inputs)
        loss = float(np.asarray(out.pop(next(iter(out)))))
        if "pmc.found_inf" not in out:
            self._step = t
            return {"loss": loss}
        skipped = bool(np.asarray(out["pmc.found_inf"]) != 0)
        if not skipped:
            self._step = t
        return {"loss": loss, "skipped": skipped}

    def parameters(self) -> dict:
        """{name: array}: the full (unsharded) values of the parameters,
        gathered from the ranks."""
        return {k: self._exe.get_state(k) for k in self._param_names}

    def buffers(self) -> dict:
        """{name: array}: the state the step updates without training it
        (BatchNormalization's running mean and variance)."""
        return {k: self._exe.get_state(k) for k in self._buffer_names}

    def optimizer_state(self) -> dict:
        """{"<parameter>.<state>": array}: the optimizer's full state (and,
        with loss scaling, pmc.loss_scale and pmc.loss_scale_growth_tracker)."""
        return {k: self._exe.get_state(k) for k in self._state_names}

    def _restore(self, parameters: Mapping[str, np.ndarray], states: Mapping[str, np.ndarray],
                 step: int, buffers: Optional[Mapping[str, np.ndarray]] = None) -> None:
        for name, value in {**parameters, **(buffers or {}), **states}.items():
            self._exe.set_state(name, value)
        self._step = step

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Writes a checkpoint: the forward model, the parameters, the optimizer
        state and step, the loss and optimizer, each array checksummed
        (pmc.load_training reads it, at any device count)."""
        _checkpoint.save(self, os.fspath(path))

    def export_onnx(self, path: Union[str, os.PathLike]) -> None:
        """Writes the forward model with the trained parameters."""
        import onnx  # noqa: PLC0415
        from onnx import numpy_helper  # noqa: PLC0415

        model = onnx.ModelProto()
        model.CopyFrom(self._model)
        params = {**self.parameters(), **self.buffers()}
        for t in model.graph.initializer:
            if t.name in params:
                t.CopyFrom(numpy_helper.from_array(
                    params[t.name].astype(numpy_helper.to_array(t).dtype), t.name))
        onnx.save(model, os.fspath(path))


def _load_forward(model, external_data=True):
    import onnx  # noqa: PLC0415

    if isinstance(model, (str, os.PathLike)):
        return onnx.load(os.fspath(model), load_external_data=external_data)
    if isinstance(model, onnx.ModelProto):
        forward = onnx.ModelProto()
        forward.CopyFrom(model)
        return forward
    raise TypeError(f"model must be a path or an onnx.ModelProto, got {type(model).__name__}")


def _training_options(forward, loss, optimizer, temp_dir, *, devices, target, input_shapes,
                      mesh, shardings, plan, device_spec, frozen, grad_clip, dtype, zero, cpu,
                      loss_scale=None, loss_scale_growth_interval=2000, bucket_mb=0,
                      stages=0):
    """(path of the forward model, the inputs the loss adds, the compile
    options of its train step)."""
    import onnx  # noqa: PLC0415

    from . import _check_int, _normalize_shapes  # noqa: PLC0415

    _check_int("devices", devices, 1)
    if not isinstance(optimizer, (SGD, AdamW)):
        raise TypeError("optimizer must be pmc.SGD, pmc.Adam or pmc.AdamW, got "
                        f"{type(optimizer).__name__}")
    if dtype not in ("fp32", "bf16", "fp16"):
        raise ValueError(f"dtype must be 'fp32', 'bf16' or 'fp16', got {dtype!r}")
    if loss_scale is not None and not (isinstance(loss_scale, (int, float)) and
                                       np.isfinite(loss_scale) and loss_scale >= 0):
        raise ValueError(f"loss_scale must be a number >= 0 (0: no loss scaling), got "
                         f"{loss_scale!r}")
    _check_int("loss_scale_growth_interval", loss_scale_growth_interval, 1)
    if grad_clip is not None and not grad_clip > 0:
        raise ValueError(f"grad_clip must be positive, got {grad_clip!r}")
    if isinstance(bucket_mb, bool) or not (isinstance(bucket_mb, (int, float)) and
                                           np.isfinite(bucket_mb) and bucket_mb >= 0):
        raise ValueError(f"bucket_mb must be a number >= 0 (0: no buckets), got {bucket_mb!r}")
    if zero is not None and zero not in (0, 1, 2, 3):
        raise ValueError(f"zero must be 0, 1, 2 or 3 (or None: the planner picks), got {zero!r}")
    _check_frozen(forward, frozen)
    spec, extra = _loss_spec(loss)
    path = os.path.join(temp_dir, "forward.onnx")
    onnx.save(forward, path)
    options = make_options(devices=devices, target=target,
                           input_shapes=_normalize_shapes(input_shapes), mesh=mesh,
                           shardings=shardings, plan=plan, device_spec=device_spec, cpu=cpu,
                           dtype=dtype, stages=stages)
    options.bucket_bytes = int(bucket_mb * (1 << 20))
    options.loss = spec
    options.train_initializers = True
    options.frozen = set(frozen)
    options.set_train(**optimizer._settings(), grad_clip=float(grad_clip or 0.0),
                      zero=-1 if zero is None else int(zero),
                      loss_scale=-1.0 if loss_scale is None else float(loss_scale),
                      loss_scale_growth_interval=int(loss_scale_growth_interval))
    return path, extra, options


def compile_training(model, loss: LossLike, optimizer, devices: int = 1, *,
                     target: str = "cpu", input_shapes=None, mesh=None, shardings=None,
                     plan: str = "auto", device_spec=None, frozen: Sequence[str] = (),
                     grad_clip: Optional[float] = None, dtype: str = "fp32",
                     zero: Optional[int] = None, cpu: str = "host",
                     loss_scale: Optional[float] = None,
                     loss_scale_growth_interval: int = 2000,
                     bucket_mb: float = 0, stages: int = 0) -> Trainer:
    """Compiles the train step of `model` (a path or an onnx.ModelProto) with
    `loss` and `optimizer` for `devices` devices; returns a Trainer. The
    parameters are the float initializers of more than one element, less
    BatchNormalization's running statistics and `frozen`.
    `grad_clip`: clip the gradients to this global L2 norm before the update
    (torch.nn.utils.clip_grad_norm_). `dtype="bf16"`: forward and backward in
    bfloat16 (reductions, softmax and LayerNorm statistics in f32, as
    pmc.compile's), gradient sums, master weights, optimizer state and update
    in float32. `zero=0|1|2|3`: the ZeRO stage of a plan with data parallelism
    (1: optimizer state split over dp, 2: and gradients, reduce-scattered, 3:
    and parameters, gathered before use); None lets the planner pick it (with
    `mesh=`: stage 0). `dtype="fp16"`: as bf16 in float16, with dynamic loss
    scaling (torch.amp.GradScaler: from `loss_scale`, default 2**16; a step
    with inf/NaN gradients changes nothing but halves the scale, and
    `loss_scale_growth_interval` finite steps double it); `loss_scale=0`
    turns it off, a number turns it on in any dtype. Every gradient
    all-reduce starts as soon as its gradient is ready and runs beside the rest
    of the backward pass; `bucket_mb` > 0 also combines them into buckets of
    at most that many MiB (PyTorch DDP's bucket_cap_mb: fewer, larger
    collectives, for a bucket's two copies in memory); 0 (the default) keeps
    one all-reduce per gradient. `stages=K` (K >= 2 dividing `devices`): a
    pipeline of K stages, the forward cut evenly by FLOPs, each stage's
    backward and update on its ranks, the rest of the devices data parallel
    over the batch; one microbatch per step for now."""
    from onnx import numpy_helper  # noqa: PLC0415

    forward = _load_forward(model)
    temp_dir = tempfile.mkdtemp(prefix="pmc-train-")
    path, extra, options = _training_options(
        forward, loss, optimizer, temp_dir, devices=devices, target=target,
        input_shapes=input_shapes, mesh=mesh, shardings=shardings, plan=plan,
        device_spec=device_spec, frozen=frozen, grad_clip=grad_clip, dtype=dtype, zero=zero,
        cpu=cpu, loss_scale=loss_scale, loss_scale_growth_interval=loss_scale_growth_interval,
        bucket_mb=bucket_mb, stages=stages)
    bundle = os.path.join(temp_dir, "train.pmc")
    compile_bundle(path, bundle, options)
    exe = Executable(bundle, _temp_dir=temp_dir)
    names = set(_state_inputs(bundle, "parameter"))
    parameters = {t.name: np.array(numpy_helper.to_array(t))
                  for t in forward.graph.initializer if t.name in names}
    classes = 0
    if isinstance(loss, CrossEntropyLoss):
        classes = _value_info(forward.graph, loss.logits).type.tensor_type.shape.dim[-1].dim_value
    settings = dict(devices=devices, target=target, input_shapes=input_shapes, mesh=mesh,
                    plan=plan, frozen=list(frozen), grad_clip=grad_clip, dtype=dtype,
                    zero=zero, cpu=cpu, loss_scale=loss_scale,
                    loss_scale_growth_interval=loss_scale_growth_interval, bucket_mb=bucket_mb,
                    stages=stages)
    return Trainer(exe, forward, parameters, optimizer, extra, loss, classes, settings)


def plan_training(model, loss: LossLike, optimizer, devices: int, *, target: str = "cpu",
                  input_shapes=None, device_spec=None, frozen: Sequence[str] = (),
                  grad_clip: Optional[float] = None, dtype: str = "fp32",
                  zero: Optional[int] = None) -> dict:
    """Runs only the planner on the train step of `model` (as
    compile_training would build it) and returns the plan as pmc.plan does,
    with "zero" and, under "predicted", "weight_bytes" (the parameters'
    shards), "gradient_bytes", "optimizer_state_bytes" and
    "activation_bytes" per device. Reads no weight (external data need not
    exist), so a model far larger than this machine can be planned."""
    import json  # noqa: PLC0415
    import shutil  # noqa: PLC0415

    forward = _load_forward(model, external_data=False)
    temp_dir = tempfile.mkdtemp(prefix="pmc-plan-")
    try:
        path, _, options = _training_options(
            forward, loss, optimizer, temp_dir, devices=devices, target=target,
            input_shapes=input_shapes, mesh=None, shardings=None, plan="auto",
            device_spec=device_spec, frozen=frozen, grad_clip=grad_clip, dtype=dtype,
            zero=zero, cpu="host")
        return json.loads(plan_model(path, options))
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


def load_training(path: Union[str, os.PathLike], devices: Optional[int] = None, *,
                  lr: Optional[LearningRate] = None, model=None, loss: Optional[LossLike] = None,
                  optimizer=None, **options) -> Trainer:
    """Reads a checkpoint written by Trainer.save or `pmc-run --save` and
    compiles its train step again, for `devices` (default: the count it was
    saved at) and `options` (as compile_training's); training continues from
    the saved step. `lr` replaces the learning rate (needed when it was a
    custom callable). `model`, `loss` and `optimizer` replace the
    checkpoint's; a pmc-run checkpoint holds none of them (the bundle it came
    from is not a model), so they are needed for it."""
    return _checkpoint.load(os.fspath(path), devices, lr, options, model=model, loss=loss,
                            optimizer=optimizer)


from . import _checkpoint  # noqa: E402 - it uses the classes above
