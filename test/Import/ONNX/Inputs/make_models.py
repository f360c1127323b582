"""Writes the small ONNX models of the importer's lit tests into a folder.

usage: make_models.py OUT_DIR
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def model(name, nodes, inputs, outputs, initializers=(), opset=OPSET):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(initializers))
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def const(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


F = TensorProto.FLOAT
I64 = TensorProto.INT64


def mlp():
    rng = np.random.default_rng(0)
    return model("mlp", [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc1"),
        helper.make_node("Add", ["h", "b1"], ["hb"], name="fc1_bias"),
        helper.make_node("Relu", ["hb"], ["r"]),  # unnamed: Relu_2
        helper.make_node("MatMul", ["r", "w2"], ["z"], name="fc2"),
        helper.make_node("Softmax", ["z"], ["y"], name="softmax", axis=-1),
    ], [vi("x", F, [2, 4])], [vi("y", F, [2, 3])], [
        const("w1", rng.standard_normal((4, 8)).astype(np.float32)),
        const("b1", np.arange(8, dtype=np.float32)),
        # 40 x 3 would be small; this one is large enough to be a resource.
        const("w2", rng.standard_normal((8, 3)).astype(np.float32)),
    ])


def big_weight():
    w = np.ones((64, 32), dtype=np.float32)  # 2048 elements: a dense resource
    return model("big", [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
                 [vi("x", F, [1, 64])], [vi("y", F, [1, 32])], [const("w", w)])


def gemm():
    return model("gemm", [
        helper.make_node("Gemm", ["a", "b", "c"], ["y"], name="g_plain"),
        helper.make_node("Gemm", ["a", "bt", "c"], ["y2"], name="g_trans",
                         transB=1, alpha=0.5, beta=2.0),
        helper.make_node("Gemm", ["at", "b"], ["y3"], name="g_transa", transA=1),
        helper.make_node("MatMul", ["v", "b"], ["y4"], name="vec_mat"),
        helper.make_node("MatMul", ["a", "u"], ["y5"], name="mat_vec"),
    ], [vi("a", F, [2, 3]), vi("at", F, [3, 2]), vi("v", F, [3]), vi("u", F, [3])],
        [vi("y", F, [2, 4]), vi("y2", F, [2, 4]), vi("y3", F, [2, 4]),
         vi("y4", F, [4]), vi("y5", F, [2])], [
        const("b", np.ones((3, 4), np.float32)),
        const("bt", np.ones((4, 3), np.float32)),
        const("c", np.array([1, 2, 3, 4], np.float32)),
    ])


def conv():
    return model("conv", [
        helper.make_node("Conv", ["x", "w", "bias"], ["c"], name="conv_same",
                         auto_pad="SAME_UPPER", strides=[2, 2]),
        helper.make_node("MaxPool", ["c"], ["p"], name="pool_ceil",
                         kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
        helper.make_node("AveragePool", ["x"], ["a"], name="avg_pad",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1),
        helper.make_node("GlobalAveragePool", ["a"], ["g"], name="gap"),
        helper.make_node("Conv", ["x", "wg"], ["d"], name="conv_group",
                         group=3, dilations=[2, 2], pads=[0, 1, 2, 3]),
    ], [vi("x", F, [1, 3, 9, 9])],
        [vi("p", F, [1, 4, 2, 2]), vi("g", F, [1, 3, 1, 1]), vi("d", F, [1, 6, 9, 11])], [
        const("w", np.ones((4, 3, 3, 3), np.float32)),
        const("bias", np.zeros(4, np.float32)),
        const("wg", np.ones((6, 1, 2, 2), np.float32)),
    ])


def shape_chain():
    # What torch.onnx exports for x.view(x.size(0), -1).
    return model("shape_chain", [
        helper.make_node("Shape", ["x"], ["s"], name="shape"),
        helper.make_node("Constant", [], ["zero"], name="zero",
                         value=helper.make_tensor("zero", I64, [], [0])),
        helper.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
        helper.make_node("Constant", [], ["ax"], name="ax", value_ints=[0]),
        helper.make_node("Unsqueeze", ["n", "ax"], ["n1"], name="unsqueeze"),
        helper.make_node("Constant", [], ["m1"], name="m1", value_ints=[-1]),
        helper.make_node("Concat", ["n1", "m1"], ["shape2"], name="concat", axis=0),
        helper.make_node("Reshape", ["x", "shape2"], ["y"], name="reshape"),
        helper.make_node("Shape", ["x"], ["tail"], name="shape_tail", start=-2),
        helper.make_node("Cast", ["tail"], ["tailf"], name="cast", to=F),
        helper.make_node("Mul", ["tailf", "tailf"], ["sq"], name="square"),
    ], [vi("x", F, [2, 3, 4])], [vi("y", F, [2, 12]), vi("sq", F, [2])])


def slices():
    big = np.iinfo(np.int64).max
    return model("slices", [
        helper.make_node("Slice", ["x", "s", "e", "a", "st"], ["rev"], name="reverse"),
        helper.make_node("Slice", ["x", "s2", "e2"], ["mid"], name="clamped"),
    ], [vi("x", F, [4, 6])], [vi("rev", F, [4, 3]), vi("mid", F, [2, 6])], [
        const("s", np.array([-1], np.int64)), const("e", np.array([-big], np.int64)),
        const("a", np.array([-1], np.int64)), const("st", np.array([-2], np.int64)),
        const("s2", np.array([2], np.int64)), const("e2", np.array([100], np.int64)),
    ])


def split():
    return model("split", [
        helper.make_node("Split", ["x", "sizes"], ["a", "b"], name="split_sizes", axis=1),
        helper.make_node("Split", ["x"], ["c", "d", "e"], name="split_even", axis=0),
    ], [vi("x", F, [6, 5])],
        [vi("a", F, [6, 2]), vi("b", F, [6, 3]), vi("c", F, [2, 5]),
         vi("d", F, [2, 5]), vi("e", F, [2, 5])],
        [const("sizes", np.array([2, 3], np.int64))])


def split18():
    return model("split18", [
        helper.make_node("Split", ["x"], ["a", "b", "c"], name="split_n", axis=0,
                         num_outputs=3),
    ], [vi("x", F, [7])], [vi("a", F, [3]), vi("b", F, [3]), vi("c", F, [1])],
        opset=18)


def typed_fields():
    def t(name, dtype, dims, vals, **kw):
        return helper.make_tensor(name, dtype, dims, vals, **kw)
    inits = [
        t("f32", F, [2], [1.5, -2.0]),
        t("f64", TensorProto.DOUBLE, [2], [0.25, 4.0]),
        t("i8", TensorProto.INT8, [3], [-1, 2, 127]),
        t("u16", TensorProto.UINT16, [2], [7, 65535]),
        t("i64", I64, [2], [-5, 1 << 40]),
        t("u64", TensorProto.UINT64, [1], [1 << 63]),
        t("b", TensorProto.BOOL, [3], [True, False, True]),
        # float16 values travel as their bit patterns in int32_data.
        t("f16", TensorProto.FLOAT16, [2],
          [1.0, -0.5]),
        t("raw", TensorProto.INT32, [2], np.array([3, -4], np.int32).tobytes(), raw=True),
    ]
    names = [i.name for i in inits]
    nodes = [helper.make_node("Identity", [n], ["o_" + n], name="id_" + n)
             for n in names]
    outs = [vi("o_" + i.name, i.data_type, list(i.dims)) for i in inits]
    return model("typed", nodes, [], outs, inits)


def external(folder, location, name="external", write=True):
    w = np.arange(2048, dtype=np.float32).reshape(64, 32)
    small = np.array([1.0, 2.0], np.float32)
    if write:
        with open(os.path.join(folder, location), "wb") as f:
            f.write(small.tobytes())
            f.write(w.tobytes())
    init_w = TensorProto(name="w", data_type=F, dims=[64, 32])
    init_s = TensorProto(name="s", data_type=F, dims=[2])
    for init, offset, length in ((init_s, 0, 8), (init_w, 8, w.nbytes)):
        init.data_location = TensorProto.EXTERNAL
        for k, v in (("location", location), ("offset", str(offset)),
                     ("length", str(length))):
            entry = init.external_data.add()
            entry.key, entry.value = k, v
    return model(name, [
        helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
        helper.make_node("Slice", ["s", "st", "en"], ["s1"], name="first"),
        helper.make_node("Expand", ["s1", "shp"], ["s2"], name="expand"),
        helper.make_node("Add", ["h", "s2"], ["y"], name="add"),
    ], [vi("x", F, [1, 64])], [vi("y", F, [1, 32])],
        [init_w, init_s, const("st", np.array([0], np.int64)),
         const("en", np.array([1], np.int64)), const("shp", np.array([32], np.int64))])


def ops():
    x = vi("x", F, [2, 3, 4])
    return model("ops", [
        helper.make_node("LayerNormalization", ["x", "g", "beta"], ["ln", "mean", "inv"],
                         name="ln", axis=-1, epsilon=1e-6),
        helper.make_node("ReduceMean", ["x"], ["rm"], name="rmean", axes=[-1, 0],
                         keepdims=0),
        helper.make_node("ReduceSum", ["x", "rax"], ["rs"], name="rsum"),
        helper.make_node("Transpose", ["x"], ["tr"], name="tr"),
        helper.make_node("Flatten", ["x"], ["fl"], name="fl", axis=-1),
        helper.make_node("Unsqueeze", ["x", "uax"], ["un"], name="un"),
        helper.make_node("Squeeze", ["un", "uax"], ["sq"], name="sq"),
        helper.make_node("Less", ["x", "half"], ["lt"], name="lt"),
        helper.make_node("Where", ["lt", "x", "half"], ["wh"], name="wh"),
        helper.make_node("Max", ["x", "half", "wh"], ["mx"], name="mx"),
        helper.make_node("Dropout", ["mx"], ["dr", "mask"], name="dr"),
        helper.make_node("ConstantOfShape", ["cshape"], ["cos"], name="cos",
                         value=helper.make_tensor("v", I64, [1], [7])),
        helper.make_node("Range", ["r0", "r1", "r2"], ["rg"], name="rg"),
        helper.make_node("Gelu", ["x"], ["ge"], name="ge", approximate="tanh"),
        helper.make_node("BatchNormalization", ["x4", "bn_s", "bn_b", "bn_m", "bn_v"],
                         ["bn"], name="bn"),
        helper.make_node("Gather", ["x", "gidx"], ["ga"], name="ga", axis=-1),
    ], [x, vi("x4", F, [1, 2, 3, 3])],
        [vi("ln", F, None), vi("mean", F, None), vi("rm", F, None), vi("rs", F, None),
         vi("tr", F, None), vi("fl", F, None), vi("sq", F, None), vi("dr", F, None),
         vi("mask", TensorProto.BOOL, None), vi("cos", I64, None),
         vi("rg", I64, None), vi("ge", F, None), vi("bn", F, None), vi("ga", F, None)],
        [const("g", np.ones(4, np.float32)), const("beta", np.zeros(4, np.float32)),
         const("rax", np.array([1], np.int64)), const("uax", np.array([0, -1], np.int64)),
         const("half", np.array(0.5, np.float32)), const("cshape", np.array([2, 2], np.int64)),
         const("r0", np.array(1, np.int64)), const("r1", np.array(10, np.int64)),
         const("r2", np.array(3, np.int64)),
         const("bn_s", np.ones(2, np.float32)), const("bn_b", np.zeros(2, np.float32)),
         const("bn_m", np.zeros(2, np.float32)), const("bn_v", np.ones(2, np.float32)),
         const("gidx", np.array([[0, -1]], np.int64))], opset=18)


def extension():
    """Operators of the extension: decompositions and the new pmc ops."""
    x = vi("x", F, [2, 3])
    return model("extension", [
        helper.make_node("HardSigmoid", ["x"], ["hs"], name="hs", alpha=0.25),
        helper.make_node("Clip", ["x", "lo"], ["cl"], name="cl"),
        helper.make_node("Tile", ["x", "reps"], ["ti"], name="ti"),
        helper.make_node("Mod", ["x", "x"], ["md"], name="md", fmod=1),
        helper.make_node("ArgMax", ["x"], ["am"], name="am", axis=-1, keepdims=0),
        helper.make_node("Pad", ["x", "pads"], ["pd"], name="pd", mode="reflect"),
        helper.make_node("Softplus", ["x"], ["sp"], name="sp"),
        helper.make_node("IsNaN", ["x"], ["nan"], name="nan"),
    ], [x],
        [vi("hs", F, None), vi("cl", F, None), vi("ti", F, None), vi("md", F, None),
         vi("am", I64, None), vi("pd", F, None), vi("sp", F, None),
         vi("nan", TensorProto.BOOL, None)],
        [const("lo", np.array(0.0, np.float32)), const("reps", np.array([2, 1], np.int64)),
         const("pads", np.array([0, 1, 0, 2], np.int64))])


def sequences():
    """A sequence graph input (elements s[i]), sequence operators that fold
    away, and a sequence output."""
    seq = helper.make_tensor_sequence_value_info("s", F, [2, 3])
    out_seq = helper.make_tensor_sequence_value_info("rest", F, None)
    return model("sequences", [
        helper.make_node("SequenceLength", ["s"], ["n"], name="len"),
        helper.make_node("ConcatFromSequence", ["s"], ["stacked"], name="stack", axis=0,
                         new_axis=1),
        helper.make_node("SplitToSequence", ["x"], ["rows"], name="split", axis=0,
                         keepdims=0),
        helper.make_node("SequenceAt", ["rows", "last"], ["row"], name="at"),
        helper.make_node("SequenceErase", ["s", "zero"], ["rest"], name="erase"),
        helper.make_node("OptionalHasElement", ["s"], ["has"], name="has"),
    ], [seq, vi("x", F, [3, 4])],
        [vi("n", I64, []), vi("stacked", F, [2, 2, 3]), vi("row", F, [4]), out_seq,
         vi("has", TensorProto.BOOL, [])],
        [const("last", np.array(-1, np.int64)), const("zero", np.array(0, np.int64))],
        opset=18)


def sequence_into_tensor_op():
    return model("sequence_relu", [
        helper.make_node("SequenceConstruct", ["x", "x"], ["s"], name="make"),
        helper.make_node("Relu", ["s"], ["y"], name="relu")],
        [vi("x", F, [2])], [vi("y", F, [2])])


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    models = {
        "mlp": mlp(), "big": big_weight(), "gemm": gemm(), "conv": conv(),
        "shape_chain": shape_chain(), "slices": slices(), "split": split(),
        "split18": split18(), "typed": typed_fields(), "ops": ops(), "extension": extension(),
        "external": external(out, "weights.bin"),
        "escape": external(out, "../outside.bin", "escape", write=False),
        "absolute": external(out, "/etc/passwd", "absolute", write=False),
        "unsupported": model("unsupported", [
            helper.make_node("Unique", ["x"], ["v"], name="n0")],
            [vi("x", F, [4])], [vi("v", F, [2])]),
        "dynamic": model("dynamic", [helper.make_node("Relu", ["x"], ["y"], name="r")],
                         [vi("x", F, ["batch", 4])], [vi("y", F, ["batch", 4])]),
        "shape_input": model("shape_input", [
            helper.make_node("Reshape", ["x", "shape"], ["y"], name="r")],
            [vi("x", F, [2, 3]), vi("shape", I64, [2])], [vi("y", F, [3, 2])], opset=14),
        "bad_broadcast": model("bad_broadcast", [
            helper.make_node("Add", ["x", "z"], ["y"], name="add_12")],
            [vi("x", F, [2, 3]), vi("z", F, [4])], [vi("y", F, [2, 3])]),
        "sequences": sequences(), "sequence_relu": sequence_into_tensor_op(),
        "wrong_output": model("wrong_output", [
            helper.make_node("Transpose", ["x"], ["y"], name="t")],
            [vi("x", F, [2, 3])], [vi("y", F, [2, 3])]),
    }
    for name, m in models.items():
        onnx.save(m, os.path.join(out, name + ".onnx"))
    # A symlink that points out of the folder must be refused as well.
    link = os.path.join(out, "link.bin")
    if os.path.lexists(link):
        os.remove(link)
    os.symlink("/etc/hostname", link)
    onnx.save(external(out, "link.bin", "symlink", write=False), os.path.join(out, "symlink.onnx"))
    data = models["mlp"].SerializeToString()
    with open(os.path.join(out, "truncated.onnx"), "wb") as f:
        f.write(data[: len(data) // 2])
    with open(os.path.join(out, "not_onnx.onnx"), "w") as f:
        f.write("this is a text file, not a protobuf\n")


if __name__ == "__main__":
    main()
