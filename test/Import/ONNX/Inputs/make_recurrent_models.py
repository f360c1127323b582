"""Writes the recurrent-operator models of recurrent.test into a folder.

usage: make_recurrent_models.py OUT_DIR
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


def model(name, node, inputs, outputs, initializers, opset=14):
    graph = helper.make_graph([node], name, inputs, outputs, initializers)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def weights(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32)


def rnn_seq_lens():
    """A reverse RNN over 2 steps with run-time sequence_lens, initial_h and
    only Y_h."""
    rng = np.random.default_rng(0)
    return model("rnn", helper.make_node("RNN", ["x", "w", "r", "", "lens", "h0"], ["", "y_h"],
                                         name="the_rnn", hidden_size=4, direction="reverse",
                                         clip=2.0),
                 [helper.make_tensor_value_info("x", F, [2, 3, 5]),
                  helper.make_tensor_value_info("lens", TensorProto.INT32, [3])],
                 [helper.make_tensor_value_info("y_h", F, [1, 3, 4])],
                 [numpy_helper.from_array(weights(rng, 1, 4, 5), "w"),
                  numpy_helper.from_array(weights(rng, 1, 4, 4), "r"),
                  numpy_helper.from_array(weights(rng, 1, 3, 4), "h0")])


def lstm_batch_first():
    """A one-step LSTM with layout 1 and every output."""
    rng = np.random.default_rng(1)
    return model("lstm", helper.make_node("LSTM", ["x", "w", "r"], ["y", "y_h", "y_c"],
                                          name="the_lstm", hidden_size=2, layout=1),
                 [helper.make_tensor_value_info("x", F, [3, 1, 4])],
                 [helper.make_tensor_value_info(n, F, None) for n in ("y", "y_h", "y_c")],
                 [numpy_helper.from_array(weights(rng, 1, 8, 4), "w"),
                  numpy_helper.from_array(weights(rng, 1, 8, 2), "r")])


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, m in {"rnn_seq_lens": rnn_seq_lens(), "lstm_batch_first": lstm_batch_first()}.items():
        onnx.save(m, os.path.join(out, name + ".onnx"))


if __name__ == "__main__":
    main()
