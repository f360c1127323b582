"""The importer is a registry keyed by (op type, since opset): a node is
imported by the entry of the newest version at most the model's opset; an
operator used before it exists, or one pmc lacks, is an error naming it."""

import numpy as np
import pytest
from onnx import TensorProto, helper


def _model(op, opset, inputs, attrs=None):
    node = helper.make_node(op, [n for n, _, _ in inputs], ["y"], name="n0", **(attrs or {}))
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=8)


def test_operator_before_its_first_opset_names_both(pmc_module):
    model = _model("CastLike", 13, [("x", TensorProto.INT32, [2]),
                                    ("like", TensorProto.FLOAT, [1])])
    with pytest.raises(pmc_module.CompileError,
                       match="'CastLike' exists from opset 15 on, but the model uses opset 13"):
        pmc_module.compile(model)


def test_operator_from_its_first_opset_imports(pmc_module):
    model = _model("CastLike", 15, [("x", TensorProto.INT32, [2]),
                                    ("like", TensorProto.FLOAT, [1])])
    exe = pmc_module.compile(model)
    y, = exe.run(None, {"x": np.array([3, -4], np.int32), "like": np.zeros(1, np.float32)})
    np.testing.assert_array_equal(y, np.array([3.0, -4.0], np.float32))


def test_unknown_operator_names_op_domain_and_opset(pmc_module):
    model = _model("NoSuchOp", 17, [("x", TensorProto.FLOAT, [2])])
    with pytest.raises(pmc_module.CompileError,
                       match=r"unsupported ONNX operator 'NoSuchOp' \(domain '', opset 17\)"):
        pmc_module.compile(model)


@pytest.mark.parametrize("op, inputs, attrs", [
    ("Hardmax", [("x", TensorProto.FLOAT, [2, 1 << 25])], {"axis": 1}),
    ("EyeLike", [("x", TensorProto.FLOAT, [2, 1 << 25])], {}),
])
def test_index_tensors_beyond_2_24_elements_are_refused(pmc_module, op, inputs, attrs):
    """The importer folds index tensors (iota) for these operators; one of a
    huge dimension is an error, not a multi-gigabyte allocation (a fuzzer
    found Hardmax over 747 million columns)."""
    with pytest.raises(pmc_module.CompileError, match="too large to fold|too many to fold"):
        pmc_module.import_model(_save(_model(op, 13, inputs, attrs)))


def _save(model):
    import os
    import tempfile
    from onnx import save
    path = os.path.join(tempfile.mkdtemp(prefix="pmc-registry-"), "m.onnx")
    save(model, path)
    return path
