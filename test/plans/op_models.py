"""The `ops` family of the plan tests: one small model per operator pmc imports,
with dimensions that split 2, 4 and 8 ways, so that random plans reach every
factor of every op's sharding rule (batch, channels, groups, heads,
contraction, reduced and compound dimensions) on real ONNX files.

    import op_models
    for name, model, feeds in op_models.models():   # onnx.ModelProto, {name: array}
        ...
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 18
F = TensorProto.FLOAT


def _model(name, nodes, inputs, output_names, inits=(), opset=OPSET):
    """The model, its outputs typed by ONNX's shape inference."""
    graph = helper.make_graph(nodes, name, inputs, [], list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              ir_version=8)
    inferred = {vi.name: vi for vi in
                onnx.shape_inference.infer_shapes(model, strict_mode=True).graph.value_info}
    # (Function ops such as GroupNormalization are not inferred: float, no shape.)
    model.graph.output.extend(inferred.get(name) or helper.make_tensor_value_info(name, F, None)
                              for name in output_names)
    return model


def _in(name, shape, dtype=F):
    return helper.make_tensor_value_info(name, dtype, shape)


class _Builder:
    """Random initializers and feeds from one seed per model."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.inits = []

    def weight(self, name, shape, scale=None):
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        std = scale if scale is not None else 1.0 / np.sqrt(max(fan_in, 1))
        self.inits.append(numpy_helper.from_array(
            (self.rng.standard_normal(shape) * std).astype(np.float32), name))
        return name

    def ints(self, name, values):
        self.inits.append(numpy_helper.from_array(np.asarray(values, np.int64), name))
        return name

    def floats(self, name, values):
        self.inits.append(numpy_helper.from_array(np.asarray(values, np.float32), name))
        return name

    def feed(self, shape):
        return self.rng.standard_normal(shape).astype(np.float32)


def _unary_chain():
    ops = ["Relu", "Sigmoid", "Tanh", "Exp", "Neg", "Abs", "Erf", "Sin", "Cos", "Softplus",
           "Sqrt", "Log", "Reciprocal", "Floor", "Ceil", "Sign", "Round"]
    nodes, x = [], "x"
    for i, op in enumerate(ops):
        inp = x
        if op in ("Sqrt", "Log", "Reciprocal"):
            nodes.append(helper.make_node("Abs", [x], [f"abs{i}"]))
            nodes.append(helper.make_node("Add", [f"abs{i}", "one"], [f"pos{i}"]))
            inp = f"pos{i}"
        nodes.append(helper.make_node(op, [inp], [f"u{i}"]))
        x = f"u{i}"
    nodes.append(helper.make_node("Identity", [x], ["y"]))
    return nodes


def models():
    """[(name, ModelProto, feeds)] in a fixed order."""
    out = []

    def add(name, build, opset=OPSET, outputs=None):
        """`outputs`: the graph outputs (default: those of the last node)."""
        b = _Builder(len(out) + 1)
        nodes, inputs, feeds = build(b)
        names = outputs or [o for o in nodes[-1].output if o]
        out.append((name, _model(name, nodes, inputs, names, b.inits, opset), feeds))

    # Matrix products: plain, batched with broadcast, Gemm with transposes.
    add("matmul", lambda b: ([helper.make_node("MatMul", ["x", b.weight("w", [16, 8])], ["y"])],
                             [_in("x", [8, 16])], {"x": b.feed([8, 16])}))
    add("matmul_batched", lambda b: (
        [helper.make_node("MatMul", ["x", "z"], ["y"])],
        [_in("x", [4, 8, 16]), _in("z", [4, 16, 8])],
        {"x": b.feed([4, 8, 16]), "z": b.feed([4, 16, 8])}))
    add("matmul_broadcast", lambda b: (
        [helper.make_node("MatMul", ["x", b.weight("w", [2, 1, 16, 8])], ["y"])],
        [_in("x", [4, 8, 16])], {"x": b.feed([4, 8, 16])}))
    add("gemm_transposed", lambda b: (
        [helper.make_node("Gemm", ["x", b.weight("w", [8, 16]), b.weight("c", [8])], ["y"],
                          transA=1, transB=1, alpha=0.5, beta=2.0)],
        [_in("x", [16, 8])], {"x": b.feed([16, 8])}))

    # Convolutions: plain with bias, grouped, depthwise, strided; pools.
    def conv(group, cin, cout, bias, **attrs):
        def build(b):
            inputs = ["x", b.weight("w", [cout, cin // group, 3, 3])]
            if bias:
                inputs.append(b.weight("bias", [cout], 0.5))
            return ([helper.make_node("Conv", inputs, ["y"], group=group, pads=[1, 1, 1, 1],
                                      **attrs)],
                    [_in("x", [4, cin, 8, 8])], {"x": b.feed([4, cin, 8, 8])})
        return build
    add("conv_bias", conv(1, 8, 16, True))
    add("conv_grouped", conv(4, 16, 8, True))
    add("conv_depthwise", conv(8, 8, 8, True, strides=[2, 2]))
    add("conv_multiplier", conv(8, 8, 16, False))
    add("conv_transpose", lambda b: (
        [helper.make_node("ConvTranspose", ["x", b.weight("w", [8, 4, 3, 3]),
                                            b.weight("bias", [8], 0.5)], ["y"],
                          group=2, strides=[2, 2], pads=[1, 1, 0, 0], output_padding=[1, 1])],
        [_in("x", [4, 8, 4, 4])], {"x": b.feed([4, 8, 4, 4])}))
    add("pools", lambda b: (
        [helper.make_node("MaxPool", ["x"], ["m"], kernel_shape=[2, 2], strides=[2, 2]),
         helper.make_node("AveragePool", ["m"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
         helper.make_node("GlobalAveragePool", ["a"], ["y"])],
        [_in("x", [4, 8, 8, 8])], {"x": b.feed([4, 8, 8, 8])}))
    # LpPool with pads (they count as zeros) and p = 2 and 3.
    add("lppool", lambda b: (
        [helper.make_node("LpPool", ["x"], ["l"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], p=2),
         helper.make_node("LpPool", ["l"], ["y"], kernel_shape=[2, 2], strides=[2, 2], p=3)],
        [_in("x", [4, 8, 8, 8])], {"x": b.feed([4, 8, 8, 8])}))

    # Normalizations.
    add("batchnorm", lambda b: (
        [helper.make_node("BatchNormalization",
                          ["x", b.weight("s", [8], 1.0), b.weight("bb", [8], 1.0),
                           b.weight("mean", [8], 1.0), "var"], ["y"])],
        [_in("x", [4, 8, 4, 4]), _in("var", [8])],
        {"x": b.feed([4, 8, 4, 4]), "var": np.abs(b.feed([8])) + 0.5}))
    add("layernorm", lambda b: (
        [helper.make_node("LayerNormalization", ["x", b.weight("g", [16], 1.0),
                                                 b.weight("be", [16], 1.0)], ["y"], axis=-1)],
        [_in("x", [4, 8, 16])], {"x": b.feed([4, 8, 16])}))
    # RMSNormalization is an opset-23 operator.
    add("rmsnorm", lambda b: (
        [helper.make_node("RMSNormalization", ["x", b.weight("g", [4, 16], 1.0)], ["y"],
                          axis=-2, epsilon=1e-5)],
        [_in("x", [4, 8, 4, 16])], {"x": b.feed([4, 8, 4, 16])}), opset=23)
    add("instance_group_norm", lambda b: (
        [helper.make_node("InstanceNormalization", ["x", b.weight("s", [8], 1.0),
                                                    b.weight("t", [8], 1.0)], ["h"]),
         helper.make_node("GroupNormalization", ["h", b.weight("gs", [4], 1.0),
                                                 b.weight("gt", [4], 1.0)], ["y"],
                          num_groups=4)],
        [_in("x", [4, 8, 4, 4])], {"x": b.feed([4, 8, 4, 4])}))
    add("lrn", lambda b: (
        [helper.make_node("LRN", ["x"], ["y"], size=3, alpha=1e-2, beta=0.75, bias=1.0)],
        [_in("x", [4, 8, 4, 4])], {"x": b.feed([4, 8, 4, 4])}))
    add("softmaxes", lambda b: (
        [helper.make_node("Softmax", ["x"], ["s"], axis=-1),
         helper.make_node("LogSoftmax", ["s"], ["l"], axis=1),
         helper.make_node("CumSum", ["l", b.ints("ax", 2)], ["y"])],
        [_in("x", [4, 8, 16])], {"x": b.feed([4, 8, 16])}))

    # Reductions (kept and dropped dims), arg reductions.
    add("reductions", lambda b: (
        [helper.make_node("ReduceSum", ["x", b.ints("a1", [1])], ["s"], keepdims=1),
         helper.make_node("ReduceMax", ["x", b.ints("a2", [2])], ["m"], keepdims=1),
         helper.make_node("ReduceMean", ["x", b.ints("a3", [1, 2])], ["e"], keepdims=1),
         helper.make_node("Add", ["s", "m"], ["sm"]),
         helper.make_node("Add", ["sm", "e"], ["y"])],
        [_in("x", [4, 8, 16])], {"x": b.feed([4, 8, 16])}))
    add("reduce_min_prod", lambda b: (
        [helper.make_node("ReduceMin", ["x", b.ints("a1", [0])], ["m"], keepdims=0),
         helper.make_node("ReduceProd", ["m", b.ints("a2", [1])], ["y"], keepdims=0)],
        [_in("x", [4, 8, 2])], {"x": b.feed([4, 8, 2])}))
    add("argmax", lambda b: (
        [helper.make_node("ArgMax", ["x"], ["y"], axis=1, keepdims=1)],
        [_in("x", [4, 8, 16])], {"x": b.feed([4, 8, 16])}))

    # Shapes: reshape with compound factors, transpose, expand, concat, split,
    # slice, pad, tile, depth-to-space.
    add("reshape_transpose", lambda b: (
        [helper.make_node("Reshape", ["x", b.ints("s1", [4, 8, 4, 4])], ["r"]),
         helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3]),
         helper.make_node("Reshape", ["t", b.ints("s2", [16, 32])], ["y"])],
        [_in("x", [4, 8, 16])], {"x": b.feed([4, 8, 16])}))
    add("expand_concat_split", lambda b: (
        [helper.make_node("Expand", ["x", b.ints("shape", [4, 8, 16])], ["e"]),
         helper.make_node("Concat", ["e", "z"], ["c"], axis=2),
         helper.make_node("Split", ["c"], ["p", "q"], axis=1, num_outputs=2),
         helper.make_node("Mul", ["p", "q"], ["y"])],
        [_in("x", [8, 1]), _in("z", [4, 8, 8])], {"x": b.feed([8, 1]), "z": b.feed([4, 8, 8])}))
    add("slice_pad", lambda b: (
        [helper.make_node("Slice", ["x", b.ints("st", [0, 2]), b.ints("en", [8, 14]),
                                    b.ints("axes", [1, 2])], ["s"]),
         helper.make_node("Pad", ["s", b.ints("pads", [0, 0, 1, 0, 0, 1])], ["y"],
                          mode="reflect")],
        [_in("x", [4, 8, 16])], {"x": b.feed([4, 8, 16])}))
    add("tile_depth_to_space", lambda b: (
        [helper.make_node("Tile", ["x", b.ints("reps", [1, 2, 1, 1])], ["t"]),
         helper.make_node("DepthToSpace", ["t"], ["y"], blocksize=2, mode="CRD")],
        [_in("x", [4, 8, 4, 4])], {"x": b.feed([4, 8, 4, 4])}))

    # Indexing.
    add("gather_embedding", lambda b: (
        [helper.make_node("Gather", [b.weight("table", [16, 8], 1.0), "ids"], ["y"], axis=0)],
        [_in("ids", [4, 8], TensorProto.INT64)],
        {"ids": b.rng.integers(0, 16, size=(4, 8)).astype(np.int64)}))
    add("gather_elements", lambda b: (
        [helper.make_node("GatherElements", ["x", "idx"], ["y"], axis=1)],
        [_in("x", [4, 8, 16]), _in("idx", [4, 8, 16], TensorProto.INT64)],
        {"x": b.feed([4, 8, 16]), "idx": b.rng.integers(0, 8, size=(4, 8, 16)).astype(np.int64)}))
    add("gather_nd", lambda b: (
        [helper.make_node("GatherND", ["x", "idx"], ["y"], batch_dims=1)],
        [_in("x", [4, 8, 16]), _in("idx", [4, 2, 1], TensorProto.INT64)],
        {"x": b.feed([4, 8, 16]), "idx": b.rng.integers(0, 8, size=(4, 2, 1)).astype(np.int64)}))
    add("where_compare", lambda b: (
        [helper.make_node("Greater", ["x", "z"], ["g"]),
         helper.make_node("Where", ["g", "x", "z"], ["w"]),
         helper.make_node("Max", ["w", "z", "x"], ["m"]),
         helper.make_node("Div", ["m", b.weight("d", [16], 1.0)], ["y"])],
        [_in("x", [4, 8, 16]), _in("z", [8, 1])], {"x": b.feed([4, 8, 16]), "z": b.feed([8, 1])}))
    add("unary_chain", lambda b: (
        _unary_chain(), [_in("x", [4, 8]), _in("one", [1])],
        {"x": b.feed([4, 8]), "one": np.ones(1, np.float32)}))

    # An attention block: heads as a compound reshape factor, two batched
    # matmuls, a causal mask, softmax over keys.
    def attention(b):
        d, h, s = 16, 4, 8
        nodes = [
            helper.make_node("MatMul", ["x", b.weight("wq", [d, d])], ["q"]),
            helper.make_node("MatMul", ["x", b.weight("wk", [d, d])], ["k"]),
            helper.make_node("MatMul", ["x", b.weight("wv", [d, d])], ["v"]),
            helper.make_node("Reshape", ["q", b.ints("hs", [2, s, h, d // h])], ["q4"]),
            helper.make_node("Reshape", ["k", "hs"], ["k4"]),
            helper.make_node("Reshape", ["v", "hs"], ["v4"]),
            helper.make_node("Transpose", ["q4"], ["qt"], perm=[0, 2, 1, 3]),
            helper.make_node("Transpose", ["k4"], ["kt"], perm=[0, 2, 3, 1]),
            helper.make_node("Transpose", ["v4"], ["vt"], perm=[0, 2, 1, 3]),
            helper.make_node("MatMul", ["qt", "kt"], ["scores"]),
            helper.make_node("Add", ["scores", "mask"], ["masked"]),
            helper.make_node("Softmax", ["masked"], ["p"], axis=-1),
            helper.make_node("MatMul", ["p", "vt"], ["o"]),
            helper.make_node("Transpose", ["o"], ["ot"], perm=[0, 2, 1, 3]),
            helper.make_node("Reshape", ["ot", b.ints("flat", [2, s, d])], ["of"]),
            helper.make_node("MatMul", ["of", b.weight("wo", [d, d])], ["y"]),
        ]
        mask = np.triu(np.full((s, s), -1e9, np.float32), 1)
        b.inits.append(numpy_helper.from_array(mask, "mask"))
        return nodes, [_in("x", [2, s, d])], {"x": b.feed([2, s, d])}
    add("attention", attention)

    # Classification losses: NLL over [N, C, d] with class weights and an
    # ignored label (some targets carry it), SCE with its log_prob output.
    def losses(b):
        n, c, d = 8, 16, 4
        target = b.rng.integers(0, c, (n, d)).astype(np.int64)
        target[b.rng.random((n, d)) < 0.25] = -1
        nodes = [
            helper.make_node("MatMul", ["x", b.weight("w", [c, c])], ["scores"]),
            helper.make_node("Transpose", ["scores"], ["st"], perm=[0, 2, 1]),
            helper.make_node("LogSoftmax", ["st"], ["lp"], axis=1),
            helper.make_node("NegativeLogLikelihoodLoss", ["lp", "t", b.weight("cw", [c], 1.0)],
                             ["nll"], ignore_index=-1, reduction="mean"),
            helper.make_node("SoftmaxCrossEntropyLoss", ["st", "t"], ["sce", "logp"],
                             ignore_index=-1, reduction="sum"),
            helper.make_node("SoftmaxCrossEntropyLoss", ["st", "t"], ["sce_none"],
                             ignore_index=-1, reduction="none"),
        ]
        inputs = [_in("x", [n, d, c]), _in("t", [n, d], TensorProto.INT64)]
        return nodes, inputs, {"x": b.feed([n, d, c]), "t": target}
    add("losses", losses, opset=13, outputs=["nll", "sce", "logp", "sce_none"])

    # The same block with opset 23's operators: RoPE on 3-D Q and K, then
    # Attention with GQA (4 query heads over 2 KV heads), a kv cache, a causal
    # frontier offset by the cache and a boolean mask; the present cache and
    # the softmax probabilities are outputs too.
    def attention23(b):
        d, h, kvh, s, past, hd = 32, 4, 2, 8, 4, 8
        rng = b.rng
        angles = np.arange(s + past)[:, None] * (10000.0 ** (-np.arange(hd // 2) / (hd // 2)))
        b.inits.append(numpy_helper.from_array(np.cos(angles).astype(np.float32), "cos"))
        b.inits.append(numpy_helper.from_array(np.sin(angles).astype(np.float32), "sin"))
        b.ints("pos", np.tile(np.arange(past, past + s), (2, 1)))
        nodes = [
            helper.make_node("MatMul", ["x", b.weight("wq", [d, h * hd])], ["q"]),
            helper.make_node("MatMul", ["x", b.weight("wk", [d, kvh * hd])], ["k"]),
            helper.make_node("MatMul", ["x", b.weight("wv", [d, kvh * hd])], ["v"]),
            helper.make_node("RotaryEmbedding", ["q", "cos", "sin", "pos"], ["qr"], num_heads=h),
            helper.make_node("RotaryEmbedding", ["k", "cos", "sin", "pos"], ["kr"],
                             num_heads=kvh, interleaved=1),
            helper.make_node("Attention", ["qr", "kr", "v", "mask", "past_k", "past_v"],
                             ["o", "present_k", "present_v", "probs"], q_num_heads=h,
                             kv_num_heads=kvh, is_causal=1, qk_matmul_output_mode=3),
            helper.make_node("MatMul", ["o", b.weight("wo", [h * hd, d])], ["y"]),
        ]
        mask = rng.random((2, 1, s, s + past)) > 0.2
        inputs = [_in("x", [2, s, d]), _in("mask", [2, 1, s, s + past], TensorProto.BOOL),
                  _in("past_k", [2, kvh, past, hd]), _in("past_v", [2, kvh, past, hd])]
        feeds = {"x": b.feed([2, s, d]), "mask": mask, "past_k": b.feed([2, kvh, past, hd]),
                 "past_v": b.feed([2, kvh, past, hd])}
        return nodes, inputs, feeds
    add("attention23", attention23, opset=23,
        outputs=["y", "present_k", "present_v", "probs"])

    # 4-D Attention with softcap, a float mask (onnxruntime needs it as long as the keys)
    # and the biased scores as the extra output.
    def attention23_4d(b):
        bsz, h, s, kv, hd = 2, 4, 8, 6, 8
        nodes = [helper.make_node("Attention", ["q", "k", "v", b.weight("fmask", [s, kv])],
                                  ["y", "", "", "scores"], softcap=2.0,
                                  qk_matmul_output_mode=2, scale=0.3)]
        inputs = [_in("q", [bsz, h, s, hd]), _in("k", [bsz, h, kv, hd]),
                  _in("v", [bsz, h, kv, hd])]
        feeds = {"q": b.feed([bsz, h, s, hd]), "k": b.feed([bsz, h, kv, hd]),
                 "v": b.feed([bsz, h, kv, hd])}
        return nodes, inputs, feeds
    add("attention23_4d", attention23_4d, opset=23)
    # Resize: per-axis matrices (matmuls) for linear and cubic, gathers for
    # nearest, where() for tf_crop_and_resize's extrapolation.
    # (Last, so that the models before keep their seeds.)
    add("resize_linear_up", lambda b: (
        [helper.make_node("Resize", ["x", "", b.floats("sc", [1, 1, 2, 2])], ["y"],
                          mode="linear")],
        [_in("x", [4, 8, 4, 4])], {"x": b.feed([4, 8, 4, 4])}))
    add("resize_cubic_down", lambda b: (
        [helper.make_node("Resize", ["x", "", "", b.ints("sz", [4, 8, 4, 2])], ["y"],
                          mode="cubic", antialias=1, exclude_outside=1)],
        [_in("x", [4, 8, 8, 8])], {"x": b.feed([4, 8, 8, 8])}))
    add("resize_nearest", lambda b: (
        [helper.make_node("Resize", ["x", "", "", b.ints("sz", [6, 12])], ["y"],
                          mode="nearest", axes=[3, 2], nearest_mode="round_prefer_ceil",
                          coordinate_transformation_mode="asymmetric")],
        [_in("x", [4, 8, 8, 4])], {"x": b.feed([4, 8, 8, 4])}))
    add("resize_crop", lambda b: (
        [helper.make_node("Resize", ["x", b.floats("roi", [0.2, -0.2, 0.9, 1.1]), "",
                                     b.ints("sz", [4, 6])], ["y"],
                          mode="linear", axes=[2, 3], extrapolation_value=2.0,
                          coordinate_transformation_mode="tf_crop_and_resize")],
        [_in("x", [4, 8, 8, 8])], {"x": b.feed([4, 8, 8, 8])}))
    # More losses (the "losses" model is 3-D, weighted mean and SCE sum): a 4-D
    # weighted mean NLL and an SCE mean with log_prob, targets carrying the
    # ignored label -1 (outside [0, C): never gathered). Last, for the seeds.
    def targets(b, shape, classes):
        t = b.rng.integers(0, classes, size=shape)
        t[b.rng.random(shape) < 0.25] = -1
        return t.astype(np.int64)
    add("nllloss_4d_weight_ii_mean", lambda b: (
        [helper.make_node("NegativeLogLikelihoodLoss", ["x", "t", b.weight("w", [8], 1.0)],
                          ["y"], reduction="mean", ignore_index=-1)],
        [_in("x", [4, 8, 4, 4]), _in("t", [4, 4, 4], TensorProto.INT64)],
        {"x": b.feed([4, 8, 4, 4]), "t": targets(b, [4, 4, 4], 8)}), opset=13)
    add("sce_mean_log_prob", lambda b: (
        [helper.make_node("SoftmaxCrossEntropyLoss", ["x", "t"], ["y", "log_prob"],
                          reduction="mean", ignore_index=-1)],
        [_in("x", [4, 8, 16]), _in("t", [4, 16], TensorProto.INT64)],
        {"x": b.feed([4, 8, 16]), "t": targets(b, [4, 16], 8)}), opset=13)
    # Recurrent operators, unrolled over time (per step a matmul, gate
    # elementwise ops and where() masks of the per-row sequence_lens): an LSTM
    # with peepholes and initial states, a bidirectional GRU with
    # linear_before_reset. Batch and hidden sizes split 4 ways. Last, for the seeds.
    def lens(b, batch, seq):
        return b.rng.integers(1, seq + 1, size=batch).astype(np.int32)
    add("lstm_peepholes_seq_lens", lambda b: (
        [helper.make_node("LSTM", ["x", b.weight("w", [1, 32, 16]), b.weight("r", [1, 32, 8]),
                                   b.weight("b", [1, 64]), "lens", b.weight("h0", [1, 8, 8], 0.5),
                                   b.weight("c0", [1, 8, 8], 0.5), b.weight("p", [1, 24], 0.5)],
                          ["y", "y_h", "y_c"], hidden_size=8)],
        [_in("x", [5, 8, 16]), _in("lens", [8], TensorProto.INT32)],
        {"x": b.feed([5, 8, 16]), "lens": lens(b, 8, 5)}), opset=14)
    add("gru_bidirectional", lambda b: (
        [helper.make_node("GRU", ["x", b.weight("w", [2, 24, 12]), b.weight("r", [2, 24, 8]),
                                  b.weight("b", [2, 48]), "lens"],
                          ["y", "y_h"], hidden_size=8, direction="bidirectional",
                          linear_before_reset=1)],
        [_in("x", [4, 8, 12]), _in("lens", [8], TensorProto.INT32)],
        {"x": b.feed([4, 8, 12]), "lens": lens(b, 8, 4)}), opset=14)
    # Quantization (last, for the seeds). The integer products are exact float64
    # matmuls / convs, so every sharding gives the same integers; the
    # DequantizeLinear -> MatMul -> QuantizeLinear chain uses power-of-two
    # scales, which keep its float32 sums exact in any order too.
    U8 = TensorProto.UINT8

    def qparam(b, name, values, dtype):
        b.inits.append(numpy_helper.from_array(np.asarray(values, dtype), name))
        return name

    def u8(b, shape):
        return b.rng.integers(0, 256, size=shape).astype(np.uint8)

    def qlinear_matmul(b):
        b.inits.append(numpy_helper.from_array(u8(b, [16, 8]), "w"))
        names = ["a", qparam(b, "as", 0.02, np.float32), qparam(b, "az", 120, np.uint8), "w",
                 qparam(b, "ws", b.rng.random(8) * 0.02 + 0.01, np.float32),
                 qparam(b, "wz", b.rng.integers(100, 150, 8), np.uint8),
                 qparam(b, "ys", 0.4, np.float32), qparam(b, "yz", 128, np.uint8)]
        return ([helper.make_node("QLinearMatMul", names, ["y"])],
                [_in("a", [4, 8, 16], U8)], {"a": u8(b, [4, 8, 16])})
    add("qlinear_matmul", qlinear_matmul)

    def dq_matmul_q(b):
        b.inits.append(numpy_helper.from_array(u8(b, [16, 8]), "wq"))
        nodes = [
            helper.make_node("DequantizeLinear", ["xq", qparam(b, "xs", 2.0 ** -4, np.float32),
                                                  qparam(b, "xz", 128, np.uint8)], ["x"]),
            helper.make_node("DequantizeLinear",
                             ["wq", qparam(b, "ws", 2.0 ** -b.rng.integers(5, 8, 8), np.float32),
                              qparam(b, "wz", b.rng.integers(110, 140, 8), np.uint8)], ["w"],
                             axis=1),
            helper.make_node("MatMul", ["x", "w"], ["m"]),
            helper.make_node("QuantizeLinear", ["m", qparam(b, "ys", 0.5, np.float32),
                                                qparam(b, "yz", 128, np.uint8)], ["y"])]
        return nodes, [_in("xq", [8, 16], U8)], {"xq": u8(b, [8, 16])}
    add("dq_matmul_q", dq_matmul_q, opset=13)

    def qlinear_conv(b):
        b.inits.append(numpy_helper.from_array(u8(b, [8, 4, 3, 3]), "w"))
        names = ["x", qparam(b, "xs", 0.02, np.float32), qparam(b, "xz", 128, np.uint8), "w",
                 qparam(b, "ws", b.rng.random(8) * 0.02 + 0.01, np.float32),
                 qparam(b, "wz", b.rng.integers(100, 150, 8), np.uint8),
                 qparam(b, "ys", 0.4, np.float32), qparam(b, "yz", 128, np.uint8),
                 qparam(b, "B", b.rng.integers(-2000, 2000, 8), np.int32)]
        return ([helper.make_node("QLinearConv", names, ["y"], group=2, pads=[1, 1, 1, 1])],
                [_in("x", [4, 8, 4, 4], U8)], {"x": u8(b, [4, 8, 4, 4])})
    add("qlinear_conv", qlinear_conv)
    add("dynamic_quantize", lambda b: (
        [helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "ys", "yz"])],
        [_in("x", [4, 8, 16])], {"x": b.feed([4, 8, 16])}), opset=11,
        outputs=["y", "ys", "yz"])
    # TopK (K rounds of arg_max over a score), the scatters (comparisons of
    # every data position with every update's target, then a select or a
    # reduction) and Einsum (diagonal, sums, matmuls). Last, for the seeds.
    add("topk_largest", lambda b: (
        [helper.make_node("TopK", ["x", b.ints("k", [3])], ["v", "i"], axis=1)],
        [_in("x", [4, 8, 16])], {"x": b.feed([4, 8, 16])}), opset=11)
    add("topk_smallest_last_axis", lambda b: (
        [helper.make_node("TopK", ["x", b.ints("k", [4])], ["v", "i"], axis=-1, largest=0)],
        [_in("x", [4, 8, 16])], {"x": b.feed([4, 8, 16])}), opset=11)
    add("scatter_elements_none", lambda b: (
        [helper.make_node("ScatterElements", ["x", "idx", "u"], ["y"], axis=1)],
        [_in("x", [4, 8, 16]), _in("idx", [4, 4, 16], TensorProto.INT64), _in("u", [4, 4, 16])],
        {"x": b.feed([4, 8, 16]), "u": b.feed([4, 4, 16]),
         "idx": b.rng.integers(-8, 8, size=(4, 4, 16)).astype(np.int64)}))
    add("scatter_elements_add", lambda b: (
        [helper.make_node("ScatterElements", ["x", "idx", "u"], ["y"], axis=2,
                          reduction="add")],
        [_in("x", [4, 8, 16]), _in("idx", [4, 4, 8], TensorProto.INT64), _in("u", [4, 4, 8])],
        {"x": b.feed([4, 8, 16]), "u": b.feed([4, 4, 8]),
         "idx": b.rng.integers(-16, 16, size=(4, 4, 8)).astype(np.int64)}))
    add("scatter_nd_none", lambda b: (
        [helper.make_node("ScatterND", ["x", b.ints("idx", [[[1, 2]], [[3, 0]], [[0, 5]],
                                                            [[2, 7]]]), "u"], ["y"])],
        [_in("x", [4, 8, 16]), _in("u", [4, 1, 16])],
        {"x": b.feed([4, 8, 16]), "u": b.feed([4, 1, 16])}))
    add("scatter_nd_max", lambda b: (
        [helper.make_node("ScatterND", ["x", "idx", "u"], ["y"], reduction="max")],
        [_in("x", [8, 4, 8]), _in("idx", [4, 2, 1], TensorProto.INT64), _in("u", [4, 2, 4, 8])],
        {"x": b.feed([8, 4, 8]), "u": b.feed([4, 2, 4, 8]),
         "idx": b.rng.integers(-8, 8, size=(4, 2, 1)).astype(np.int64)}))
    add("einsum_attention_scores", lambda b: (
        [helper.make_node("Einsum", ["q", "k"], ["y"], equation="bhqd,bhkd->bhqk")],
        [_in("q", [4, 2, 8, 16]), _in("k", [4, 2, 8, 16])],
        {"q": b.feed([4, 2, 8, 16]), "k": b.feed([4, 2, 8, 16])}), opset=12)
    add("einsum_diag_sum_chain", lambda b: (
        [helper.make_node("Einsum", ["x", b.weight("w", [8, 16]), "z"], ["y"],
                          equation="...ii,ij,bj->b...")],
        [_in("x", [4, 8, 8]), _in("z", [4, 16])],
        {"x": b.feed([4, 8, 8]), "z": b.feed([4, 16])}), opset=12)
    # CumProd (pmc.cumprod, its axis whole) and GridSample (gathers of the
    # neighbours from X as rows [N * S, C], weighted sums). Last, for the seeds.
    add("cumprod_exclusive_reverse", lambda b: (
        [helper.make_node("CumProd", ["x", b.ints("ax", 1)], ["y"], exclusive=1, reverse=1)],
        [_in("x", [4, 8, 16])], {"x": b.rng.uniform(0.5, 1.5, (4, 8, 16)).astype(np.float32)}),
        opset=26)
    add("gridsample_bilinear_zeros", lambda b: (
        [helper.make_node("GridSample", ["x", "g"], ["y"], mode="bilinear")],
        [_in("x", [4, 8, 8, 8]), _in("g", [4, 4, 8, 2])],
        {"x": b.feed([4, 8, 8, 8]),
         "g": b.rng.uniform(-1.2, 1.2, (4, 4, 8, 2)).astype(np.float32)}), opset=16)
    add("gridsample_cubic_reflection", lambda b: (
        [helper.make_node("GridSample", ["x", "g"], ["y"], mode="cubic",
                          padding_mode="reflection", align_corners=1)],
        [_in("x", [4, 8, 4, 8]), _in("g", [4, 8, 4, 2])],
        {"x": b.feed([4, 8, 4, 8]),
         "g": b.rng.uniform(-1.5, 1.5, (4, 8, 4, 2)).astype(np.float32)}), opset=20)
    add("gridsample_volume_nearest_border", lambda b: (
        [helper.make_node("GridSample", ["x", "g"], ["y"], mode="nearest",
                          padding_mode="border")],
        [_in("x", [4, 4, 4, 4, 8]), _in("g", [4, 4, 4, 4, 3])],
        {"x": b.feed([4, 4, 4, 4, 8]),
         "g": b.rng.uniform(-1.3, 1.3, (4, 4, 4, 4, 3)).astype(np.float32)}), opset=20)
    # Det (an unrolled LU over the batch), the ops whose shapes come from a
    # constant operand (Compress, NonZero, MaxUnpool), control flow unrolled
    # while importing (If, Loop, Scan), spectral ops and sequences.
    add("det_batched", lambda b: (
        [helper.make_node("MatMul", ["x", b.weight("w", [4, 4], scale=0.7)], ["xw"]),
         helper.make_node("Det", ["xw"], ["y"])],
        [_in("x", [8, 4, 4])], {"x": b.feed([8, 4, 4])}))
    add("compress_nonzero_gather", _compress_nonzero)
    add("maxunpool", _maxunpool, opset=11)
    add("if_loop_scan", _control_flow, outputs=["y_if", "h_final", "s_final", "s_steps"])
    add("dft_stft", _spectral, opset=20, outputs=["spectrum", "frames"])
    add("sequence_map_concat", _sequence_map)
    return out


def _compress_nonzero(b):
    mask = (b.rng.uniform(size=16) < 0.5) | (np.arange(16) % 5 == 0)
    b.inits.append(numpy_helper.from_array(mask, "mask"))
    return ([helper.make_node("Compress", ["x", "mask"], ["kept"], axis=1),
             helper.make_node("NonZero", ["mask"], ["nz"]),
             helper.make_node("Squeeze", ["nz", b.ints("zero", [0])], ["idx"]),
             helper.make_node("Gather", ["x", "idx"], ["gathered"], axis=1),
             helper.make_node("Mul", ["kept", "gathered"], ["y"])],
            [_in("x", [8, 16])], {"x": b.feed([8, 16])})


def _maxunpool(b):
    # Indices as MaxPool(kernel 2, stride 2) gives them: one position of each
    # 2x2 window of the 8x8 output, flattened over N, C, H, W.
    n, c, h, w = 4, 8, 4, 4
    nn, cc, ii, jj = np.meshgrid(range(n), range(c), range(h), range(w), indexing="ij")
    di, dj = b.rng.integers(0, 2, (n, c, h, w)), b.rng.integers(0, 2, (n, c, h, w))
    index = (((nn * c + cc) * 2 * h + 2 * ii + di) * 2 * w + 2 * jj + dj).astype(np.int64)
    b.inits.append(numpy_helper.from_array(index, "indices"))
    return ([helper.make_node("MaxUnpool", ["x", "indices"], ["y"], kernel_shape=[2, 2],
                              strides=[2, 2])],
            [_in("x", [n, c, h, w])], {"x": b.feed([n, c, h, w])})


def _control_flow(b):
    """If on a constant condition, a Loop of 3 steps h <- tanh(h w), a Scan
    summing the rows of x."""
    w = b.weight("w", [16, 16])
    then_branch = helper.make_graph(
        [helper.make_node("MatMul", ["x", w], ["t"])], "then", [], [_in("t", [8, 16])])
    else_branch = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["e"])], "else", [], [_in("e", [8, 16])])
    loop_body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("MatMul", ["h", w], ["hw"]),
         helper.make_node("Tanh", ["hw"], ["h_next"])],
        "loop_body", [_in("i", [], TensorProto.INT64), _in("cond_in", [], TensorProto.BOOL),
                      _in("h", [8, 16])],
        [_in("cond_out", [], TensorProto.BOOL), _in("h_next", [8, 16])])
    scan_body = helper.make_graph(
        [helper.make_node("Add", ["s", "row"], ["s_next"]),
         helper.make_node("Mul", ["s_next", "row"], ["step"])],
        "scan_body", [_in("s", [16]), _in("row", [16])], [_in("s_next", [16]), _in("step", [16])])
    b.inits.append(numpy_helper.from_array(np.array(True), "yes"))
    b.inits.append(numpy_helper.from_array(np.array(3, np.int64), "trips"))
    b.inits.append(numpy_helper.from_array(np.zeros(16, np.float32), "s0"))
    return ([helper.make_node("If", ["yes"], ["y_if"], then_branch=then_branch,
                              else_branch=else_branch),
             helper.make_node("Loop", ["trips", "", "y_if"], ["h_final"], body=loop_body),
             helper.make_node("Scan", ["s0", "x"], ["s_final", "s_steps"], body=scan_body,
                              num_scan_inputs=1)],
            [_in("x", [8, 16])], {"x": b.feed([8, 16])})


def _spectral(b):
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(16) / 16)).astype(np.float32)
    b.inits.append(numpy_helper.from_array(window, "window"))
    return ([helper.make_node("DFT", ["x", "", b.ints("axis", 1)], ["spectrum"]),
             # (onesided=0: onnx 1.23's shape inference ignores onesided.)
             helper.make_node("STFT", ["signal", b.ints("step", 8), "window"], ["frames"],
                              onesided=0)],
            [_in("x", [4, 16, 1]), _in("signal", [4, 64, 1])],
            {"x": b.feed([4, 16, 1]), "signal": b.feed([4, 64, 1])})


def _sequence_map(b):
    w = b.weight("w", [16, 8])
    body = helper.make_graph(
        [helper.make_node("MatMul", ["e", w], ["ew"]), helper.make_node("Relu", ["ew"], ["o"])],
        "body", [helper.make_tensor_value_info("e", F, None)],
        [helper.make_tensor_value_info("o", F, None)])
    return ([helper.make_node("SplitToSequence", ["x", b.ints("sizes", [2, 2, 4])], ["seq"],
                              axis=0),
             helper.make_node("SequenceMap", ["seq"], ["mapped"], body=body),
             helper.make_node("ConcatFromSequence", ["mapped"], ["y"], axis=0)],
            [_in("x", [8, 16])], {"x": b.feed([8, 16])})
