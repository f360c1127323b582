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


def _add_loss(model, loss, check=True):
    """`model` with one output, the scalar "loss", and the loss's extra inputs
    (labels, targets). Returns (model, names of the added inputs)."""
    import onnx  # noqa: PLC0415
    from onnx import TensorProto, helper, numpy_helper  # noqa: PLC0415

    g = model.graph
    outputs = {o.name for o in g.output}
    added, nodes, inits = [], [], []

    def node(op, inputs, **attrs):
        out = f"pmc_loss/{op}_{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def const(name, values):
        inits.append(numpy_helper.from_array(np.asarray(values), f"pmc_loss/{name}"))
        return f"pmc_loss/{name}"

    def reduce(x, reduction):
        return node("ReduceMean" if reduction == "mean" else "ReduceSum", [x], keepdims=0)

    def output_info(name):
        if name not in outputs:
            raise CompileError(f"loss: '{name}' is not an output of the model "
                               f"(outputs: {', '.join(sorted(outputs))})")
        vi = _value_info(g, name)
        return vi.type.tensor_type

    if isinstance(loss, str):
        if not loss.startswith("output:"):
            raise ValueError(f"loss must be a loss object or 'output:NAME', got {loss!r}")
        result = loss[len("output:"):]
        t = output_info(result)
    elif isinstance(loss, CrossEntropyLoss):
        _check_reduction(loss.reduction)
        t = output_info(loss.logits)
        dims = list(t.shape.dim)
        if len(dims) < 2 or not dims[-1].HasField("dim_value"):
            raise CompileError(f"loss: logits '{loss.logits}' needs rank >= 2 and a static "
                               "class dimension (the last)")
        classes = dims[-1].dim_value
        labels = helper.make_tensor_value_info(loss.labels, TensorProto.INT64, None)
        for d in dims[:-1]:
            labels.type.tensor_type.shape.dim.add().CopyFrom(d)
        g.input.append(labels)
        added.append(loss.labels)
        flat = node("Reshape", [loss.logits, const("class_shape", np.array([-1, classes], np.int64))])
        targets = node("Reshape", [loss.labels, const("label_shape", np.array([-1], np.int64))])
        if loss.label_smoothing == 0.0:
            result = node("SoftmaxCrossEntropyLoss", [flat, targets], reduction=loss.reduction,
                          ignore_index=loss.ignore_index)
        else:
            # (1 - e) nll + e mean_c(-log p), over the labels not ignored.
            eps = float(loss.label_smoothing)
            logp = node("LogSoftmax", [flat], axis=1)
            nll = node("NegativeLogLikelihoodLoss", [logp, targets], reduction="none",
                       ignore_index=loss.ignore_index)
            # mean over the classes as a product with 1/C (no axes operand,
            # which changed form at opset 18)
            mean = node("MatMul", [logp, const("class_mean",
                                               np.full((classes, 1), 1.0 / classes, np.float32))])
            smooth = node("Neg", [node("Reshape", [mean, const("flat", np.array([-1], np.int64))])])
            kept = node("Cast", [node("Not", [node("Equal", [
                targets, const("ignore", np.array(loss.ignore_index, np.int64))])])],
                        to=t.elem_type)
            mixed = node("Add", [node("Mul", [nll, const("keep", np.array(1 - eps, np.float32))]),
                                 node("Mul", [smooth, const("eps", np.array(eps, np.float32))])])
            total = node("ReduceSum", [node("Mul", [mixed, kept])], keepdims=0)
            result = total if loss.reduction == "sum" else \
                node("Div", [total, node("ReduceSum", [kept], keepdims=0)])
    elif isinstance(loss, (MSELoss, L1Loss, BCEWithLogitsLoss)):
        _check_reduction(loss.reduction)
        t = output_info(loss.output)
        target = helper.make_tensor_value_info(loss.target, t.elem_type, None)
        target.type.tensor_type.shape.CopyFrom(t.shape)
        g.input.append(target)
        added.append(loss.target)
        x, y = loss.output, loss.target
        if isinstance(loss, MSELoss):
            diff = node("Sub", [x, y])
            per = node("Mul", [diff, diff])
        elif isinstance(loss, L1Loss):
            per = node("Abs", [node("Sub", [x, y])])
        else:  # max(x, 0) - x y + log(1 + exp(-|x|))
            per = node("Add", [node("Sub", [node("Relu", [x]), node("Mul", [x, y])]),
                               node("Softplus", [node("Neg", [node("Abs", [x])])])])
        result = reduce(per, loss.reduction)
    else:
        raise TypeError(f"loss must be a pmc loss (CrossEntropyLoss, MSELoss, L1Loss, "
                        f"BCEWithLogitsLoss) or 'output:NAME', got {type(loss).__name__}")
    g.node.extend(nodes)
    g.initializer.extend(inits)
    del g.output[:]
    g.output.append(helper.make_tensor_value_info(result, t.elem_type, []))
    if check:  # (planning: external data that is never read need not exist)
        onnx.checker.check_model(model)
    return model, added


def _default_parameters(model, frozen, values=True):
    """{name: array} of the trainable initializers (`values=False`: {name:
    None}, reading no tensor data, for planning)."""
    from onnx import TensorProto, numpy_helper  # noqa: PLC0415

    floats = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16)
    names = {t.name for t in model.graph.initializer}
    unknown = sorted(set(frozen) - names)
    if unknown:
        raise ValueError(f"frozen names {unknown} are not initializers of the model")
    # BatchNormalization's running mean and variance are buffers, not weights.
    buffers = {n.input[i] for n in model.graph.node if n.op_type == "BatchNormalization"
               for i in (3, 4) if len(n.input) > i}
    params = {}
    for t in model.graph.initializer:
        if t.data_type not in floats or t.name in frozen or t.name in buffers or \
                int(np.prod(t.dims)) < 2:
            continue
        if not values:
            params[t.name] = None
            continue
        value = numpy_helper.to_array(t)
        if not np.isfinite(value).all():
            continue
        params[t.name] = np.array(value)
    return params


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
        self._params = parameters
        self._optimizer = optimizer
        self._states = {f"{p}.{s}": np.zeros_like(v)
                        for p, v in parameters.items() for s in optimizer._states()}
        self._step = 0
        self.extra_inputs = extra_inputs

    @property
    def plan(self) -> str:
        return self._exe.plan

    @property
    def step_count(self) -> int:
        return self._step

    def learning_rate(self, step: int) -> float:
        lr = self._optimizer.lr
        return float(lr(step) if callable(lr) else lr)

    def step(self, feeds: Mapping[str, object]) -> dict:
        """One optimizer step on the batch `feeds` (the model's inputs and the
        loss's labels/targets); returns {"loss": float}."""
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
        for name in list(self._params) + list(self._states) + ["pmc.lr", "pmc.step"]:
            if name in inputs:
                raise ValueError(f"feeds name '{name}', which the trainer provides")
        inputs.update(self._params)
        inputs.update(self._states)
        inputs["pmc.lr"] = np.array(self.learning_rate(t), np.float32)
        inputs["pmc.step"] = np.array(t, np.float32)
        out = self._exe.run_dict(inputs)
        loss = float(np.asarray(out.pop(next(iter(out)))))
        for name in self._params:
            self._params[name] = out[name]
        for name in self._states:
            self._states[name] = out[name]
        self._step = t
        return {"loss": loss}

    def parameters(self) -> dict:
        """{name: array}: the full (unsharded) values of the parameters."""
        return {k: np.array(v) for k, v in self._params.items()}

    def optimizer_state(self) -> dict:
        return {k: np.array(v) for k, v in self._states.items()}

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
        for t in model.graph.initializer:
            if t.name in self._params:
                t.CopyFrom(numpy_helper.from_array(
                    self._params[t.name].astype(numpy_helper.to_array(t).dtype), t.name))
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


def _training_options(forward, parameters, loss, optimizer, temp_dir, *, devices, target,
                      input_shapes, mesh, shardings, plan, device_spec, grad_clip, dtype,
                      zero, cpu, check=True):
    """(path of the ONNX model with the loss, its extra inputs, the compile
    options of its train step)."""
    import onnx  # noqa: PLC0415

    from . import _check_int, _normalize_shapes  # noqa: PLC0415

    _check_int("devices", devices, 1)
    if not isinstance(optimizer, (SGD, AdamW)):
        raise TypeError("optimizer must be pmc.SGD, pmc.Adam or pmc.AdamW, got "
                        f"{type(optimizer).__name__}")
    if not parameters:
        raise CompileError("the model has no float initializer to train")
    if dtype not in ("fp32", "bf16"):
        raise ValueError(f"dtype must be 'fp32' or 'bf16', got {dtype!r} (fp16 training "
                         "needs loss scaling, which pmc does not implement yet)")
    if grad_clip is not None and not grad_clip > 0:
        raise ValueError(f"grad_clip must be positive, got {grad_clip!r}")
    if zero is not None and zero not in (0, 1, 2, 3):
        raise ValueError(f"zero must be 0, 1, 2 or 3 (or None: the planner picks), got {zero!r}")
    training = onnx.ModelProto()
    training.CopyFrom(forward)
    training, extra = _add_loss(training, loss, check)
    path = os.path.join(temp_dir, "train.onnx")
    onnx.save(training, path)
    options = make_options(devices=devices, target=target,
                           input_shapes=_normalize_shapes(input_shapes), mesh=mesh,
                           shardings=shardings, plan=plan, device_spec=device_spec, cpu=cpu,
                           dtype=dtype)
    options.parameters = set(parameters)
    options.set_train(**optimizer._settings(), grad_clip=float(grad_clip or 0.0),
                      zero=-1 if zero is None else int(zero))
    return path, extra, options


def compile_training(model, loss: LossLike, optimizer, devices: int = 1, *,
                     target: str = "cpu", input_shapes=None, mesh=None, shardings=None,
                     plan: str = "auto", device_spec=None, frozen: Sequence[str] = (),
                     grad_clip: Optional[float] = None, dtype: str = "fp32",
                     zero: Optional[int] = None, cpu: str = "host") -> Trainer:
    """Compiles the train step of `model` (a path or an onnx.ModelProto) with
    `loss` and `optimizer` for `devices` devices; returns a Trainer.
    `grad_clip`: clip the gradients to this global L2 norm before the update
    (torch.nn.utils.clip_grad_norm_). `dtype="bf16"`: forward and backward in
    bfloat16 (reductions, softmax and LayerNorm statistics in f32, as
    pmc.compile's), gradient sums, master weights, optimizer state and update
    in float32. `zero=0|1|2|3`: the ZeRO stage of a plan with data parallelism
    (1: optimizer state split over dp, 2: and gradients, reduce-scattered, 3:
    and parameters, gathered before use); None lets the planner pick it (with
    `mesh=`: stage 0)."""
    forward = _load_forward(model)
    parameters = _default_parameters(forward, set(frozen))
    temp_dir = tempfile.mkdtemp(prefix="pmc-train-")
    path, extra, options = _training_options(
        forward, parameters, loss, optimizer, temp_dir, devices=devices, target=target,
        input_shapes=input_shapes, mesh=mesh, shardings=shardings, plan=plan,
        device_spec=device_spec, grad_clip=grad_clip, dtype=dtype, zero=zero, cpu=cpu)
    bundle = os.path.join(temp_dir, "train.pmc")
    compile_bundle(path, bundle, options)
    exe = Executable(bundle, _temp_dir=temp_dir)
    classes = 0
    if isinstance(loss, CrossEntropyLoss):
        classes = _value_info(forward.graph, loss.logits).type.tensor_type.shape.dim[-1].dim_value
    settings = dict(devices=devices, target=target, input_shapes=input_shapes, mesh=mesh,
                    plan=plan, frozen=list(frozen), grad_clip=grad_clip, dtype=dtype,
                    zero=zero, cpu=cpu)
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
    parameters = _default_parameters(forward, set(frozen), values=False)
    temp_dir = tempfile.mkdtemp(prefix="pmc-plan-")
    try:
        path, _, options = _training_options(
            forward, parameters, loss, optimizer, temp_dir, devices=devices, target=target,
            input_shapes=input_shapes, mesh=None, shardings=None, plan="auto",
            device_spec=device_spec, grad_clip=grad_clip, dtype=dtype, zero=zero, cpu="host",
            check=False)
        return json.loads(plan_model(path, options))
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


def load_training(path: Union[str, os.PathLike], devices: Optional[int] = None, *,
                  lr: Optional[LearningRate] = None, **options) -> Trainer:
    """Reads a checkpoint written by Trainer.save and compiles its train step
    again, for `devices` (default: the count it was saved at) and `options`
    (as compile_training's); training continues from the saved step. `lr`
    replaces the learning rate (needed when it was a custom callable)."""
    return _checkpoint.load(os.fspath(path), devices, lr, options)


from . import _checkpoint  # noqa: E402 - it uses the classes above
