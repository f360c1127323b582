#!/usr/bin/env python3
"""The model zoo: small ONNX models (opset 17, fp32) that the end-to-end tests,
the demo and the benchmark compile and compare with onnxruntime.

Every model is built with `onnx.helper` from a fixed seed, so the files are the
same on every run. Sizes are small by default (hidden 32-64, sequence 8-16,
batch 2) so tests stay fast; `scale` multiplies the widths for benchmarks.

    python3 test/zoo/make_zoo.py OUT_DIR             # writes OUT_DIR/<model>.onnx
    python3 test/zoo/make_zoo.py OUT_DIR --check     # ... and runs each in onnxruntime
    python3 test/zoo/make_zoo.py OUT_DIR --scale 4   # wider models for benchmarks

From Python:

    from make_zoo import build_zoo, make_inputs
    paths = build_zoo("/tmp/zoo")                    # {"mlp": "/tmp/zoo/mlp.onnx", ...}
    feeds = make_inputs(onnx.load(paths["mlp"]))     # {"x": float32 array}
"""

import argparse
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
SEED = 20240611
MODEL_NAMES = ("mlp", "resnet_cnn", "transformer_encoder", "gpt_decoder")


class GraphBuilder:
    """Accumulates nodes and initializers and hands out unique value names."""

    #: model() runs onnx's full check (which reads external data).
    check = True

    def __init__(self, name, seed):
        self.name = name
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.initializers = []
        self.inputs = []
        self.outputs = []
        self._counter = {}

    def fresh(self, hint):
        n = self._counter.get(hint, 0)
        self._counter[hint] = n + 1
        return f"{hint}_{n}"

    def input(self, name, elem_type, shape):
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def output(self, name, elem_type, shape):
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape))

    def const(self, array, hint="const"):
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, shape, fan_in, hint="w"):
        scale = 1.0 / math.sqrt(fan_in)
        return self.const(self.rng.normal(0.0, scale, size=shape).astype(np.float32), hint)

    def bias(self, size, hint="b"):
        return self.const(self.rng.normal(0.0, 0.05, size=(size,)).astype(np.float32), hint)

    def op(self, op_type, inputs, hint=None, outputs=1, **attrs):
        hint = hint or op_type.lower()
        names = [self.fresh(hint) for _ in range(outputs)]
        node_name = self.fresh(f"{op_type}")
        self.nodes.append(helper.make_node(op_type, inputs, names, name=node_name, **attrs))
        return names[0] if outputs == 1 else names

    def model(self):
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs,
                                  initializer=self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="pmc-zoo")
        model.ir_version = 8
        if self.check:
            onnx.checker.check_model(model, full_check=True)
        return model


# --- Shared pieces -----------------------------------------------------------

# Heads of the attention models: 8, so tensor parallelism over up to 8 devices
# splits them evenly.
ATTENTION_HEADS = 8


def _linear(g, x, d_in, d_out, hint):
    """torch-style Linear: MatMul by a [d_in, d_out] weight, then Add the bias."""
    y = g.op("MatMul", [x, g.weight((d_in, d_out), d_in, f"{hint}_w")], f"{hint}_mm")
    return g.op("Add", [y, g.bias(d_out, f"{hint}_b")], hint)


def _layer_norm(g, x, d, hint):
    gamma = g.const((1.0 + 0.1 * g.rng.standard_normal(d)).astype(np.float32), f"{hint}_g")
    beta = g.const((0.05 * g.rng.standard_normal(d)).astype(np.float32), f"{hint}_b")
    return g.op("LayerNormalization", [x, gamma, beta], hint, axis=-1, epsilon=1e-5)


def _erf_gelu(g, x, hint):
    """gelu(x) = 0.5 * x * (1 + erf(x / sqrt(2))), as torch.onnx exports it."""
    half = g.const(np.array(0.5, np.float32), "half")
    one = g.const(np.array(1.0, np.float32), "one")
    sqrt2 = g.const(np.array(math.sqrt(2.0), np.float32), "sqrt2")
    e = g.op("Erf", [g.op("Div", [x, sqrt2], f"{hint}_div")], f"{hint}_erf")
    return g.op("Mul", [g.op("Mul", [x, g.op("Add", [e, one], f"{hint}_add")], f"{hint}_mul"),
                        half], hint)


def _attention(g, x, batch, seq, d, heads, hint, mask=None, mask_mode="where"):
    """Multi-head self-attention in torch's export form.

    q/k/v: MatMul+Add, Reshape [B,S,H,Dh], Transpose to [B,H,S,Dh] (k to [B,H,Dh,S]);
    scores scaled by Div (mask_mode "where") or Mul (mask_mode "add"); the optional
    causal mask is applied with Where(mask, scores, -1e9) or by adding a 0/-1e9 tensor.
    """
    dh = d // heads
    split_shape = g.const(np.array([batch, seq, heads, dh], np.int64), f"{hint}_shape4")
    merged_shape = g.const(np.array([batch, seq, d], np.int64), f"{hint}_shape3")

    def heads_of(name, perm):
        y = _linear(g, x, d, d, f"{hint}_{name}")
        y = g.op("Reshape", [y, split_shape], f"{hint}_{name}_split")
        return g.op("Transpose", [y], f"{hint}_{name}_t", perm=perm)

    q = heads_of("q", [0, 2, 1, 3])
    k = heads_of("k", [0, 2, 3, 1])
    v = heads_of("v", [0, 2, 1, 3])
    scores = g.op("MatMul", [q, k], f"{hint}_scores")
    if mask_mode == "where":
        scale = g.const(np.array(math.sqrt(dh), np.float32), f"{hint}_sqrt_dh")
        scores = g.op("Div", [scores, scale], f"{hint}_scaled")
    else:
        scale = g.const(np.array(1.0 / math.sqrt(dh), np.float32), f"{hint}_inv_sqrt_dh")
        scores = g.op("Mul", [scores, scale], f"{hint}_scaled")
    if mask is not None:
        if mask_mode == "where":
            neg = g.const(np.array(-1e9, np.float32), f"{hint}_neg")
            scores = g.op("Where", [mask, scores, neg], f"{hint}_masked")
        else:
            scores = g.op("Add", [scores, mask], f"{hint}_masked")
    probs = g.op("Softmax", [scores], f"{hint}_probs", axis=-1)
    ctx = g.op("MatMul", [probs, v], f"{hint}_ctx")
    ctx = g.op("Transpose", [ctx], f"{hint}_ctx_t", perm=[0, 2, 1, 3])
    ctx = g.op("Reshape", [ctx, merged_shape], f"{hint}_ctx_merged")
    return _linear(g, ctx, d, d, f"{hint}_out")


# --- The models --------------------------------------------------------------

def make_mlp(scale=1, batch=2, seed=SEED):
    """x[batch, 64] -> Gemm+Relu -> MatMul+Add+Relu -> Gemm -> y[batch, 10].

    `batch` may be a string (a symbolic dimension) to make a dynamic-batch model.
    """
    g = GraphBuilder("mlp", seed)
    d_in, hidden, d_out = 64 * scale, 64 * scale, 10
    x = g.input("x", TensorProto.FLOAT, [batch, d_in])
    # Gemm with transB=1 as torch exports nn.Linear.
    h = g.op("Gemm", [x, g.weight((hidden, d_in), d_in, "fc1_w"), g.bias(hidden, "fc1_b")],
             "fc1", transB=1)
    h = g.op("Relu", [h], "relu1")
    h = g.op("Relu", [_linear(g, h, hidden, hidden, "fc2")], "relu2")
    y = g.op("Gemm", [h, g.weight((hidden, d_out), hidden, "fc3_w"), g.bias(d_out, "fc3_b")],
             "fc3", alpha=1.0, beta=1.0)
    g.nodes[-1].output[0] = "y"
    g.output("y", TensorProto.FLOAT, [batch, d_out])
    return g.model()


def make_resnet_cnn(scale=1, batch=2, seed=SEED):
    """A small ResNet: stem Conv+BN+Relu, MaxPool, an identity block, a strided
    block with a 1x1 projection shortcut, GlobalAveragePool, Flatten, Gemm."""
    g = GraphBuilder("resnet_cnn", seed)
    c1, c2, size, classes = 8 * scale, 16 * scale, 16, 10
    x = g.input("image", TensorProto.FLOAT, [batch, 3, size, size])

    def conv_bn(inp, c_in, c_out, k, stride, relu, hint):
        w = g.weight((c_out, c_in, k, k), c_in * k * k, f"{hint}_w")
        pad = k // 2
        y = g.op("Conv", [inp, w], f"{hint}_conv", kernel_shape=[k, k], strides=[stride, stride],
                 pads=[pad, pad, pad, pad])
        gamma = g.const(g.rng.uniform(0.5, 1.5, c_out).astype(np.float32), f"{hint}_gamma")
        beta = g.const(g.rng.normal(0, 0.1, c_out).astype(np.float32), f"{hint}_beta")
        mean = g.const(g.rng.normal(0, 0.1, c_out).astype(np.float32), f"{hint}_mean")
        var = g.const(g.rng.uniform(0.5, 1.5, c_out).astype(np.float32), f"{hint}_var")
        y = g.op("BatchNormalization", [y, gamma, beta, mean, var], f"{hint}_bn", epsilon=1e-5)
        return g.op("Relu", [y], f"{hint}_relu") if relu else y

    h = conv_bn(x, 3, c1, 3, 1, True, "stem")
    h = g.op("MaxPool", [h], "pool", kernel_shape=[2, 2], strides=[2, 2])
    # Identity residual block.
    r = conv_bn(h, c1, c1, 3, 1, True, "b1a")
    r = conv_bn(r, c1, c1, 3, 1, False, "b1b")
    h = g.op("Relu", [g.op("Add", [h, r], "b1_add")], "b1_out")
    # Downsampling block with a projection shortcut.
    r = conv_bn(h, c1, c2, 3, 2, True, "b2a")
    r = conv_bn(r, c2, c2, 3, 1, False, "b2b")
    s = conv_bn(h, c1, c2, 1, 2, False, "b2s")
    h = g.op("Relu", [g.op("Add", [s, r], "b2_add")], "b2_out")
    h = g.op("GlobalAveragePool", [h], "gap")
    h = g.op("Flatten", [h], "flat", axis=1)
    g.op("Gemm", [h, g.weight((classes, c2), c2, "fc_w"), g.bias(classes, "fc_b")], "fc",
         transB=1)
    g.nodes[-1].output[0] = "logits"
    g.output("logits", TensorProto.FLOAT, [batch, classes])
    return g.model()


def make_transformer_encoder(scale=1, batch=2, seed=SEED):
    """One post-LN encoder layer: x + MHA(x) -> LayerNorm -> + MLP(erf gelu) -> LayerNorm."""
    g = GraphBuilder("transformer_encoder", seed)
    seq, d, heads = 16, 32 * scale, ATTENTION_HEADS
    x = g.input("x", TensorProto.FLOAT, [batch, seq, d])
    a = _attention(g, x, batch, seq, d, heads, "attn")
    h = _layer_norm(g, g.op("Add", [x, a], "res1"), d, "ln1")
    m = _linear(g, h, d, 4 * d, "mlp_up")
    m = _erf_gelu(g, m, "gelu")
    m = _linear(g, m, 4 * d, d, "mlp_down")
    _layer_norm(g, g.op("Add", [h, m], "res2"), d, "ln2")
    g.nodes[-1].output[0] = "y"
    g.output("y", TensorProto.FLOAT, [batch, seq, d])
    return g.model()


def _gpt(g, batch, seq, d, heads, vocab, layers, alternate_masks):
    """make_gpt_decoder's architecture into `g`; `alternate_masks`: layer 0,
    2, ... mask with Where on a bool mask, the others add a 0/-1e9 mask (else
    all use the bool mask)."""
    ids = g.input("input_ids", TensorProto.INT64, [batch, seq])
    wte = g.weight((vocab, d), d, "wte")
    wpe = g.weight((seq, d), d, "wpe")
    tok = g.op("Gather", [wte, ids], "tok_emb", axis=0)
    pos = g.op("Gather", [wpe, g.const(np.arange(seq, dtype=np.int64), "pos_ids")], "pos_emb",
               axis=0)
    h = g.op("Add", [tok, pos], "emb")
    causal = np.tril(np.ones((seq, seq), dtype=bool)).reshape(1, 1, seq, seq)
    bool_mask = g.const(causal, "causal_mask")
    if alternate_masks:
        add_mask = g.const(np.where(causal, 0.0, -1e9).astype(np.float32), "causal_bias")
    for layer in range(layers):
        mode = "where" if layer % 2 == 0 or not alternate_masks else "add"
        mask = bool_mask if mode == "where" else add_mask
        a = _attention(g, _layer_norm(g, h, d, f"l{layer}_ln1"), batch, seq, d, heads,
                       f"l{layer}_attn", mask=mask, mask_mode=mode)
        h = g.op("Add", [h, a], f"l{layer}_res1")
        m = _linear(g, _layer_norm(g, h, d, f"l{layer}_ln2"), d, 4 * d, f"l{layer}_up")
        m = _linear(g, _erf_gelu(g, m, f"l{layer}_gelu"), 4 * d, d, f"l{layer}_down")
        h = g.op("Add", [h, m], f"l{layer}_res2")
    h = _layer_norm(g, h, d, "ln_f")
    g.op("MatMul", [h, g.weight((d, vocab), d, "lm_head")], "lm_head")
    g.nodes[-1].output[0] = "logits"
    g.output("logits", TensorProto.FLOAT, [batch, seq, vocab])
    return g.model()


def make_gpt_decoder(scale=1, batch=2, seed=SEED):
    """A 2-layer pre-LN GPT: token Gather + position Gather, causal attention
    (layer 0 masks with Where on a bool mask, layer 1 adds a 0/-1e9 mask), MLP with
    erf gelu, final LayerNorm and an LM head MatMul to vocabulary logits."""
    return _gpt(GraphBuilder("gpt_decoder", seed), batch, seq=8, d=32 * scale,
                heads=ATTENTION_HEADS, vocab=50 * scale, layers=2, alternate_masks=True)


BUILDERS = {
    "mlp": make_mlp,
    "resnet_cnn": make_resnet_cnn,
    "transformer_encoder": make_transformer_encoder,
    "gpt_decoder": make_gpt_decoder,
}


def megatron_shardings(name, scale=1):
    """Column-then-row (Megatron) shardings over mesh axis "tp" of the zoo model
    `name`: initializer name -> per-dimension axis (None = whole), and the sizes
    that tp must divide. (None, ()) when the model has no such layout."""
    d = 32 * scale
    if name == "mlp":
        # fc1 is a Gemm with transB (weight [hidden, in]): columns of the
        # product = rows of the stored weight; fc2 (MatMul [hidden, hidden]) by rows.
        return ({"fc1_w_0": ("tp", None), "fc1_b_0": ("tp",), "fc2_w_0": ("tp", None)},
                (64 * scale,))
    if name == "resnet_cnn":
        # Channel-parallel residual blocks: the first conv of a block splits its
        # output channels, the second its input channels (a pending sum).
        return ({"b1a_w_0": ("tp", None, None, None), "b1b_w_0": (None, "tp", None, None),
                 "b2a_w_0": ("tp", None, None, None), "b2b_w_0": (None, "tp", None, None)},
                (8,))
    if name == "transformer_encoder":
        layers = [""]
    elif name == "gpt_decoder":
        layers = ["l0_", "l1_"]
    else:
        return None, ()
    s = {}
    for p in layers:
        for proj in ("q", "k", "v"):  # attention heads: column-parallel q/k/v
            s[f"{p}attn_{proj}_w_0"] = (None, "tp")
            s[f"{p}attn_{proj}_b_0"] = ("tp",)
        s[f"{p}attn_out_w_0"] = ("tp", None)  # row-parallel output projection
        up, down = (f"{p}mlp_up", f"{p}mlp_down") if p == "" else (f"{p}up", f"{p}down")
        s[f"{up}_w_0"] = (None, "tp")
        s[f"{up}_b_0"] = ("tp",)
        s[f"{down}_w_0"] = ("tp", None)
    return s, (ATTENTION_HEADS, 4 * d)


def build_zoo(out_dir, scale=1, names=MODEL_NAMES):
    """Writes `<name>.onnx` for each model into `out_dir`; returns {name: path}."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for name in names:
        path = os.path.join(out_dir, f"{name}.onnx")
        onnx.save(BUILDERS[name](scale=scale), path)
        paths[name] = path
    return paths


_NP_OF_ONNX = {TensorProto.FLOAT: np.float32, TensorProto.INT64: np.int64,
               TensorProto.INT32: np.int32, TensorProto.DOUBLE: np.float64,
               TensorProto.BOOL: np.bool_}


def make_inputs(model, seed=0, shapes=None):
    """Random feeds for `model`'s graph inputs: normal floats; integer inputs
    (token ids) uniform in [0, rows of the first Gather table that consumes them).
    `shapes` gives {name: shape} for inputs with symbolic dimensions."""
    rng = np.random.default_rng(seed)
    inits = {t.name: t for t in model.graph.initializer}
    feeds = {}
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        if shapes and vi.name in shapes:
            shape = list(shapes[vi.name])
        else:
            shape = [d.dim_value if d.HasField("dim_value") else None for d in tt.shape.dim]
            if None in shape:
                raise ValueError(f"input '{vi.name}' has a symbolic dimension; pass shapes=")
        dtype = _NP_OF_ONNX[tt.elem_type]
        if np.issubdtype(dtype, np.integer):
            high = 2
            for node in model.graph.node:
                if node.op_type == "Gather" and len(node.input) > 1 and \
                        node.input[1] == vi.name and node.input[0] in inits:
                    high = inits[node.input[0]].dims[0]
            feeds[vi.name] = rng.integers(0, high, size=shape, dtype=dtype)
        elif dtype == np.bool_:
            feeds[vi.name] = rng.integers(0, 2, size=shape).astype(np.bool_)
        else:
            feeds[vi.name] = rng.standard_normal(shape).astype(dtype)
    return feeds


def run_onnxruntime(path, feeds, threads=1):
    """Runs the model in onnxruntime on the CPU; returns {output name: array}."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--scale", type=int, default=1, help="width multiplier")
    parser.add_argument("--check", action="store_true",
                        help="run every model in onnxruntime and print its outputs' shapes")
    args = parser.parse_args(argv)
    paths = build_zoo(args.out_dir, scale=args.scale)
    status = 0
    for name, path in paths.items():
        line = f"{name}: {path}"
        if args.check:
            outs = run_onnxruntime(path, make_inputs(onnx.load(path)))
            finite = all(np.isfinite(v).all() for v in outs.values())
            line += " -> " + ", ".join(f"{k}{list(v.shape)}" for k, v in outs.items())
            line += "" if finite else " (NON-FINITE OUTPUT)"
            status |= 0 if finite else 1
        print(line)
    return status


if __name__ == "__main__":
    sys.exit(main())


# --- Shape-only models, for planning --------------------------------------------

class _ShapeOnlyBuilder(GraphBuilder):
    """Weights and biases are initializers whose data is external and absent
    (`absent.bin`): the planner reads shapes only, so a model of billions of
    parameters costs kilobytes."""

    check = False  # the data is absent

    def _absent(self, shape, hint):
        name = self.fresh(hint)
        t = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=list(shape))
        t.data_location = TensorProto.EXTERNAL
        for key, value in (("location", "absent.bin"), ("offset", "0"),
                           ("length", str(4 * int(np.prod(shape))))):
            entry = t.external_data.add()
            entry.key, entry.value = key, value
        self.initializers.append(t)
        return name

    def weight(self, shape, fan_in, hint="w"):
        return self._absent(shape, hint)

    def bias(self, size, hint="b"):
        return self._absent((size,), hint)


def make_gpt_shapes(layers=32, d=4096, heads=32, vocab=32000, seq=1024, batch=8):
    """make_gpt_decoder's architecture at any size (every layer masking with
    Where), weights shape-only (_ShapeOnlyBuilder): the default is a
    6.7e9-parameter GPT (12 d^2 per layer, 32 layers), for plans that are
    never run."""
    return _gpt(_ShapeOnlyBuilder("gpt_shapes", SEED), batch, seq, d, heads, vocab, layers,
                alternate_masks=False)
