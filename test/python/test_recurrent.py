"""RNN, GRU and LSTM beyond the backend suites: random configurations
(directions, layouts, per-row sequence_lens at run time or constant, the
activations with alpha/beta, clip, peepholes, linear_before_reset,
input_forget, any subset of the outputs, 1 and 2 devices) against onnxruntime;
float64 and float16 against a numpy recurrence that follows onnxruntime's
semantics and is itself checked against onnxruntime here (onnxruntime has
these operators in float32 only, and no layout 1: those cases run as the
layout-0 model on transposed tensors). ONNX's reference implementation ignores
sequence_lens, activations and clip, so it is no reference for them."""

import copy

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from conftest import assert_clean_failure, run_tool

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
PER_DIRECTION = {"RNN": 1, "GRU": 2, "LSTM": 3}
DEFAULT_ACTIVATIONS = {"RNN": ["Tanh"], "GRU": ["Sigmoid", "Tanh"],
                       "LSTM": ["Sigmoid", "Tanh", "Tanh"]}
# (takes alpha, takes beta) and the defaults onnxruntime and ONNX agree on.
TAKES = {"Affine": (1, 1), "LeakyRelu": (1, 0), "ThresholdedRelu": (1, 0),
         "ScaledTanh": (1, 1), "HardSigmoid": (1, 1), "Elu": (1, 0)}
DEFAULTS = {"LeakyRelu": (0.01, 0.0), "HardSigmoid": (0.2, 0.5), "Elu": (1.0, 0.0)}
ALL_ACTIVATIONS = ["Relu", "Tanh", "Sigmoid", "Affine", "LeakyRelu", "ThresholdedRelu",
                   "ScaledTanh", "HardSigmoid", "Elu", "Softsign", "Softplus"]
INPUT_NAMES = ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"]
OUTPUT_NAMES = ["Y", "Y_h", "Y_c"]


# --- The numpy recurrence (onnxruntime's semantics) -----------------------------

def _activation(name, x, alpha, beta):
    if name == "Relu":
        return np.maximum(x, 0)
    if name == "Tanh":
        return np.tanh(x)
    if name == "Sigmoid":
        return 1 / (1 + np.exp(-x))
    if name == "Affine":
        return alpha * x + beta
    if name == "LeakyRelu":
        return np.where(x < 0, alpha * x, x)
    if name == "ThresholdedRelu":
        return np.where(x > alpha, x, 0)
    if name == "ScaledTanh":
        return alpha * np.tanh(beta * x)
    if name == "HardSigmoid":
        return np.clip(alpha * x + beta, 0, 1)
    if name == "Elu":
        return np.where(x < 0, alpha * (np.exp(x) - 1), x)
    if name == "Softsign":
        return x / (1 + np.abs(x))
    assert name == "Softplus"
    return np.logaddexp(0, x)


def _resolve(names, alphas, betas):
    """alpha/beta consumed in order by the activations that take them."""
    out, a, b = [], 0, 0
    for name in names:
        takes_a, takes_b = TAKES.get(name, (0, 0))
        default_a, default_b = DEFAULTS.get(name, (0.0, 0.0))
        alpha = beta = 0.0
        if takes_a:
            alpha = alphas[a] if a < len(alphas) else default_a
            a += 1
        if takes_b:
            beta = betas[b] if b < len(betas) else default_b
            b += 1
        out.append((name, np.float32(alpha), np.float32(beta)))
    return out


def _reference(op, cfg, dtype=None):
    """(Y, Y_h, Y_c) of the configuration, computed in `dtype` (default X's)."""
    attrs = cfg["attrs"]
    t = np.dtype(dtype or cfg["X"].dtype)
    get = lambda k: None if cfg.get(k) is None else cfg[k].astype(t)  # noqa: E731
    X, W, R, B, P = get("X"), get("W"), get("R"), get("B"), get("P")
    h0, c0 = get("h0"), get("c0")
    layout = attrs.get("layout", 0)
    if layout:
        X = X.transpose(1, 0, 2)
        h0 = None if h0 is None else h0.transpose(1, 0, 2)
        c0 = None if c0 is None else c0.transpose(1, 0, 2)
    direction = attrs.get("direction", "forward")
    D = 2 if direction == "bidirectional" else 1
    S, N, _ = X.shape
    H, G = R.shape[-1], GATES[op]
    names = attrs.get("activations", DEFAULT_ACTIVATIONS[op] * D)
    acts = _resolve(names, attrs.get("activation_alpha", []), attrs.get("activation_beta", []))
    lens = np.full(N, S) if cfg.get("lens") is None else cfg["lens"].astype(np.int64)
    clip = attrs.get("clip")
    bound = (lambda v: v) if clip is None else (lambda v: np.clip(v, -t.type(clip), t.type(clip)))
    Y = np.zeros((S, D, N, H), t)
    Yh = np.zeros((D, N, H), t)
    Yc = np.zeros((D, N, H), t)
    for d in range(D):
        def f(v, k, d=d):
            name, alpha, beta = acts[d * PER_DIRECTION[op] + k]
            return _activation(name, v, t.type(alpha), t.type(beta)).astype(t)
        Wd, Rd = W[d], R[d]
        Bd = np.zeros(2 * G * H, t) if B is None else B[d]
        wb, rb = Bd[:G * H], Bd[G * H:]
        Pd = np.zeros(3 * H, t) if P is None else P[d]
        h = np.zeros((N, H), t) if h0 is None else h0[d].copy()
        c = np.zeros((N, H), t) if c0 is None else c0[d].copy()
        reverse = direction == "reverse" or d == 1
        for s in (range(S - 1, -1, -1) if reverse else range(S)):
            valid = (s < lens)[:, None]
            x = X[s]
            cn = c
            if op == "RNN":
                hn = f(bound(x @ Wd.T + h @ Rd.T + wb + rb), 0)
            elif op == "GRU":
                xw = x @ Wd.T
                z = f(bound(xw[:, :H] + h @ Rd[:H].T + wb[:H] + rb[:H]), 0)
                r = f(bound(xw[:, H:2 * H] + h @ Rd[H:2 * H].T + wb[H:2 * H] + rb[H:2 * H]), 0)
                if attrs.get("linear_before_reset", 0):
                    pre = xw[:, 2 * H:] + r * (h @ Rd[2 * H:].T + rb[2 * H:]) + wb[2 * H:]
                else:
                    pre = xw[:, 2 * H:] + (r * h) @ Rd[2 * H:].T + rb[2 * H:] + wb[2 * H:]
                hn = (1 - z) * f(bound(pre), 1) + z * h
            else:
                g = x @ Wd.T + h @ Rd.T + wb + rb
                i = f(bound(g[:, :H] + Pd[:H] * c), 0)
                if attrs.get("input_forget", 0):
                    forget = 1 - i
                else:
                    forget = f(bound(g[:, 2 * H:3 * H] + Pd[2 * H:] * c), 0)
                cn = forget * c + i * f(bound(g[:, 3 * H:]), 1)
                o = f(bound(g[:, H:2 * H] + Pd[H:2 * H] * cn), 0)
                hn = o * f(cn, 2)
            h = np.where(valid, hn, h).astype(t)
            c = np.where(valid, cn, c).astype(t)
            Y[s, d] = np.where(valid, hn, 0)
        # A row of length 0 ends with a zero state (onnxruntime's LSTM and GRU).
        Yh[d] = np.where((lens > 0)[:, None], h, 0)
        Yc[d] = np.where((lens > 0)[:, None], c, 0)
    if layout:
        Y, Yh, Yc = Y.transpose(2, 0, 1, 3), Yh.transpose(1, 0, 2), Yc.transpose(1, 0, 2)
    return dict(zip(OUTPUT_NAMES, (Y, Yh, Yc)))


# --- Models ------------------------------------------------------------------------------

def _model(op, cfg, outputs=OUTPUT_NAMES, lens_input=True, opset=22, dtype=None):
    """A one-node model: X (and sequence_lens, when `lens_input`) graph inputs,
    the rest initializers; absent inputs and outputs as empty names."""
    keys = ["X", "W", "R", "B", "lens", "h0", "c0", "P"][:6 if op != "LSTM" else 8]
    node_inputs, graph_inputs, inits, feeds = [], [], [], {}
    for name, key in zip(INPUT_NAMES, keys):
        value = cfg.get(key)
        if value is None:
            node_inputs.append("")
            continue
        if value.dtype.kind == "f" and dtype is not None:
            value = value.astype(dtype)
        node_inputs.append(name)
        if name == "X" or (name == "sequence_lens" and lens_input):
            elem = helper.np_dtype_to_tensor_dtype(value.dtype)
            graph_inputs.append(helper.make_tensor_value_info(name, elem, value.shape))
            feeds[name] = value
        else:
            inits.append(numpy_helper.from_array(value, name))
    while node_inputs[-1] == "":
        node_inputs.pop()
    names = [o if o in outputs else "" for o in OUTPUT_NAMES[:3 if op == "LSTM" else 2]]
    while names and names[-1] == "":
        names.pop()
    node = helper.make_node(op, node_inputs, names, name="the_rnn", **cfg["attrs"])
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype or cfg["X"].dtype))
    graph = helper.make_graph([node], "case", graph_inputs,
                              [helper.make_tensor_value_info(o, elem, None) for o in names if o],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              ir_version=8)
    return model, feeds, [o for o in names if o]


def _onnxruntime(op, cfg, outputs=OUTPUT_NAMES):
    """onnxruntime's outputs; layout 1 (which it lacks) as the layout-0 model
    on transposed tensors."""
    cfg = copy.deepcopy(cfg)
    layout = cfg["attrs"].pop("layout", 0)
    if layout:
        cfg["X"] = np.ascontiguousarray(cfg["X"].transpose(1, 0, 2))
        for k in ("h0", "c0"):
            if cfg.get(k) is not None:
                cfg[k] = np.ascontiguousarray(cfg[k].transpose(1, 0, 2))
    model, feeds, names = _model(op, cfg, outputs, opset=14)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = dict(zip(names, session.run(None, feeds)))
    if layout:
        got = {k: v.transpose(2, 0, 1, 3) if k == "Y" else v.transpose(1, 0, 2)
               for k, v in got.items()}
    return got


def _random_config(rng, op, dtype=np.float32, activations=True, **fixed):
    """A random configuration; `fixed` overrides seq, batch, hidden, input,
    direction, layout, lens (True/False)."""
    S = fixed.get("seq") or int(rng.integers(1, 5))
    N = fixed.get("batch") or int(rng.integers(1, 4))
    H = fixed.get("hidden") or int(rng.integers(1, 5))
    size = fixed.get("input") or int(rng.integers(1, 5))
    G = GATES[op]
    direction = fixed.get("direction") or str(rng.choice(["forward", "reverse", "bidirectional"]))
    D = 2 if direction == "bidirectional" else 1
    layout = fixed.get("layout", int(rng.integers(0, 2)))
    r = lambda *shape: (rng.standard_normal(shape) * 0.7).astype(dtype)  # noqa: E731
    cfg = {"X": r(N, S, size) if layout else r(S, N, size), "W": r(D, G * H, size),
           "R": r(D, G * H, H)}
    if rng.random() < 0.7:
        cfg["B"] = r(D, 2 * G * H)
    if fixed.get("lens", rng.random() < 0.6):
        cfg["lens"] = rng.integers(1, S + 1, size=N).astype(np.int32)
    state = (N, D, H) if layout else (D, N, H)
    if rng.random() < 0.6:
        cfg["h0"] = r(*state)
    if op == "LSTM":
        if rng.random() < 0.6:
            cfg["c0"] = r(*state)
        if rng.random() < 0.5:
            cfg["P"] = r(D, 3 * H)
    attrs = {"hidden_size": H, "direction": direction}
    if layout or rng.random() < 0.3:
        attrs["layout"] = layout
    if activations and rng.random() < 0.6:
        names = [str(rng.choice(ALL_ACTIVATIONS)) for _ in range(PER_DIRECTION[op] * D)]
        if op == "RNN":
            # onnxruntime's RNN reads value d for direction d: the readings
            # agree when every activation has its value and no activation
            # that takes none comes before one that takes it.
            if D == 2 and any(TAKES.get(names[1], (0, 0))[i] > TAKES.get(names[0], (0, 0))[i]
                              for i in (0, 1)):
                names[0] = names[1]
            alphas = [float(np.float32(rng.uniform(0.1, 1.5))) for _ in names]
            betas = [float(np.float32(rng.uniform(0.1, 1.0))) for _ in names]
        else:
            alphas = [float(np.float32(rng.uniform(0.1, 1.5))) for n in names if TAKES.get(n, (0, 0))[0]]
            betas = [float(np.float32(rng.uniform(0.1, 1.0))) for n in names if TAKES.get(n, (0, 0))[1]]
        attrs["activations"] = names
        if alphas:
            attrs["activation_alpha"] = alphas
        if betas:
            attrs["activation_beta"] = betas
    if rng.random() < 0.3:
        attrs["clip"] = float(np.float32(rng.uniform(0.3, 2.0)))
    if op == "GRU" and rng.random() < 0.5:
        attrs["linear_before_reset"] = 1
    if op == "LSTM" and rng.random() < 0.3:
        attrs["input_forget"] = 1
    cfg["attrs"] = attrs
    return cfg


def _tame_config(rng, op, **kwargs):
    """A random configuration whose outputs stay finite and moderate (an
    unbounded gate activation can blow the state up)."""
    while True:
        cfg = _random_config(rng, op, **kwargs)
        ref = _reference(op, cfg, np.float64)
        if all(np.isfinite(v).all() and np.abs(v).max() < 100 for v in ref.values()):
            return cfg


def _assert_outputs(got, want, rtol, atol):
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        assert got[name].dtype == value.dtype and got[name].shape == value.shape, name
        np.testing.assert_allclose(got[name], value, rtol=rtol, atol=atol, err_msg=name)


# --- Against onnxruntime -------------------------------------------------------------------

@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_reference_matches_onnxruntime(op):
    """The numpy recurrence the float64/float16 tests use agrees with
    onnxruntime on 60 random float32 configurations, rows of length 0 included."""
    rng = np.random.default_rng(7)
    for _ in range(60):
        cfg = _tame_config(rng, op)
        if op != "RNN" and cfg.get("lens") is not None:
            S = cfg["X"].shape[1 if cfg["attrs"].get("layout") else 0]
            cfg["lens"] = rng.integers(0, S + 1, size=cfg["lens"].size).astype(np.int32)
        want, got = _reference(op, cfg), _onnxruntime(op, cfg)
        for name, value in got.items():
            np.testing.assert_allclose(want[name], value, rtol=1e-4, atol=1e-5,
                                       err_msg=f"{name} of {cfg['attrs']}")


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_random_configurations_match_onnxruntime(pmc_module, op, seed):
    rng = np.random.default_rng(100 * seed + GATES[op])
    cfg = _tame_config(rng, op)
    subsets = [OUTPUT_NAMES, ["Y_h"], ["Y"], ["Y", "Y_h"]] + ([["Y_c"], ["Y_h", "Y_c"]]
                                                              if op == "LSTM" else [])
    outputs = subsets[int(rng.integers(0, len(subsets)))]
    lens_input = bool(rng.integers(0, 2))   # a run-time tensor or a constant
    devices = 1 + seed % 2
    model, feeds, _ = _model(op, cfg, outputs, lens_input=lens_input)
    got = pmc_module.compile(model, devices=devices).run_dict(feeds)
    _assert_outputs(got, _onnxruntime(op, cfg, outputs), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", ["GRU", "LSTM"])
@pytest.mark.parametrize("lens_input", [True, False])
def test_rows_of_length_zero_end_at_zero(pmc_module, op, lens_input):
    """A row with sequence_lens 0 has zero Y and zero Y_h / Y_c, not its
    initial state (onnxruntime); the other rows stop at their own length."""
    rng = np.random.default_rng(3)
    cfg = _tame_config(rng, op, seq=4, batch=4, direction="bidirectional", lens=True,
                       activations=False)
    layout = cfg["attrs"].get("layout", 0)
    state = (4, 2, cfg["R"].shape[-1]) if layout else (2, 4, cfg["R"].shape[-1])
    cfg["h0"] = rng.standard_normal(state).astype(np.float32)
    if op == "LSTM":
        cfg["c0"] = rng.standard_normal(state).astype(np.float32)
    cfg["lens"] = np.array([0, 4, 2, 1], np.int32)
    model, feeds, _ = _model(op, cfg, lens_input=lens_input)
    got = pmc_module.compile(model).run_dict(feeds)
    _assert_outputs(got, _onnxruntime(op, cfg), rtol=1e-4, atol=1e-5)
    assert not np.take(got["Y_h"], 0, axis=0 if layout else 1).any()


@pytest.mark.parametrize("seq,direction", [(1, "forward"), (3, "reverse"), (1, "bidirectional")])
@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_final_state_that_equals_frame_zero(pmc_module, op, seq, direction):
    """Where step 0 comes last (reverse, or one step) the masked Y_h is Y's
    frame 0, and with no initial_h the first masked state is that frame:
    each is built once (two kernel results that CSE merges crashed the CPU
    kernel compilation)."""
    rng = np.random.default_rng(seq)
    for with_h0 in (True, False):
        cfg = _tame_config(rng, op, seq=seq, batch=3, direction=direction, layout=0, lens=True,
                           activations=False)
        D = 2 if direction == "bidirectional" else 1
        H = cfg["R"].shape[-1]
        cfg["h0"] = rng.standard_normal((D, 3, H)).astype(np.float32) if with_h0 else None
        cfg["lens"] = np.array([seq, 0 if op != "RNN" else 1, 1], np.int32)
        model, feeds, _ = _model(op, cfg)
        got = pmc_module.compile(model).run_dict(feeds)
        _assert_outputs(got, _onnxruntime(op, cfg), rtol=1e-4, atol=1e-5)


def test_first_masked_step_without_initial_h(pmc_module):
    """Found by the random test: with no initial_h, step 0's masked state and
    its Y frame are one value (built once), not two kernel results that CSE
    merges (that crashed the CPU kernel compilation)."""
    rng = np.random.default_rng(5)
    r = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    cfg = {"X": r(2, 2, 4), "W": r(1, 4, 4), "R": r(1, 4, 4), "B": r(1, 8),
           "lens": np.array([2, 2], np.int32),
           "attrs": {"hidden_size": 4, "activations": ["ThresholdedRelu"],
                     "activation_alpha": [0.995]}}
    model, feeds, _ = _model("RNN", cfg, ["Y", "Y_h"])
    got = pmc_module.compile(model).run_dict(feeds)
    _assert_outputs(got, _onnxruntime("RNN", cfg, ["Y", "Y_h"]), rtol=1e-4, atol=1e-5)


def test_bidirectional_lstm_at_two_devices(pmc_module):
    """Batch and hidden sizes divisible by 2: every output against onnxruntime."""
    rng = np.random.default_rng(11)
    cfg = _tame_config(rng, "LSTM", seq=5, batch=4, hidden=8, input=6,
                       direction="bidirectional", layout=0, lens=True)
    model, feeds, _ = _model("LSTM", cfg)
    got = pmc_module.compile(model, devices=2).run_dict(feeds)
    _assert_outputs(got, _onnxruntime("LSTM", cfg), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op,opset", [("RNN", 7), ("GRU", 7), ("LSTM", 7), ("GRU", 3),
                                      ("RNN", 1), ("GRU", 1), ("LSTM", 1)])
def test_older_opsets(pmc_module, op, opset):
    """Before 14 there is no layout; before 7 output_sequence (read, it only
    made Y optional); GRU-1 has no linear_before_reset. onnxruntime runs
    opset 7 on; older ones compare with the numpy recurrence."""
    rng = np.random.default_rng(opset)
    cfg = _tame_config(rng, op, layout=0)
    cfg["attrs"].pop("layout", None)
    if opset < 3:
        cfg["attrs"].pop("linear_before_reset", None)
    if opset < 7:
        cfg["attrs"]["output_sequence"] = 1
    model, feeds, names = _model(op, cfg, opset=opset)
    got = pmc_module.compile(model).run_dict(feeds)
    if opset >= 7:
        want = _onnxruntime(op, cfg)
    else:
        want = {k: v for k, v in _reference(op, cfg).items() if k in names}
    _assert_outputs(got, want, rtol=1e-4, atol=1e-5)


# --- Other element types --------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_float64(pmc_module, op, seed):
    rng = np.random.default_rng(200 + 10 * seed + GATES[op])
    cfg = _tame_config(rng, op)
    model, feeds, names = _model(op, cfg, dtype=np.float64)
    got = pmc_module.compile(model, devices=1 + seed % 2).run_dict(feeds)
    want = {k: v for k, v in _reference(op, cfg, np.float64).items() if k in names}
    _assert_outputs(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_float16(pmc_module, op):
    """float16 keeps its type; values within float16 rounding of the float64
    recurrence of the same (float16) inputs."""
    rng = np.random.default_rng(300 + GATES[op])
    cfg = _tame_config(rng, op, activations=False, seq=3, direction="bidirectional")
    cfg = {k: (v.astype(np.float16) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else v)
           for k, v in cfg.items()}
    model, feeds, names = _model(op, cfg)
    got = pmc_module.compile(model).run_dict(feeds)
    want = {k: v.astype(np.float16) for k, v in _reference(op, cfg, np.float64).items()
            if k in names}
    _assert_outputs(got, want, rtol=1e-2, atol=1e-2)


# --- What the import builds -------------------------------------------------------------------

def _imported(pmc_opt, model, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    proc = run_tool([pmc_opt, "import", path])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_unrolled_over_time(pmc_opt, tmp_path):
    """Per direction one input projection and one recurrent product per step."""
    rng = np.random.default_rng(1)
    cfg = _random_config(rng, "LSTM", seq=3, direction="bidirectional", lens=False,
                         activations=False)
    text = _imported(pmc_opt, _model("LSTM", cfg)[0], tmp_path)
    assert text.count("pmc.matmul") == 2 * (1 + 3)


def test_constant_sequence_lens_masks_only_the_short_steps(pmc_opt, tmp_path):
    """A constant sequence_lens of all-full rows needs no mask; one short row
    masks only the steps past it; a run-time one masks every step."""
    rng = np.random.default_rng(2)
    cfg = _random_config(rng, "GRU", seq=3, batch=2, direction="forward", lens=True,
                         activations=False)
    cfg["lens"] = np.array([3, 3], np.int32)
    assert "pmc.where" not in _imported(pmc_opt, _model("GRU", cfg, lens_input=False)[0],
                                        tmp_path)
    cfg["lens"] = np.array([3, 2], np.int32)
    one_short = _imported(pmc_opt, _model("GRU", cfg, ["Y_h"], lens_input=False)[0], tmp_path)
    assert one_short.count("pmc.where") == 1      # the state at step 2
    cfg.pop("h0", None)
    runtime = _imported(pmc_opt, _model("GRU", cfg, ["Y_h"])[0], tmp_path)
    assert runtime.count("pmc.where") == 3        # each step
    cfg["h0"] = np.ones((1, 2, cfg["R"].shape[-1]), np.float32)
    runtime = _imported(pmc_opt, _model("GRU", cfg, ["Y_h"])[0], tmp_path)
    assert runtime.count("pmc.where") == 3 + 1    # and Y_h of empty rows


# --- Errors -----------------------------------------------------------------------------------

def _compile_error(pmc_opt, model, tmp_path, *needles):
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    proc = run_tool([pmc_opt, "compile", path, "-o", tmp_path / "m.pmc"])
    assert_clean_failure(proc, "the_rnn", *needles)


def _error_case(op="LSTM", opset=22, **attrs):
    rng = np.random.default_rng(0)
    cfg = _random_config(rng, op, seq=2, batch=2, hidden=3, input=2, direction="forward",
                         layout=0, lens=False, activations=False)
    cfg["attrs"] = {"hidden_size": 3, **attrs}
    return cfg


@pytest.mark.parametrize("op,attrs,needles", [
    ("LSTM", {"activations": ["Sigmoid", "Tanh", "Swish"]}, ["activation 'Swish'"]),
    ("LSTM", {"activations": ["Sigmoid", "Tanh"]}, ["activations has 2", "takes 3"]),
    ("GRU", {"activations": ["ThresholdedRelu", "Tanh"]},
     ["ThresholdedRelu", "activation_alpha", "default differs"]),
    ("GRU", {"activations": ["Sigmoid", "LeakyRelu"], "activation_alpha": [0.1, 0.2]},
     ["activation_alpha", "ambiguous"]),
    ("RNN", {"activations": ["LeakyRelu"]}, ["LeakyRelu", "activation_alpha", "onnxruntime"]),
    ("LSTM", {"direction": "sideways"}, ["direction 'sideways'"]),
    ("LSTM", {"direction": "bidirectional"}, ["R must be [2, 12, 3]"]),
    ("LSTM", {"clip": -1.0}, ["clip -1"]),
    ("LSTM", {"layout": 2}, ["layout 2"]),
])
def test_bad_attributes_are_named(pmc_opt, tmp_path, op, attrs, needles):
    cfg = _error_case(op, **attrs)
    if op != "LSTM":
        G = GATES[op]
        cfg["W"] = cfg["W"][:, :G * 3]
        cfg["R"] = cfg["R"][:, :G * 3]
        cfg.pop("B", None)
    _compile_error(pmc_opt, _model(op, cfg)[0], tmp_path, *needles)


def test_hidden_size_must_match_r(pmc_opt, tmp_path):
    cfg = _error_case(hidden_size=4)
    _compile_error(pmc_opt, _model("LSTM", cfg)[0], tmp_path, "hidden_size 4")


def test_layout_before_opset_14_is_not_read(pmc_opt, tmp_path):
    cfg = _error_case(layout=0)
    _compile_error(pmc_opt, _model("LSTM", cfg, opset=13)[0], tmp_path, "layout")


def test_linear_before_reset_in_gru_1_is_not_read(pmc_opt, tmp_path):
    cfg = _error_case("GRU", linear_before_reset=1)
    cfg["W"], cfg["R"] = cfg["W"][:, :9], cfg["R"][:, :9]
    cfg.pop("B", None)
    _compile_error(pmc_opt, _model("GRU", cfg, opset=1)[0], tmp_path, "linear_before_reset")


def test_constant_sequence_lens_out_of_range(pmc_opt, tmp_path):
    cfg = _error_case()
    cfg["lens"] = np.array([1, 3], np.int32)
    _compile_error(pmc_opt, _model("LSTM", cfg, lens_input=False)[0], tmp_path,
                   "sequence_lens value 3", "[0, 2]")


def test_bfloat16_before_opset_22(pmc_opt, tmp_path):
    cfg = _error_case()
    model = _model("LSTM", cfg, opset=14)[0]
    for tensor in list(model.graph.initializer):
        value = numpy_helper.to_array(tensor)
        bits = (value.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
        bf16 = helper.make_tensor(tensor.name, onnx.TensorProto.BFLOAT16, value.shape,
                                  bits.tobytes(), raw=True)
        tensor.CopyFrom(bf16)
    for info in list(model.graph.input) + list(model.graph.output):
        info.type.tensor_type.elem_type = onnx.TensorProto.BFLOAT16
    _compile_error(pmc_opt, model, tmp_path, "bfloat16 from opset 22")
