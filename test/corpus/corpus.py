"""The model corpus of pmc's differential tests: ONNX models with their feeds.

Needs only numpy and onnx (onnxruntime for `reference`); no torch.

    import corpus
    for entry in corpus.entries(["zoo", "light"]):
        model, feeds = entry.load(seed=0)          # onnx.ModelProto, {name: ndarray}
        want = entry.reference(model, feeds)       # onnxruntime's outputs

Families:
  zoo                test/zoo/make_zoo.py's models, make_zoo.make_inputs feeds.
  light              the onnx wheel's backend/test/data/light/*.onnx (alexnet, densenet121,
                     inception_v1/v2, resnet50, shufflenet, squeezenet, vgg19, zfnet512)
                     with seeded random weights of a sensible scale in place of their
                     shipped constants; feeds: normal images of the declared shape.
  pytorch-converted  the onnx wheel's backend/test/data/pytorch-converted/* and
  pytorch-operator   pytorch-operator/* cases; feeds from test_data_set_0/input_*.pb,
                     float initializers of more than 4 elements random.
  exported           test/corpus/models/*.onnx, skeletons written by export_models.py,
                     their `pmc-random` markers filled with seeded random values.
  node               the ONNX backend node tests of Debian's libonnx-testdata
                     (/usr/share/libonnx-testdata/data/node); feeds from their input pbs.

Loading is deterministic: the same entry and seed give the same arrays.
Reference outputs always come from onnxruntime on the same model and feeds; only
node tests that onnxruntime cannot run fall back to their shipped output pbs.

    python3 test/corpus/corpus.py --list            # the entries
    python3 test/corpus/corpus.py --check [--family light]
                                                    # onnxruntime outputs' spread per entry
"""

import argparse
import glob
import os
import re
import sys
import zlib

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))
MODELS_DIR = os.path.join(HERE, "models")
ONNX_DATA_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
NODE_DATA_DIR = os.environ.get("PMC_NODE_TEST_DIR", "/usr/share/libonnx-testdata/data/node")

for _p in (os.path.join(REPO_ROOT, "test", "zoo"), os.path.join(REPO_ROOT, "test", "conformance")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import make_zoo  # noqa: E402
import run_node_tests  # noqa: E402

FAMILIES = ("zoo", "light", "pytorch-converted", "pytorch-operator", "exported", "node")
MARKER = "pmc-random"
# onnxruntime 1.31 reads IR versions up to 11; models above are lowered for it.
MAX_ORT_IR_VERSION = 10

_NP_OF_ONNX = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64,
               TensorProto.FLOAT16: np.float16, TensorProto.INT64: np.int64,
               TensorProto.INT32: np.int32, TensorProto.INT8: np.int8,
               TensorProto.UINT8: np.uint8, TensorProto.BOOL: np.bool_}
_FLOAT_TYPES = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16)


# --- Entries --------------------------------------------------------------------

class Entry:
    """One model of the corpus. `load(seed)` -> (onnx.ModelProto, feeds)."""

    def __init__(self, name, family, loader, path=None):
        self.name = name
        self.family = family
        self.path = path
        self._loader = loader

    def __repr__(self):
        return f"Entry({self.name!r}, {self.family!r})"

    @property
    def id(self):
        return f"{self.family}/{self.name}"

    def rng(self, seed):
        """The random generator of this entry and seed (independent of the others)."""
        return np.random.default_rng([seed, zlib.crc32(self.id.encode())])

    def load(self, seed=0):
        return self._loader(self, seed)

    def constant_inputs(self, model):
        """Graph inputs that only feed shape-like operands (a Reshape's shape, a
        Slice's starts, ...): pmc compiles static shapes, so a caller binds them to
        their feed values (`pmc.compile(..., bind=...)`)."""
        return run_node_tests.shape_operand_inputs(model)

    def reference(self, model, feeds):
        """onnxruntime's outputs {name: array}; node tests that onnxruntime cannot
        run fall back to their shipped output pbs."""
        if self.family != "node":
            return reference(model, feeds)
        try:
            return reference(model, feeds)
        except Exception:  # noqa: BLE001 - onnxruntime lacks the case: the shipped outputs
            _, outputs = run_node_tests.read_data_set(self._data_set(), model)
            return dict(outputs)

    def _data_set(self):
        return sorted(glob.glob(os.path.join(self.path, "test_data_set_*")))[0]


def entries(families=None):
    """The corpus entries of `families` (default: all), in a stable order.
    Families whose data is absent on this machine give no entries."""
    families = list(FAMILIES if families is None else
                    ([families] if isinstance(families, str) else families))
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown corpus families {unknown}; known: {', '.join(FAMILIES)}")
    out = []
    for family in families:
        out += _LISTERS[family]()
    return out


def get(entry_id):
    """The entry named `family/name`."""
    family, _, name = entry_id.partition("/")
    for e in entries([family]):
        if e.name == name:
            return e
    raise KeyError(entry_id)


# --- zoo ------------------------------------------------------------------------

def _list_zoo():
    return [Entry(name, "zoo", _load_zoo) for name in make_zoo.MODEL_NAMES]


def _load_zoo(entry, seed):
    model = make_zoo.BUILDERS[entry.name]()
    return model, make_zoo.make_inputs(model, seed=seed)


# --- Random weights by role -------------------------------------------------------

_PASS_THROUGH = ("Unsqueeze", "Squeeze", "Reshape", "Flatten", "Identity", "Cast", "Transpose")


def _consumers(model):
    """{tensor name: [(node, input index)]}; a weight that reaches its consumer
    through Unsqueeze/Reshape/... (inception_v2's scale vectors) gets that
    consumer's uses."""
    direct = {}
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            direct.setdefault(name, []).append((node, i))

    def effective(name, depth=0):
        out = []
        for node, i in direct.get(name, []):
            if node.op_type in _PASS_THROUGH and i == 0 and depth < 4:
                out += effective(node.output[0], depth + 1) or [(node, i)]
            else:
                out.append((node, i))
        return out

    return {name: effective(name) for name in direct}


def _residual_gains(model):
    """{initializer name: gain} that keeps the activation scale of residual
    networks from growing with depth: at each Sum/Add of two or more
    activations, the BatchNormalization scale (or Conv weight) producing an
    operand is multiplied by 1/sqrt(n) when every operand comes from one of
    those, else by 0.3/sqrt(count) (the identity shortcut keeps its scale)."""
    inits = {t.name for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    gains = {}
    for node in model.graph.node:
        if node.op_type not in ("Sum", "Add"):
            continue
        acts = [n for n in node.input if n and n not in inits and n in producer]
        if len(acts) < 2 or len(acts) != len([n for n in node.input if n]):
            continue
        scalable = []
        for name in acts:
            p = producer[name]
            if p.op_type == "BatchNormalization" and len(p.input) > 1 and p.input[1] in inits:
                scalable.append(p.input[1])
            elif p.op_type in ("Conv", "Gemm", "MatMul") and len(p.input) > 1 \
                    and p.input[1] in inits:
                scalable.append(p.input[1])
        if not scalable:
            continue
        gain = (1.0 if len(scalable) == len(acts) else 0.3) / np.sqrt(len(scalable))
        for w in scalable:
            gains[w] = gains.get(w, 1.0) * gain
    # The classifier feeding a Softmax: smaller logits, so that the softmax is
    # not one-hot (which would hide errors in the logits).
    for node in model.graph.node:
        if node.op_type not in ("Softmax", "LogSoftmax"):
            continue
        p = producer.get(node.input[0])
        for _ in range(4):
            if p is None or p.op_type not in _PASS_THROUGH + ("Add", "Dropout"):
                break
            p = producer.get(p.input[0])
        if p is not None and p.op_type in ("Conv", "Gemm", "MatMul") and len(p.input) > 1 \
                and p.input[1] in inits:
            gains[p.input[1]] = gains.get(p.input[1], 1.0) * 0.35
    return gains


def _attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


_RECTIFIERS = ("Relu", "Clip", "LeakyRelu", "PRelu", "Elu", "Selu", "Softplus", "Sigmoid")
_TRANSPARENT = _PASS_THROUGH + ("MaxPool", "AveragePool", "GlobalAveragePool", "Dropout", "Pad")


def _after_rectifier(name, producer, depth=0):
    """True when tensor `name` comes from a ReLU-like op (through reshapes, pools,
    concatenations)."""
    p = producer.get(name)
    if p is None or depth > 8:
        return False
    if p.op_type in _RECTIFIERS:
        return True
    if p.op_type in _TRANSPARENT:
        return _after_rectifier(p.input[0], producer, depth + 1)
    if p.op_type == "Concat":
        return all(_after_rectifier(i, producer, depth + 1) for i in p.input)
    return False


def role_values(shape, uses, rng, dtype=np.float32, producer=None):
    """Random values of a sensible scale for a weight of `shape` used by `uses`
    [(node, input index)]: normal with variance gain/fan_in for conv/gemm/matmul
    weights, gain 2 when the data input comes from a ReLU (He) and 1 otherwise
    (so activations keep their scale through the depth), near 1 for scales,
    small for biases and means, uniform(0.5, 1.5) for variances. `producer`
    ({tensor: node}) tells where the data input comes from."""
    shape = tuple(int(d) for d in shape)
    node, index = uses[0] if uses else (None, -1)
    op = node.op_type if node is not None else ""
    data = node.input[1 - index] if op in ("Gemm", "MatMul") and index in (0, 1) else \
        (node.input[0] if node is not None and node.input else "")
    gain = 2.0 if producer is not None and _after_rectifier(data, producer) else 1.0

    def normal(mean, std):
        v = rng.standard_normal(shape, dtype=np.float32)
        v *= np.float32(std)
        v += np.float32(mean)
        return v.astype(dtype, copy=False)

    def uniform(lo, hi):
        v = rng.random(shape, dtype=np.float32)
        v *= np.float32(hi - lo)
        v += np.float32(lo)
        return v.astype(dtype, copy=False)

    if op in ("Conv", "ConvTranspose") and index == 1 and len(shape) >= 2:
        fan_in = (shape[1] if op == "Conv" else shape[0] // max(1, _attr(node, "group", 1))) \
            * int(np.prod(shape[2:], dtype=np.int64))
        return normal(0.0, np.sqrt(gain / max(1, fan_in)))
    if op == "Gemm" and index == 1 and len(shape) == 2:
        fan_in = shape[1] if _attr(node, "transB", 0) else shape[0]
        return normal(0.0, np.sqrt(gain / max(1, fan_in)))
    if op == "Gemm" and index == 0 and len(shape) == 2:
        fan_in = shape[0] if _attr(node, "transA", 0) else shape[1]
        return normal(0.0, np.sqrt(gain / max(1, fan_in)))
    if op == "MatMul" and len(shape) >= 2:
        fan_in = shape[-2] if index == 1 else shape[-1]
        return normal(0.0, np.sqrt(gain / max(1, fan_in)))
    if op in ("BatchNormalization", "InstanceNormalization", "LayerNormalization"):
        if index == 1:
            return normal(1.0, 0.1)
        if index == 4:
            return uniform(0.5, 1.5)
        if index == 3:
            return normal(0.0, 0.1)
        return normal(0.0, 0.05)
    if op == "Mul":
        return normal(1.0, 0.1)
    if op == "PRelu":
        return uniform(0.05, 0.3)
    if op == "Gather" and index == 0:
        return normal(0.0, 1.0)
    return normal(0.0, 0.05)


def _replace_initializer(model, name, values):
    for t in model.graph.initializer:
        if t.name == name:
            t.CopyFrom(numpy_helper.from_array(values, name))
            return
    model.graph.initializer.append(numpy_helper.from_array(values, name))


def randomize_initializers(model, rng, min_elements=2):
    """Gives every float initializer with at least `min_elements` elements
    random values by role (role_values). In place; returns the names changed."""
    uses = _consumers(model)
    gains = _residual_gains(model)
    producer = {o: n for n in model.graph.node for o in n.output}
    changed = []
    for t in list(model.graph.initializer):
        if t.data_type not in _FLOAT_TYPES:
            continue
        if int(np.prod(t.dims, dtype=np.int64)) < min_elements:
            continue
        values = role_values(t.dims, uses.get(t.name, []), rng, _NP_OF_ONNX[t.data_type],
                             producer)
        if t.name in gains:
            values = (values * gains[t.name]).astype(values.dtype)
        _replace_initializer(model, t.name, values)
        changed.append(t.name)
    return changed


def _drop_initializer_inputs(model):
    """Removes from graph.input the names that have an initializer (IR 3 lists
    every weight as an input); raises the IR version to 4 where needed."""
    inits = {t.name for t in model.graph.initializer}
    keep = [vi for vi in model.graph.input if vi.name not in inits]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    model.ir_version = max(model.ir_version, 4)


# --- light ----------------------------------------------------------------------

def _list_light():
    paths = sorted(glob.glob(os.path.join(ONNX_DATA_DIR, "light", "*.onnx")))
    return [Entry(os.path.basename(p)[:-5].removeprefix("light_"), "light", _load_light, p)
            for p in paths]


def _load_light(entry, seed):
    """The light models compute every weight with ConstantOfShape(a shape
    initializer) filled with one constant (0.02 or so): the weights become
    initializers of seeded random values instead."""
    rng = entry.rng(seed)
    model = onnx.load(entry.path)
    inits = {t.name: t for t in model.graph.initializer}
    kept = []
    used_shapes = set()
    new_inits = []
    for node in model.graph.node:
        if node.op_type == "ConstantOfShape" and node.input and node.input[0] in inits:
            shape = numpy_helper.to_array(inits[node.input[0]])
            value = _attr(node, "value", None)
            dtype = numpy_helper.to_array(value).dtype if value is not None else np.float32
            out = node.output[0]
            if np.issubdtype(dtype, np.floating):
                values = np.zeros(shape, dtype)  # random values below
            else:
                values = np.full(shape, numpy_helper.to_array(value).reshape(-1)[0], dtype)
            new_inits.append(numpy_helper.from_array(values, out))
            used_shapes.add(node.input[0])
            continue
        kept.append(node)
    del model.graph.node[:]
    model.graph.node.extend(kept)
    still_used = {n for node in kept for n in node.input}
    remaining = [t for t in model.graph.initializer
                 if t.name not in used_shapes or t.name in still_used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(remaining + new_inits)
    # The shape tensors are graph inputs too (IR 3): drop those no node uses now.
    dead = used_shapes - still_used
    inputs = [vi for vi in model.graph.input if vi.name not in dead]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    randomize_initializers(model, rng, min_elements=2)
    _drop_initializer_inputs(model)
    feeds = {}
    for vi in run_node_tests.graph_inputs(model):
        shape = run_node_tests.declared_shape(vi)
        feeds[vi.name] = rng.standard_normal(shape).astype(
            _NP_OF_ONNX[vi.type.tensor_type.elem_type])
    return model, feeds


# --- pytorch-converted, pytorch-operator, node -------------------------------------

def _list_cases(family, data_dir, loader):
    return [Entry(name, family, loader, os.path.join(data_dir, name))
            for name in run_node_tests.list_cases(data_dir)] if os.path.isdir(data_dir) else []


def _list_pytorch_converted():
    return _list_cases("pytorch-converted", os.path.join(ONNX_DATA_DIR, "pytorch-converted"),
                       _load_pytorch)


def _list_pytorch_operator():
    return _list_cases("pytorch-operator", os.path.join(ONNX_DATA_DIR, "pytorch-operator"),
                       _load_pytorch)


# The opset onnxruntime needs at least (it implements no Add-6, AveragePool-1, ...).
MIN_ORT_OPSET = 7
PYTORCH_TARGET_OPSET = 9


def _opset(model):
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def upgrade_opset(model, target=PYTORCH_TARGET_OPSET):
    """`model` converted to opset `target` with onnx's version converter, plus
    the one fix it misses: PRelu-6 broadcast a [C] slope over axis 1, PRelu-9
    broadcasts numpy-style, so the slope becomes [C, 1, ...]."""
    from onnx import version_converter
    shapes = {vi.name: run_node_tests.declared_shape(vi) for vi in model.graph.input
              if run_node_tests.is_static_tensor(vi)}
    model = version_converter.convert_version(model, target)
    inits = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "PRelu" or node.input[1] not in inits:
            continue
        slope = numpy_helper.to_array(inits[node.input[1]])
        rank = len(shapes.get(node.input[0], ()))
        if slope.ndim == 1 and slope.size > 1 and rank > 2:
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(
                slope.reshape((-1,) + (1,) * (rank - 2)), node.input[1]))
    return model


def _garbage(value):
    """Shipped inputs of some pytorch-operator cases are uninitialized memory
    (1e+199, denormals): True for a float array with such values."""
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f" or value.size == 0:
        return False
    a = np.abs(value.astype(np.float64))
    return bool((~np.isfinite(a)).any() or (a > 1e6).any() or ((a > 0) & (a < 1e-30)).any())


def _load_pytorch(entry, seed):
    """The case's model and shipped inputs; models below opset 7 (which
    onnxruntime cannot run) converted to opset 9; float initializers of more
    than 4 elements random (by role); garbage inputs replaced by normal values."""
    rng = entry.rng(seed)
    model = onnx.load(os.path.join(entry.path, "model.onnx"))
    feeds, _ = run_node_tests.read_data_set(entry._data_set(), model)
    for name, value in feeds.items():
        if _garbage(value):
            feeds[name] = rng.standard_normal(value.shape).astype(value.dtype)
    # Sqrt, Log, Pow of the shipped normal inputs are mostly NaN: positive inputs.
    for node in model.graph.node:
        if node.op_type in ("Sqrt", "Log", "Pow") and node.input[0] in feeds:
            feeds[node.input[0]] = np.abs(feeds[node.input[0]])
    if _opset(model) < MIN_ORT_OPSET:
        model = upgrade_opset(model)
    randomize_initializers(model, rng, min_elements=5)
    _drop_initializer_inputs(model)
    return model, feeds


def _list_node():
    return _list_cases("node", NODE_DATA_DIR, _load_node)


def _load_node(entry, seed):
    del seed  # the shipped inputs
    model = onnx.load(os.path.join(entry.path, "model.onnx"))
    feeds, _ = run_node_tests.read_data_set(entry._data_set(), model)
    return model, feeds


# --- exported -------------------------------------------------------------------

_MARKER_RE = re.compile(MARKER + r"\s+(normal|uniform)\s+(\w+)=(\S+)\s+(\w+)=(\S+)")


def _list_exported():
    paths = sorted(glob.glob(os.path.join(MODELS_DIR, "*.onnx")))
    return [Entry(os.path.basename(p)[:-5], "exported", _load_exported, p) for p in paths]


def fill_skeleton(model, rng):
    """Fills every initializer carrying a `pmc-random` marker with random values
    of the recorded distribution. In place; returns the number filled."""
    filled = 0
    for t in model.graph.initializer:
        m = _MARKER_RE.search(t.doc_string or "")
        if not m:
            continue
        kind, k1, v1, k2, v2 = m.groups()
        params = {k1: float(v1), k2: float(v2)}
        shape = tuple(int(d) for d in t.dims)
        dtype = _NP_OF_ONNX[t.data_type]
        if kind == "normal":
            values = params["mean"] + params["std"] * rng.standard_normal(shape)
        else:
            values = rng.uniform(params["lo"], params["hi"], size=shape)
        doc = t.doc_string
        t.CopyFrom(numpy_helper.from_array(values.astype(dtype), t.name))
        t.doc_string = doc
        filled += 1
    return filled


def vocabulary_size(model, input_name="input_ids"):
    """The vocabulary of a text model: the `pmc.vocab_size` metadata, else the
    first dimension of the table that a Gather indexes with `input_name`."""
    for p in model.metadata_props:
        if p.key == "pmc.vocab_size":
            return int(p.value)
    inits = {t.name: t for t in model.graph.initializer}
    # Follow Cast/Reshape/Unsqueeze of the ids to the Gather that takes them.
    names = {input_name}
    for node in model.graph.node:
        if not set(node.input) & names:
            continue
        if node.op_type == "Gather" and len(node.input) > 1 and node.input[1] in names \
                and node.input[0] in inits:
            return int(inits[node.input[0]].dims[0])
        if node.op_type in ("Cast", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Identity"):
            names.update(node.output)
    return 2


def feed_shapes(model):
    """{input: shape} of the `pmc.feed_shapes` metadata (name=DIMS;...) that a
    model exported with dynamic dims carries: the shapes the corpus feeds it."""
    for p in model.metadata_props:
        if p.key == "pmc.feed_shapes":
            return {n: tuple(int(d) for d in dims.split("x"))
                    for n, dims in (item.split("=") for item in p.value.split(";"))}
    return {}


def _load_exported(entry, seed):
    rng = entry.rng(seed)
    model = onnx.load(entry.path)
    fill_skeleton(model, rng)
    feeds = {}
    given = feed_shapes(model)
    for vi in run_node_tests.graph_inputs(model):
        shape = given.get(vi.name) or run_node_tests.declared_shape(vi)
        dtype = _NP_OF_ONNX[vi.type.tensor_type.elem_type]
        if vi.name == "attention_mask":
            mask = np.ones(shape, dtype)
            if len(shape) == 2 and shape[1] > 3:
                row = int(rng.integers(0, shape[0]))
                mask[row, shape[1] - int(rng.integers(1, 4)):] = 0
            feeds[vi.name] = mask
        elif np.issubdtype(dtype, np.integer):
            feeds[vi.name] = rng.integers(0, vocabulary_size(model, vi.name), size=shape,
                                          dtype=dtype)
        else:
            feeds[vi.name] = rng.standard_normal(shape).astype(dtype)
    return model, feeds


_LISTERS = {
    "zoo": _list_zoo,
    "light": _list_light,
    "pytorch-converted": _list_pytorch_converted,
    "pytorch-operator": _list_pytorch_operator,
    "exported": _list_exported,
    "node": _list_node,
}


# --- Reference ------------------------------------------------------------------

def for_onnxruntime(model):
    """`model`, or a copy at an IR version onnxruntime reads."""
    if model.ir_version <= MAX_ORT_IR_VERSION:
        return model
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    copy.ir_version = MAX_ORT_IR_VERSION
    return copy


def reference(model, feeds, threads=1):
    """onnxruntime's outputs {output name: array} for `model` on `feeds` (CPU,
    default graph optimizations)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(for_onnxruntime(model).SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    wanted = {i.name for i in sess.get_inputs()}
    return dict(zip(names, sess.run(names, {k: v for k, v in feeds.items() if k in wanted})))


def spread(outputs):
    """A one-line description of output values (for --check): shape, finite,
    std and range per output; `ok` False when an output is not finite or all its
    elements are equal."""
    parts, ok = [], True
    for name, v in outputs.items():
        if not isinstance(v, np.ndarray) or v.dtype.kind not in "fc" or v.size == 0:
            parts.append(f"{name}{list(np.shape(v))}")
            continue
        v64 = v.astype(np.float64)
        finite = bool(np.isfinite(v64).all())
        std = float(np.nanstd(v64)) if finite else float("nan")
        if not finite or (v.size > 1 and std == 0.0):
            ok = False
        parts.append(f"{name}{list(v.shape)} std={std:.3g} "
                     f"range=[{np.nanmin(v64):.3g}, {np.nanmax(v64):.3g}]"
                     + ("" if finite else " NOT FINITE"))
    return ok, "; ".join(parts)


def main(argv=None):
    parser = argparse.ArgumentParser(description="The pmc model corpus.")
    parser.add_argument("--family", action="append", choices=FAMILIES)
    parser.add_argument("--filter", default=None, help="regex on family/name")
    parser.add_argument("--list", action="store_true", help="print the entries")
    parser.add_argument("--check", action="store_true",
                        help="load every entry, run onnxruntime, print the outputs' spread")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    chosen = [e for e in entries(args.family)
              if not args.filter or re.search(args.filter, e.id)]
    bad = 0
    for e in chosen:
        if not args.check:
            print(e.id)
            continue
        try:
            model, feeds = e.load(args.seed)
            ok, text = spread(e.reference(model, feeds))
        except Exception as ex:  # noqa: BLE001
            ok, text = False, f"error: {type(ex).__name__}: {str(ex).splitlines()[0][:200]}"
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'} {e.id}: {text}", flush=True)
    if args.check:
        print(f"{len(chosen) - bad} of {len(chosen)} entries have finite, spread outputs")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
