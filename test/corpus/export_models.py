#!/usr/bin/env python3
"""Exports the `exported` family of the model corpus: torchvision and Hugging Face
models with random weights, saved as small *skeletons* under test/corpus/models/.

Run by a developer where torch, torchvision and transformers are installed (never
by CI; CI only reads the skeletons through corpus.py):

    python3 test/corpus/export_models.py                  # every model, both exporters
    python3 test/corpus/export_models.py --only gpt2 bert --no-torchscript

No pretrained weights are loaded (there is no network): every model is built from
its constructor or a small config with the library's random initialisation. Before
export, BatchNorm running statistics are randomised (mean normal, variance
positive) and every parameter that its initialisation leaves constant (biases of
zeros, LayerNorm/BatchNorm weights of ones) gets small random noise, so that a
wrong bias or scale on some device shows in the outputs.

Skeleton: every float initializer with more than 64 elements loses its data
(dims and data_type stay) and carries in its doc_string the distribution its
values had, measured on the exported tensor:

    pmc-random normal mean=M std=S       (a tensor with negative values)
    pmc-random uniform lo=L hi=H         (a tensor with all values >= 0)

corpus.py fills these with seeded random values. Tensors that are structural
rather than weights keep their data: integers, tensors of at most 64 elements,
tensors with at most 16 distinct values (masks, constant fills) and tensors with
non-finite or huge values (|x| > 1e4, attention-mask fills).

Each model is exported with torch's default exporter (`dynamo=True`) as
`<name>.onnx`; with `--torchscript` (the default) also with the TorchScript
exporter (`dynamo=False`) as `<name>_ts.onnx` when that gives a different graph
(other operators, e.g. GatherND from the transformers mask code). The text
models of DYNAMIC are also exported with dynamic batch and sequence dims
(`dynamic_shapes`, dims named "batch" and "sequence") as `<name>_dyn.onnx`, the
shapes users' exports have; the `pmc.feed_shapes` metadata gives the shapes
the corpus feeds them (name=DIMS;...), which pmc compiles with --input-shape.
"""

import argparse
import collections
import io
import os
import sys
import traceback

import numpy as np
import onnx
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS_DIR = os.path.join(HERE, "models")

BATCH = 2
SEQ = 16
VOCAB = 256
IMAGE = (BATCH, 3, 64, 64)
MARKER = "pmc-random"
MAX_KEPT_ELEMENTS = 64
SEED = 20240611


# --- Models ---------------------------------------------------------------------

def _vision(name):
    import torch
    import torchvision

    if name == "resnet50":
        model = torchvision.models.resnet50(weights=None)
    elif name == "mobilenet_v2":
        model = torchvision.models.mobilenet_v2(weights=None)
    elif name == "vit":
        # vit_b_16 fixes 12 layers of width 768; the same class, configured small.
        from torchvision.models.vision_transformer import VisionTransformer
        model = VisionTransformer(image_size=64, patch_size=16, num_layers=2, num_heads=4,
                                  hidden_dim=64, mlp_dim=128, num_classes=10)
    else:
        raise KeyError(name)
    x = torch.randn(*IMAGE)
    return model, (x,), ["image"], ["logits"], {}


def _text(name, attn=None):
    import torch
    import transformers as tf

    common = dict(vocab_size=VOCAB)
    if attn:
        common["attn_implementation"] = attn
    if name == "gpt2":
        cfg = tf.GPT2Config(n_embd=64, n_layer=2, n_head=4, n_positions=64, n_inner=128,
                            **common)
        inner, outputs = tf.GPT2LMHeadModel(cfg), ("logits",)
    elif name == "bert":
        cfg = tf.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=128, max_position_embeddings=64, **common)
        inner, outputs = tf.BertModel(cfg), ("last_hidden_state", "pooler_output")
    elif name == "llama":
        cfg = tf.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2,
                             max_position_embeddings=64, **common)
        inner, outputs = tf.LlamaForCausalLM(cfg), ("logits",)
    elif name == "distilbert":
        cfg = tf.DistilBertConfig(dim=64, hidden_dim=128, n_layers=2, n_heads=4,
                                  max_position_embeddings=64, **common)
        inner, outputs = tf.DistilBertModel(cfg), ("last_hidden_state",)
    elif name == "t5_encoder":
        cfg = tf.T5Config(d_model=64, d_ff=128, d_kv=16, num_layers=2, num_heads=4,
                          **common)
        inner, outputs = tf.T5EncoderModel(cfg), ("last_hidden_state",)
    else:
        raise KeyError(name)

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            kwargs = dict(input_ids=input_ids, attention_mask=attention_mask)
            if "use_cache" in self.inner.forward.__code__.co_varnames:
                kwargs["use_cache"] = False
            out = self.inner(**kwargs)
            return tuple(getattr(out, k) for k in outputs)

    gen = torch.Generator().manual_seed(SEED)
    ids = torch.randint(0, VOCAB, (BATCH, SEQ), generator=gen, dtype=torch.int64)
    mask = torch.ones(BATCH, SEQ, dtype=torch.int64)
    mask[1, -2:] = 0
    return Wrapper(), (ids, mask), ["input_ids", "attention_mask"], list(outputs), \
        {"vocab_size": VOCAB}


VISION = ("resnet50", "mobilenet_v2", "vit")
TEXT = ("gpt2", "bert", "llama", "distilbert", "t5_encoder")
DYNAMIC = ("gpt2", "bert")
ALL = VISION + TEXT


def build(name, attn=None):
    return _vision(name) if name in VISION else _text(name, attn)


def randomise(model, seed=SEED):
    """BatchNorm running statistics random (variance positive); parameters that
    are constant (zeros, ones) get small noise. In place; model.eval()."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=gen))
        for _, p in model.named_parameters():
            if p.numel() > 1 and float(p.std()) == 0.0:
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
    model.eval()
    return model


# --- Export ---------------------------------------------------------------------

def export(model, args, input_names, output_names, dynamo, dynamic=False):
    import torch

    if dynamo:
        dynamic_shapes = None
        if dynamic:
            from torch.export import Dim
            batch, sequence = Dim("batch"), Dim("sequence", max=64)
            dynamic_shapes = {n: {0: batch, 1: sequence} for n in input_names}
        program = torch.onnx.export(model, args, dynamo=True, input_names=input_names,
                                    output_names=output_names, external_data=False,
                                    dynamic_shapes=dynamic_shapes)
        return program.model_proto
    buf = io.BytesIO()
    torch.onnx.export(model, args, buf, dynamo=False, input_names=input_names,
                      output_names=output_names, opset_version=17, do_constant_folding=True)
    return onnx.load_from_string(buf.getvalue())


def _first_line(e):
    """The first line of the innermost cause of `e`."""
    while e.__cause__ is not None:
        e = e.__cause__
    text = str(e).strip()
    return f"{type(e).__name__}: " + (text.splitlines()[0] if text else "")


def _structural(values):
    """True when a float tensor is structure rather than a weight: non-finite or
    huge values, or very few distinct values."""
    if not np.isfinite(values).all() or np.abs(values).max(initial=0.0) > 1e4:
        return True
    return np.unique(values).size <= 16


def skeletonize(model):
    """Replaces the data of large float initializers by a `pmc-random` marker;
    returns the number of tensors replaced."""
    replaced = 0
    for t in model.graph.initializer:
        if t.data_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16,
                               onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16):
            continue
        if int(np.prod(t.dims, dtype=np.int64)) <= MAX_KEPT_ELEMENTS:
            continue
        values = numpy_helper.to_array(t).astype(np.float64)
        if _structural(values):
            continue
        if values.min() >= 0.0:
            marker = f"{MARKER} uniform lo={values.min():.6g} hi={values.max():.6g}"
        else:
            marker = f"{MARKER} normal mean={values.mean():.6g} std={values.std():.6g}"
        for field in ("raw_data", "float_data", "double_data", "int32_data"):
            t.ClearField(field)
        t.doc_string = marker
        replaced += 1
    return replaced


def strip_debug_info(model):
    """Drops the exporter's per-node metadata (stack traces, FX nodes, scopes) and
    doc strings: most of the file's size once the weights are gone."""
    for node in model.graph.node:
        node.ClearField("metadata_props")
        node.doc_string = ""
    for vi in list(model.graph.value_info) + list(model.graph.input) + list(model.graph.output):
        vi.ClearField("metadata_props")
    for t in model.graph.initializer:
        t.ClearField("metadata_props")


def op_counts(model):
    return collections.Counter(f"{n.domain}:{n.op_type}" for n in model.graph.node)


def export_one(name, out_dir, torchscript=True):
    """Exports `name` (and its TorchScript variant); returns lines for the log."""
    import torch

    torch.manual_seed(SEED)
    model, args, input_names, output_names, meta = build(name)
    randomise(model)
    lines = []
    variants = [("", True, False)] + ([("_ts", False, False)] if torchscript else []) \
        + ([("_dyn", True, True)] if name in DYNAMIC else [])
    first_ops = None
    for suffix, dynamo, dynamic in variants:
        if dynamic:
            meta = {**meta, "feed_shapes": ";".join(
                f"{n}=" + "x".join(str(d) for d in a.shape) for n, a in zip(input_names, args))}
        file_name = f"{name}{suffix}.onnx"
        try:
            try:
                proto = export(model, args, input_names, output_names, dynamo, dynamic)
            except Exception as e:  # noqa: BLE001
                if name not in TEXT:
                    raise
                # The sdpa attention of some models does not decompose (T5: "Cannot
                # view a tensor with shape ..."); the eager attention does.
                lines.append(f"{file_name}: {'dynamo' if dynamo else 'torchscript'} export "
                             f"with sdpa attention failed ({_first_line(e)[:200]}); "
                             "exported with eager attention")
                torch.manual_seed(SEED)
                eager, *_ = build(name, attn="eager")
                eager.load_state_dict(model.state_dict())
                proto = export(eager.eval(), args, input_names, output_names, dynamo, dynamic)
        except Exception as e:  # noqa: BLE001 - a failed export is reported, not fatal
            msg = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
            lines.append(f"{file_name}: export failed ({'dynamo' if dynamo else 'torchscript'}"
                         f" exporter): {msg[:300]}")
            traceback.print_exc()
            continue
        ops = op_counts(proto)
        if suffix == "_ts" and first_ops is not None and set(ops) == set(first_ops):
            lines.append(f"{file_name}: not kept, same operators as {name}.onnx")
            continue
        if not suffix:
            first_ops = ops
        proto.ir_version = min(proto.ir_version, 10)
        for k, v in {**meta, "pmc.exporter": "dynamo" if dynamo else "torchscript",
                     "pmc.source": name}.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = (k if k.startswith("pmc.") else f"pmc.{k}"), str(v)
        strip_debug_info(proto)
        replaced = skeletonize(proto)
        path = os.path.join(out_dir, file_name)
        onnx.save(proto, path)
        size = os.path.getsize(path)
        lines.append(f"{file_name}: {len(proto.graph.node)} nodes, {replaced} tensors "
                     f"randomised, {size / 1024:.0f} KiB; ops: "
                     + " ".join(sorted(k.split(":", 1)[1] for k in ops)))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=ALL, help="models to export")
    parser.add_argument("--out-dir", default=MODELS_DIR)
    parser.add_argument("--no-torchscript", dest="torchscript", action="store_false",
                        help="skip the dynamo=False variants")
    args = parser.parse_args(argv)
    import torch
    import transformers
    try:
        import torchvision  # noqa: PLC0415 - only the vision models need it
        vision = torchvision.__version__
    except ImportError:
        vision = "absent"

    torch.set_num_threads(1)
    os.makedirs(args.out_dir, exist_ok=True)
    print(f"torch {torch.__version__}, torchvision {vision}, "
          f"transformers {transformers.__version__}, onnx {onnx.__version__}")
    for name in args.only or ALL:
        for line in export_one(name, args.out_dir, args.torchscript):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
