"""BatchNormalization in a train step: batch statistics, running statistics
updated as ONNX defines for training_mode = 1 (torch.nn.BatchNorm2d in
train()), kept as state across steps, the same on every device count."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(11)
N, C, H, W, K = 8, 3, 4, 4, 2
MOMENTUM, EPS = 0.9, 1e-5


def _model(dtype=np.float64, momentum=MOMENTUM, mean=None, var=None):
    """x [N,C,H,W] -> BatchNormalization (exported: training_mode 0) -> Relu
    -> mean over H, W -> @ w [C, K] -> y."""
    elem = TensorProto.DOUBLE if dtype == np.float64 else TensorProto.FLOAT
    init = {
        "gamma": (1 + 0.3 * RNG.standard_normal(C)).astype(dtype),
        "beta": (0.2 * RNG.standard_normal(C)).astype(dtype),
        "mean": (mean if mean is not None else 0.1 * RNG.standard_normal(C)).astype(dtype),
        "var": (var if var is not None else 1 + 0.5 * RNG.random(C)).astype(dtype),
        "w": RNG.standard_normal((C, K)).astype(dtype),
    }
    nodes = [
        helper.make_node("BatchNormalization", ["x", "gamma", "beta", "mean", "var"], ["bn"],
                         epsilon=EPS, momentum=momentum),
        helper.make_node("Relu", ["bn"], ["r"]),
        helper.make_node("ReduceMean", ["r"], ["p"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["p", "w"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "bn", [helper.make_tensor_value_info("x", elem, [N, C, H, W])],
                              [helper.make_tensor_value_info("y", elem, [N, K])],
                              initializer=[numpy_helper.from_array(v, k) for k, v in init.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    return model, init


def _forward(params, x, target):
    """Numpy: the loss with batch statistics, and the batch mean and
    (biased) variance."""
    mean = x.mean(axis=(0, 2, 3))
    var = x.var(axis=(0, 2, 3))
    shape = (1, C, 1, 1)
    bn = ((x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + EPS) *
          params["gamma"].reshape(shape) + params["beta"].reshape(shape))
    y = np.maximum(bn, 0).mean(axis=(2, 3)) @ params["w"]
    return ((y - target) ** 2).mean(), mean, var


def test_one_step_uses_batch_statistics_and_updates_the_running_ones(pmc_module):
    """float64: the SGD step moves each parameter by -lr times the gradient
    of the loss with batch statistics (central differences), and the
    running statistics become mean * momentum + batch * (1 - momentum)."""
    pmc = pmc_module
    model, init = _model()
    x = RNG.standard_normal((N, C, H, W)) * 2 + 0.5
    target = RNG.standard_normal((N, K))
    lr = 0.1
    trainer = pmc.compile_training(model, loss=pmc.MSELoss(output="y"),
                                   optimizer=pmc.SGD(lr=lr))
    assert sorted(trainer.parameters()) == ["beta", "gamma", "w"]
    assert sorted(trainer.buffers()) == ["mean", "var"]
    assert trainer.optimizer_state() == {}
    loss = trainer.step({"x": x, "target": target})["loss"]
    params0 = {k: init[k] for k in ("gamma", "beta", "w")}
    expected, batch_mean, batch_var = _forward(params0, x, target)
    assert loss == pytest.approx(expected, rel=1e-12)
    buffers = trainer.buffers()
    m = float(np.float32(MOMENTUM))  # an ONNX float attribute is a float32
    np.testing.assert_allclose(buffers["mean"], init["mean"] * m + batch_mean * (1 - m),
                               rtol=1e-12)
    np.testing.assert_allclose(buffers["var"], init["var"] * m + batch_var * (1 - m),
                               rtol=1e-12)
    after = trainer.parameters()
    for name, value in params0.items():
        grad = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            shifted = []
            for h in (1e-6, -1e-6):
                p = {k: v.copy() for k, v in params0.items()}
                p[name][i] += h
                shifted.append(_forward(p, x, target)[0])
            grad[i] = (shifted[0] - shifted[1]) / 2e-6
        np.testing.assert_allclose(after[name], value - lr * grad, rtol=1e-7, atol=1e-9,
                                   err_msg=name)


@pytest.mark.parametrize("devices,zero", [(2, 0), (4, 2)])
def test_batch_statistics_span_the_global_batch(pmc_module, devices, zero):
    """Data parallel: each rank holds part of the batch, and the statistics
    (so the loss curve and the running statistics) are still the whole
    batch's, as on one device."""
    pmc = pmc_module
    model, _ = _model(np.float32)
    x = (RNG.standard_normal((N, C, H, W)) * 2 + 0.5).astype(np.float32)
    target = RNG.standard_normal((N, K)).astype(np.float32)
    runs = {}
    for d, z in ((1, 0), (devices, zero)):
        trainer = pmc.compile_training(model, loss=pmc.MSELoss(output="y"),
                                       optimizer=pmc.AdamW(lr=1e-2), devices=d,
                                       mesh={"dp": d} if d > 1 else None,
                                       zero=z if d > 1 else None)
        curve = [trainer.step({"x": x, "target": target})["loss"] for _ in range(5)]
        runs[d] = curve, trainer.buffers()
    np.testing.assert_allclose(runs[devices][0], runs[1][0], rtol=1e-5)
    for name in ("mean", "var"):
        np.testing.assert_allclose(runs[devices][1][name], runs[1][1][name], rtol=1e-5)


def test_running_statistics_reach_the_export_and_the_checkpoint(pmc_module, tmp_path):
    import onnx  # noqa: PLC0415

    pmc = pmc_module
    model, init = _model(np.float32)
    x = RNG.standard_normal((N, C, H, W)).astype(np.float32)
    target = RNG.standard_normal((N, K)).astype(np.float32)
    trainer = pmc.compile_training(model, loss=pmc.MSELoss(output="y"),
                                   optimizer=pmc.SGD(lr=0.05, momentum=0.9))
    for _ in range(3):
        trainer.step({"x": x, "target": target})
    buffers = trainer.buffers()
    assert not np.allclose(buffers["mean"], init["mean"])
    trainer.export_onnx(tmp_path / "trained.onnx")
    exported = {t.name: numpy_helper.to_array(t)
                for t in onnx.load(tmp_path / "trained.onnx").graph.initializer}
    for name in ("mean", "var"):
        np.testing.assert_array_equal(exported[name], buffers[name])
    # The forward model exported stays an inference model (training_mode 0).
    bn = next(n for n in onnx.load(tmp_path / "trained.onnx").graph.node
              if n.op_type == "BatchNormalization")
    assert all(a.name != "training_mode" or a.i == 0 for a in bn.attribute)

    trainer.save(tmp_path / "ckpt.pmct")
    resumed = pmc.load_training(tmp_path / "ckpt.pmct")
    for name in ("mean", "var"):
        np.testing.assert_array_equal(resumed.buffers()[name], buffers[name])
    a = [trainer.step({"x": x, "target": target})["loss"] for _ in range(2)]
    b = [resumed.step({"x": x, "target": target})["loss"] for _ in range(2)]
    np.testing.assert_allclose(b, a, rtol=1e-6)
    np.testing.assert_allclose(resumed.buffers()["var"], trainer.buffers()["var"], rtol=1e-6)


def test_shared_running_statistics_are_refused(pmc_module):
    pmc = pmc_module
    model, _ = _model(np.float32)
    second = helper.make_node("BatchNormalization", ["bn", "gamma", "beta", "mean", "var"],
                              ["bn2"], epsilon=EPS)
    model.graph.node.insert(1, second)
    model.graph.node[2].input[0] = "bn2"
    with pytest.raises(Exception, match="running statistics 'mean'.*update them twice"):
        pmc.compile_training(model, loss=pmc.MSELoss(output="y"), optimizer=pmc.SGD(lr=0.1))
