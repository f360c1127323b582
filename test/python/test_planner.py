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
from conftest import TOOL_TIMEOUT, tool_path

import pmc

BATCH = 8
HERE = os.path.dirname(os.path.abspath(__file__))
TINY_SPEC = os.path.join(HERE, "..", "Parallel", "Inputs", "tiny-memory.json")


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planzoo")
    paths = {}
    for name in make_zoo.MODEL_NAMES:
        path = str(folder / f"{name}.onnx")
        onnx.save(make_zoo.BUILDERS[name](batch=BATCH), path)
        paths[name] = path
    return paths


def _check_fields(plan, devices):
    assert plan["devices"] == devices
    sizes = list(plan["mesh"].values())
    assert set(plan["mesh"]) <= {"dp", "tp"}
    product = 1
    for s in sizes:
        product *= s
    assert product == devices
    assert plan["stages"] == 1 and plan["microbatches"] == 1 and plan["schedule"] == "none"
    pred = plan["predicted"]
    assert pred["step_time_s"] > 0
    assert abs(pred["step_time_s"] - pred["compute_s"] - pred["comm_s"]) <= 1e-12 + 1e-9 * pred["step_time_s"]
    assert len(pred["memory_per_device_bytes"]) == devices
    names = [a["name"] for a in plan["alternatives"]]
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
