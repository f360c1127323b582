"""The automatic sharding planner (pmc.plan, pmc-opt compile --emit plan):
documented plan fields on every zoo model at 2/4/8 devices, determinism,
the memory limit flipping the choice to tensor parallelism, and a compiled
planned executable matching one device (verify=True)."""

import json
import os
import subprocess

import onnx
import pytest

import make_zoo
from conftest import TOOL_TIMEOUT, ZOO_BATCH, tool_path

import pmc

BATCH = ZOO_BATCH
HERE = os.path.dirname(os.path.abspath(__file__))
TINY_SPEC = os.path.join(HERE, "..", "Parallel", "Inputs", "tiny-memory.json")


@pytest.fixture(scope="module")
def zoo(batch8_zoo):
    return batch8_zoo


def _check_fields(plan, devices):
    assert plan["devices"] == devices
    sizes = list(plan["mesh"].values())
    assert set(plan["mesh"]) <= {"pp", "dp", "tp"}
    product = 1
    for s in sizes:
        product *= s
    assert product == devices
    stages, micro = plan["stages"], plan["microbatches"]
    assert stages == plan["mesh"].get("pp", 1)
    if stages == 1:
        assert micro == 1 and plan["schedule"] == "none" and plan["bubble_fraction"] == 0
    else:
        assert plan["schedule"] in ("gpipe", "1f1b")
        assert plan["bubble_fraction"] == pytest.approx((stages - 1) / (micro + stages - 1))
    # Stage plans cover the layers in order, each on a sub-mesh without pp.
    assert len(plan["stage_plans"]) == stages
    first = 0
    for i, st in enumerate(plan["stage_plans"]):
        assert st["stage"] == i and st["layers"][0] == first and st["layers"][1] >= first
        assert "pp" not in st["mesh"] and st["step_time_s"] > 0
        assert st["memory_per_device_bytes"] > 0
        first = st["layers"][1] + 1
    assert first == len(plan["layers"])
    pred = plan["predicted"]
    assert pred["step_time_s"] > 0
    assert abs(pred["step_time_s"] - pred["compute_s"] - pred["comm_s"]) <= 1e-12 + 1e-9 * pred["step_time_s"]
    assert len(pred["memory_per_device_bytes"]) == devices
    flat = [a for a in plan["alternatives"] if a["stages"] == 1]
    names = [a["name"] for a in flat]
    assert names[0] == f"data parallel (dp={devices})"
    assert names[-1] == f"tensor parallel (tp={devices})"
    assert sum(a["chosen"] for a in plan["alternatives"]) == 1
    for a in plan["alternatives"]:
        assert a["reason"], a
        if a["chosen"]:
            assert a["step_time_s"] == pred["step_time_s"]
        elif a["fits"]:
            assert a["step_time_s"] >= pred["step_time_s"]
            assert "slower" in a["reason"]
        else:
            assert "per device" in a["reason"] and "available" in a["reason"]


@pytest.mark.parametrize("devices", (2, 4, 8))
@pytest.mark.parametrize("name", make_zoo.MODEL_NAMES)
def test_plan_fields(zoo, name, devices):
    plan = pmc.plan(zoo[name], devices=devices, device_spec="h100-sxm")
    _check_fields(plan, devices)
    # Deterministic: the same input gives the identical plan.
    assert pmc.plan(zoo[name], devices=devices, device_spec="h100-sxm") == plan


def test_memory_limit_picks_tensor_parallel(zoo):
    # mlp at batch 8 on h100: data parallel (no communication) wins.
    fast = pmc.plan(zoo["mlp"], devices=4, device_spec="h100-sxm")
    assert fast["mesh"] == {"dp": 4}
    spec = json.load(open(TINY_SPEC))
    weights = sum(int(__import__("numpy").prod(t.dims)) * 4
                  for t in onnx.load(zoo["mlp"]).graph.initializer)
    # Capacity below the replicated weights: every plan must split them.
    spec["memory_bytes"] = weights * 0.9
    path = os.path.join(os.path.dirname(zoo["mlp"]), "small.json")
    json.dump(spec, open(path, "w"))
    small = pmc.plan(zoo["mlp"], devices=4, device_spec=path)
    assert "tp" in small["mesh"], small["mesh"]
    dp = small["alternatives"][0]
    assert not dp["fits"] and "available" in dp["reason"]
    assert any(dims != [[]] * len(dims) for dims in small["shardings"]["weights"].values())
    # Nothing fits at all: a clear error naming the capacity.
    spec["memory_bytes"] = 1000
    json.dump(spec, open(path, "w"))
    with pytest.raises(pmc.CompileError, match="no plan for 4 devices fits"):
        pmc.plan(zoo["mlp"], devices=4, device_spec=path)


@pytest.mark.parametrize("name", make_zoo.MODEL_NAMES)
def test_planned_compile_matches_one_device(zoo, name):
    exe = pmc.compile(zoo[name], devices=4, verify=True)
    assert exe.verify_report["ok"]
    plan = exe.plan_dict
    assert plan["plan_source"] == "auto"
    assert plan["predicted"]["step_time_s"] > 0
    assert plan["stages"] == 1 and plan["alternatives"]
    assert "alternatives:" in exe.plan


def test_memory_limited_plan_runs(zoo):
    """A tensor-parallel choice (tiny memory) compiles and matches one device."""
    spec = json.load(open(TINY_SPEC))
    weights = sum(int(__import__("numpy").prod(t.dims)) * 4
                  for t in onnx.load(zoo["mlp"]).graph.initializer)
    spec["memory_bytes"] = weights * 0.9
    path = os.path.join(os.path.dirname(zoo["mlp"]), "small-run.json")
    json.dump(spec, open(path, "w"))
    exe = pmc.compile(zoo["mlp"], devices=4, device_spec=path, verify=True)
    assert exe.verify_report["ok"]
    assert "tp" in [a["name"] if isinstance(a, dict) else a for a in exe.plan_dict["mesh"]]


def test_cli_emit_plan_and_explain(zoo, tmp_path):
    out = tmp_path / "plan.json"
    result = subprocess.run(
        [tool_path("pmc-opt"), "compile", zoo["gpt_decoder"], "--devices", "8",
         "--device-spec", "h100-sxm", "--explain", "--emit", "plan", "-o", str(out)],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert "plan for 8 devices (h100-sxm)" in result.stdout
    assert "alternatives:" in result.stdout
    plan = json.loads(out.read_text())
    _check_fields(plan, 8)
    assert plan == pmc.plan(zoo["gpt_decoder"], devices=8, device_spec="h100-sxm")
    bad = subprocess.run(
        [tool_path("pmc-opt"), "compile", zoo["mlp"], "--devices", "2",
         "--device-spec", "nosuch", "--emit", "plan"],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    assert bad.returncode != 0 and "device spec 'nosuch'" in bad.stderr


SLOW_SPEC = os.path.join(HERE, "..", "Parallel", "Inputs", "slow-links-20mb.json")


def _deep_mlp(path, layers=6, hidden=1024, batch=4096):
    """A chain of MatMul+Relu layers: deep, with large activations."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper
    nodes, inits, h = [], [], "x"
    for i in range(layers):
        inits.append(numpy_helper.from_array(
            np.full((hidden, hidden), 0.01, np.float32), f"w{i}"))
        nodes.append(helper.make_node("MatMul", [h, f"w{i}"], [f"m{i}"], name=f"m{i}"))
        nodes.append(helper.make_node("Relu", [f"m{i}"], [f"r{i}"], name=f"r{i}"))
        h = f"r{i}"
    graph = helper.make_graph(
        nodes, "deep",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, hidden])],
        [helper.make_tensor_value_info(h, TensorProto.FLOAT, [batch, hidden])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_deep_model_picks_pipeline(tmp_path):
    # 6 layers of 4 MiB weights, 16 MiB activations, 20 MB per device, slow
    # links: data parallel does not fit, tensor parallel all-reduces the
    # activations over the slow links; two pipeline stages win.
    path = _deep_mlp(str(tmp_path / "deep.onnx"))
    plan = pmc.plan(path, devices=8, device_spec=SLOW_SPEC)
    _check_fields(plan, 8)
    assert plan["mesh"] == {"pp": 2, "dp": 4}, plan["mesh"]
    assert plan["stages"] == 2 and plan["microbatches"] > 1 and plan["schedule"] == "1f1b"
    stage_layers = [tuple(s["layers"]) for s in plan["stage_plans"]]
    assert stage_layers[0][0] == 0 and stage_layers[-1][1] == len(plan["layers"]) - 1
    assert all(s["memory_per_device_bytes"] <= 20e6 for s in plan["stage_plans"])
    by_name = {a["name"]: a for a in plan["alternatives"]}
    dp = by_name["data parallel (dp=8)"]
    assert not dp["fits"] and "available" in dp["reason"]
    tp = by_name["dp=2 x tp=4"]
    assert tp["fits"] and "slower: communication" in tp["reason"]
    deeper = [a for a in plan["alternatives"] if a["stages"] == 4]
    assert deeper and all("bubble" in a["reason"] or not a["fits"] for a in deeper)
    # Deterministic, and the CLI gives the same plan, its explanation and SVG.
    assert pmc.plan(path, devices=8, device_spec=SLOW_SPEC) == plan
    out, svg = tmp_path / "plan.json", tmp_path / "plan.svg"
    result = subprocess.run(
        [tool_path("pmc-opt"), "compile", path, "--devices", "8", "--device-spec", SLOW_SPEC,
         "--explain", "--explain-svg", str(svg), "--emit", "plan", "-o", str(out)],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text()) == plan
    assert "pipeline: 2 stages of data parallel (dp=4)" in result.stdout
    assert "stage 1: layers" in result.stdout and "same as layer" in result.stdout
    text = svg.read_text()
    assert text.startswith("<svg") and text.rstrip().endswith("</svg>")
    assert "rank 7" in text and "stage 1" in text and "send/recv" in text


def test_planned_pipeline_runs_and_equals_one_device(tmp_path):
    # The pipeline the planner picks for the deep model (see above) compiles
    # into stage programs whose run equals one device.
    path = _deep_mlp(str(tmp_path / "deep.onnx"))
    plan = pmc.plan(path, devices=8, device_spec=SLOW_SPEC)
    assert plan["stages"] > 1, plan["mesh"]
    exe = pmc.compile(path, devices=8, device_spec=SLOW_SPEC, verify=True)
    assert exe.verify_report["ok"], exe.verify_report
    assert exe.plan_dict["stages"] == plan["stages"]
    assert exe.plan_dict["microbatches"] == plan["microbatches"]
    pipeline = pmc.BundleInfo.read(exe.path).manifest["pipeline"]
    assert pipeline["stages"] == plan["stages"]
    assert pipeline["microbatches"] == plan["microbatches"]


def test_small_model_large_batch_is_data_parallel(zoo, tmp_path):
    path = str(tmp_path / "mlp64.onnx")
    onnx.save(make_zoo.BUILDERS["mlp"](batch=64), path)
    plan = pmc.plan(path, devices=8, device_spec="h100-sxm")
    assert plan["mesh"] == {"dp": 8} and plan["stages"] == 1
    assert any(a["stages"] > 1 for a in plan["alternatives"])


def test_explain_svg_needs_a_plan(zoo, tmp_path):
    result = subprocess.run(
        [tool_path("pmc-opt"), "compile", zoo["mlp"], "--devices", "2", "--mesh", "dp=2",
         "--explain-svg", str(tmp_path / "x.svg"), "-o", str(tmp_path / "x.pmc")],
        capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    assert result.returncode != 0 and "--explain-svg" in result.stderr
    assert "nothing was planned" in result.stderr


def test_emit_plan_scores_the_dtype_without_reading_weights(tmp_path):
    # --dtype bf16 halves the weights the planner counts (the conversion for
    # planning changes types only; the weights stay in their external file).
    import sys
    sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
    import planner as bench_planner
    path = str(tmp_path / "gpt.onnx")
    bench_planner.make_gpt(path, 2, 256, batch=8, seq=64)
    plans = {}
    for dtype in ("fp32", "bf16"):
        out = tmp_path / f"{dtype}.json"
        result = subprocess.run(
            [tool_path("pmc-opt"), "compile", path, "--devices", "4", "--device-spec",
             "h100-sxm", "--dtype", dtype, "--emit", "plan", "-o", str(out)],
            capture_output=True, text=True, timeout=TOOL_TIMEOUT)
        assert result.returncode == 0, result.stderr
        plans[dtype] = json.loads(out.read_text())["predicted"]
    ratio = plans["bf16"]["weight_bytes"] / plans["fp32"]["weight_bytes"]
    assert 0.45 < ratio < 0.55, ratio
