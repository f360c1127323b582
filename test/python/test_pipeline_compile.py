"""Pipeline bundles from the compiler (docs/design/pipeline.md, "Concrete
contract"): zoo models compiled with 2 and 4 stages, 1 to 8 microbatches, both
schedules, and dp x pp / dp x tp x pp plans; the bundles are checked with
BundleInfo (manifest pipeline fields, one program per stage, send/recv pairs
with matching tags and shapes, weights only in their stage). Bad options are
rejected with a message that names them.

These tests only compile: running pipeline bundles needs the runtime's
send/recv and schedule (test_pipeline_e2e.py).
"""

import collections
import subprocess

import onnx
import pytest

import make_zoo
from conftest import TOOL_TIMEOUT, ZOO_BATCH, tool_path

import pmc
from pmc._compiler_glue import compile_bundle, make_options
from pmc.bundle import BundleInfo

BATCH = ZOO_BATCH


@pytest.fixture(scope="module")
def zoo(batch8_zoo):
    return batch8_zoo


def _compile(path, out, devices, stages, microbatches, schedule, mesh=None, shardings=None):
    compile_bundle(path, out, make_options(devices=devices, mesh=mesh, shardings=shardings,
                                           stages=stages, microbatches=microbatches,
                                           schedule=schedule))
    return BundleInfo.read(out)


def _buffers(program):
    return {b["id"]: b for b in program["buffers"]}


def check_pipeline_bundle(info, model, devices, stages, microbatches, schedule):
    """Asserts the contract of a pipeline bundle; returns the per-stage programs."""
    manifest = info.manifest
    axes = [(a["name"], a["size"]) for a in manifest["mesh"]["axes"]]
    assert axes[0] == ("pp", stages), axes
    size = 1
    for _, n in axes:
        size *= n
    assert size == devices == manifest["devices"]
    pipe = manifest["pipeline"]
    assert pipe["stages"] == stages and pipe["axis"] == "pp"
    assert pipe["microbatches"] == microbatches and pipe["schedule"] == schedule
    first = model.graph.input[0].name
    assert first in pipe["microbatched_inputs"]
    # Full shapes: every microbatch, every rank.
    by_name = {i["name"]: i for i in manifest["inputs"]}
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert by_name[first]["shape"] == dims
    for entry in manifest["inputs"] + manifest["outputs"]:
        for axis_list in entry.get("sharding", []):
            assert "pp" not in axis_list and "mb" not in axis_list, entry
    outputs = manifest["outputs"]
    assert all(0 <= o["stage"] < stages for o in outputs)
    for o in outputs:
        if o["name"] in pipe["microbatched_outputs"]:
            assert o["shape"][0] == BATCH, o

    per_stage = devices // stages
    sends, recvs = {}, {}
    weights = collections.defaultdict(set)
    for r in range(devices):
        program = info.program(r)
        stage = r // per_stage
        assert program["stage"] == stage
        buffers = _buffers(program)
        commands = program["commands"]
        assert any(c["op"] in ("kernel", "matmul", "conv") for c in commands), \
            f"rank {r} (stage {stage}) computes nothing"
        # outputs: the buffer of each output of this stage, -1 elsewhere.
        assert len(program["outputs"]) == len(outputs)
        for o, b in zip(outputs, program["outputs"]):
            assert (b >= 0) == (o["stage"] == stage), (r, o, b)
        for b in buffers.values():
            if b["kind"] == "weight":
                weights[stage].add(b["section"])
            if b["kind"] == "input":
                assert 0 <= b["input"] < len(manifest["inputs"])
        for c in commands:
            assert c["op"] not in ("send", "recv") or stages > 1
            if c["op"] == "send":
                assert c["to_stage"] > stage
                b = buffers[c["in"]]
                sends.setdefault((r, c["tag"]), (stage, c["to_stage"], b["dtype"], b["shape"]))
            elif c["op"] == "recv":
                assert c["from_stage"] < stage
                b = buffers[c["out"]]
                assert b["kind"] == "temp"
                recvs.setdefault((r, c["tag"]), (c["from_stage"], stage, b["dtype"], b["shape"]))
    # Every send has its recv on the peer (same coordinates but pp), same tag and shape.
    assert sends, "a pipeline moves activations between stages"
    assert len(sends) == len(recvs)
    for (r, tag), (s, t, dtype, shape) in sends.items():
        peer = r + (t - s) * per_stage
        assert recvs.get((peer, tag)) == (s, t, dtype, shape), (r, tag, peer)
    tags = {tag for (_, tag) in sends}
    assert len(tags) == len(sends) // per_stage
    # Stage 0 reads the microbatched input; weights live only in their stage.
    program0 = info.program(0)
    assert any(b["kind"] == "input" for b in program0["buffers"])
    for a in range(stages):
        for b in range(a + 1, stages):
            assert not (weights[a] & weights[b]), f"stages {a} and {b} share weights"
    referenced = set().union(*weights.values())
    assert {s.name for s in info.weight_sections()} <= referenced
    return info


# (model, devices, stages, microbatches, schedule): every model with 2 and 4
# stages, M over {1, 2, 4, 8}, both schedules.
CASES = [
    ("mlp", 2, 2, 1, "gpipe"),
    ("mlp", 4, 4, 8, "1f1b"),
    ("mlp", 2, 2, 4, "1f1b"),
    ("transformer_encoder", 2, 2, 2, "gpipe"),
    ("transformer_encoder", 4, 4, 4, "1f1b"),
    ("gpt_decoder", 2, 2, 8, "1f1b"),
    ("gpt_decoder", 4, 4, 2, "gpipe"),
    ("resnet_cnn", 2, 2, 4, "gpipe"),
    ("resnet_cnn", 4, 4, 1, "1f1b"),
]


@pytest.mark.parametrize("name,devices,stages,microbatches,schedule", CASES)
def test_pipeline_bundle(zoo, tmp_path, name, devices, stages, microbatches, schedule):
    info = _compile(zoo[name], str(tmp_path / "p.pmc"), devices, stages, microbatches,
                    schedule)
    check_pipeline_bundle(info, onnx.load(zoo[name]), devices, stages, microbatches,
                          schedule)


def test_dp_x_pp(zoo, tmp_path):
    """--devices 4 --stages 2: the rest of the mesh is dp=2 over the batch."""
    model = onnx.load(zoo["transformer_encoder"])
    info = _compile(zoo["transformer_encoder"], str(tmp_path / "p.pmc"), 4, 2, 4, "gpipe")
    check_pipeline_bundle(info, model, 4, 2, 4, "gpipe")
    axes = [(a["name"], a["size"]) for a in info.manifest["mesh"]["axes"]]
    assert axes == [("pp", 2), ("dp", 2)]
    first = info.manifest["inputs"][0]
    assert first["sharding"][0] == ["dp"] and first["shape"][0] == BATCH
    # Each rank of a stage holds its dp half of one microbatch: 8 / 2 / 4 rows.
    x = next(b for b in info.program(0)["buffers"] if b["kind"] == "input" and b["input"] == 0)
    assert x["shape"][0] == 1


def test_dp_x_tp_x_pp(zoo, tmp_path):
    """8 devices: pp=2 x dp=2 x tp=2 with Megatron shardings inside each stage."""
    name = "gpt_decoder"
    model = onnx.load(zoo[name])
    shardings, _ = make_zoo.megatron_shardings(name)
    shardings = dict(shardings, **{model.graph.input[0].name: ("dp",)})
    info = _compile(zoo[name], str(tmp_path / "p.pmc"), 8, 2, 2, "1f1b",
                    mesh={"dp": 2, "tp": 2}, shardings=shardings)
    check_pipeline_bundle(info, model, 8, 2, 2, "1f1b")
    axes = [(a["name"], a["size"]) for a in info.manifest["mesh"]["axes"]]
    assert axes == [("pp", 2), ("dp", 2), ("tp", 2)]
    ops = collections.Counter(c["op"] for r in range(8) for c in info.program(r)["commands"])
    assert ops["all_reduce"] > 0, "tensor parallelism reduces inside the stages"
    # Sharded weights of a stage exist only for that stage's ranks.
    for r in range(8):
        for b in info.program(r)["buffers"]:
            if b["kind"] == "weight" and "/r" in b["section"]:
                owner = int(b["section"].rsplit("/r", 1)[1])
                assert owner // 4 == r // 4, (r, b["section"])


def test_pmc_opt_cli(zoo, tmp_path):
    out = str(tmp_path / "cli.pmc")
    result = subprocess.run(
        [tool_path("pmc-opt"), "compile", zoo["mlp"], "-o", out, "--devices", "2",
         "--stages", "2", "--microbatches", "2", "--schedule", "gpipe"],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    assert result.returncode == 0, result.stderr
    check_pipeline_bundle(BundleInfo.read(out), onnx.load(zoo["mlp"]), 2, 2, 2, "gpipe")
    # --mesh with pp given explicitly is the same plan.
    result = subprocess.run(
        [tool_path("pmc-opt"), "compile", zoo["mlp"], "-o", out, "--devices", "4",
         "--mesh", "pp=2,dp=2", "--stages", "2", "--emit", "mlir"],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    assert result.returncode == 0, result.stderr
    text = open(out).read()
    assert "pmc.transfer" in text and "pmc.stage = 1" in text


@pytest.mark.parametrize("kwargs,message", [
    (dict(devices=4, stages=3), "--stages 3 does not divide --devices 4"),
    (dict(devices=2, stages=2, microbatches=3), "3 microbatches do not divide its batch of 8"),
    (dict(devices=4, stages=2, microbatches=8),
     "8 microbatches do not divide its batch of 8 / 2"),
    (dict(devices=2, stages=2, schedule="zigzag"), "--schedule zigzag: expected gpipe or 1f1b"),
    (dict(devices=64, stages=64), "too few for 64 pipeline stages"),
    (dict(devices=2, microbatches=2), "--microbatches 2 needs --stages"),
    (dict(devices=2, stages=1), "a pipeline needs at least 2 stages"),
    (dict(devices=4, stages=2, mesh={"dp": 2, "pp": 2}),
     "axis pp=2 must be the first axis"),
    (dict(devices=4, stages=2, mesh={"dp": 4}), "has 8 devices, but --devices is 4"),
])
def test_bad_options(zoo, kwargs, message):
    with pytest.raises(pmc.CompileError, match=message.replace("+", r"\+")):
        pmc.compile(zoo["mlp"], **kwargs)


def test_bad_option_types(zoo):
    with pytest.raises(TypeError, match="stages must be an integer"):
        pmc.compile(zoo["mlp"], devices=2, stages="2")


def _batch_mixing_model(path):
    """y = sum over the batch of relu(x) + x: examples of the batch mix."""
    from onnx import TensorProto, helper  # noqa: PLC0415
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [0])
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"], name="relu"),
         helper.make_node("ReduceSum", ["r", "axes"], ["s"], name="batch_sum", keepdims=1),
         helper.make_node("Add", ["s", "x"], ["y"], name="add")],
        "mix", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 4])], [axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, path)
    return path


def test_microbatches_of_a_batch_mixing_model_are_rejected(tmp_path):
    path = _batch_mixing_model(str(tmp_path / "mix.onnx"))
    with pytest.raises(pmc.CompileError, match="over the microbatch axis 'mb'"):
        pmc.compile(path, devices=2, stages=2, microbatches=2)
    # One microbatch is fine.
    info = _compile(path, str(tmp_path / "mix.pmc"), 2, 2, 1, "gpipe")
    assert info.manifest["pipeline"]["microbatches"] == 1


def test_cuda_pipeline_bundle(zoo, tmp_path):
    """--target cuda emits each stage's launches the same way (the transformer:
    the MLP's bias adds and ReLUs are all cuBLASLt epilogues, it has no kernel)."""
    out = str(tmp_path / "cuda.pmc")
    compile_bundle(zoo["transformer_encoder"], out,
                   make_options(target="cuda", devices=2, stages=2, microbatches=2,
                                schedule="gpipe"))
    info = BundleInfo.read(out)
    assert info.manifest["target"] == "cuda"
    assert info.manifest["pipeline"]["stages"] == 2
    for r in range(2):
        ops = [c["op"] for c in info.program(r)["commands"]]
        assert "launch" in ops and "kernel" not in ops, ops
        assert ("send" in ops) == (r == 0) and ("recv" in ops) == (r == 1), ops
