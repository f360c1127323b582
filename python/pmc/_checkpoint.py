"""Training checkpoints (Trainer.save, pmc.load_training): one zip file, the
format pmc-run --save / --resume share (tools/pmc-run/TrainCheckpoint.h).

    manifest.json   format "pmc-training-checkpoint", version, step, the loss
                    and optimizer (type and fields), compile settings, and per
                    array its file, dtype, shape and sha256
    model.onnx      the forward model (its weights: the trained ones)
    arrays/N.npy    parameters, buffers (BatchNormalization's running
                    statistics), then optimizer states

Everything read is validated (format, version, checksums, shapes) before it is
used; a damaged or foreign file is a ValueError naming what is wrong.
"""

import dataclasses
import hashlib
import io
import json
import os
import zipfile

import numpy as np

FORMAT = "pmc-training-checkpoint"
VERSION = 1


def _describe(obj):
    from . import training  # noqa: PLC0415

    fields = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.name == "lr" and callable(value):
            if not isinstance(value, (training.schedules.Constant,
                                      training.schedules.WarmupCosine)):
                value = None  # a custom callable: load_training(lr=...) gives it again
            else:
                value = {"schedule": type(value).__name__, **dataclasses.asdict(value)}
        fields[f.name] = list(value) if isinstance(value, tuple) else value
    return {"type": type(obj).__name__, "fields": fields}


def _rebuild(description, lr=None):
    from . import training  # noqa: PLC0415

    if not isinstance(description, str):
        kinds = {c.__name__: c for c in (training.CrossEntropyLoss, training.MSELoss,
                                         training.L1Loss, training.BCEWithLogitsLoss,
                                         training.SGD, training.Adam, training.AdamW)}
        cls = kinds.get(description.get("type"))
        if cls is None:
            raise ValueError(f"checkpoint: unknown loss or optimizer {description.get('type')!r}")
        fields = dict(description["fields"])
        if "lr" in fields:
            value = fields["lr"]
            if lr is not None:
                value = lr
            elif isinstance(value, dict):
                schedule = getattr(training.schedules, value.pop("schedule"))
                value = schedule(**value)
            elif value is None:
                raise ValueError("checkpoint: the learning rate was a custom callable; pass "
                                 "lr= to load_training")
            fields["lr"] = value
        if "betas" in fields:
            fields["betas"] = tuple(fields["betas"])
        return cls(**fields)
    return description


def save(trainer, path):
    import onnx  # noqa: PLC0415

    model = onnx.ModelProto()
    model.CopyFrom(trainer._model)
    from onnx import numpy_helper  # noqa: PLC0415
    params, states = trainer.parameters(), trainer.optimizer_state()
    buffers = trainer.buffers()
    for t in model.graph.initializer:
        trained = params.get(t.name, buffers.get(t.name))
        if trained is not None:
            t.CopyFrom(numpy_helper.from_array(trained, t.name))
    model_bytes = model.SerializeToString()
    arrays = {**params, **buffers, **states}
    entries = {}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for i, (name, value) in enumerate(arrays.items()):
            buffer = io.BytesIO()
            # (np.ascontiguousarray would make a 0-d state 1-d.)
            np.save(buffer, np.require(value, requirements="C"), allow_pickle=False)
            data = buffer.getvalue()
            file = f"arrays/{i}.npy"
            z.writestr(file, data)
            entries[name] = {"file": file, "dtype": str(value.dtype), "shape": list(value.shape),
                             "sha256": hashlib.sha256(data).hexdigest()}
        z.writestr("model.onnx", model_bytes)
        loss = trainer._loss
        manifest = {
            "format": FORMAT, "version": VERSION, "step": trainer._step,
            "loss": _describe(loss) if dataclasses.is_dataclass(loss) else loss,
            "optimizer": _describe(trainer._optimizer),
            "settings": trainer._settings,
            "parameters": list(params), "buffers": list(buffers), "states": list(states),
            "arrays": entries, "model_sha256": hashlib.sha256(model_bytes).hexdigest(),
        }
        z.writestr("manifest.json", json.dumps(manifest, indent=1))


def load(path, devices, lr, options, model=None, loss=None, optimizer=None):
    import onnx  # noqa: PLC0415

    from . import training  # noqa: PLC0415

    try:
        z = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: not a pmc training checkpoint ({e})") from None
    with z:
        try:
            manifest = json.loads(z.read("manifest.json"))
        except (KeyError, ValueError, zipfile.BadZipFile) as e:
            raise ValueError(f"{path}: no readable manifest.json ({e})") from None
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{path}: not a pmc training checkpoint "
                             f"(format {manifest.get('format')!r})")
        if manifest.get("version") != VERSION:
            raise ValueError(f"{path}: checkpoint version {manifest.get('version')!r}; this "
                             f"pmc reads version {VERSION}")

        def read(member, sha256, what):
            # Every member's CRC-32 is checked by zipfile; Trainer.save adds a
            # sha256 (pmc-run's checkpoints have the CRC alone).
            try:
                data = z.read(member)
            except (KeyError, zipfile.BadZipFile) as e:
                raise ValueError(f"{path}: {what} ({member}) is missing or damaged: {e}") from None
            if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
                raise ValueError(f"{path}: {what} ({member}) fails its checksum: the file is "
                                 "damaged")
            return data

        if model is not None:
            model = training._load_forward(model)
        elif "model.onnx" in z.namelist():
            model = onnx.load_from_string(read("model.onnx", manifest.get("model_sha256"),
                                               "the model"))
        else:
            raise ValueError(f"{path}: the checkpoint holds no model (pmc-run writes none); "
                             "pass model=, loss= and optimizer= to load_training")
        if loss is None and "loss" not in manifest:
            raise ValueError(f"{path}: the checkpoint names no loss; pass loss=")
        if optimizer is None and manifest.get("optimizer", {}).get("type") is None:
            raise ValueError(f"{path}: the checkpoint names no optimizer of pmc's Python API; "
                             "pass optimizer=")
        arrays = {}
        for name, entry in manifest["arrays"].items():
            value = np.load(io.BytesIO(read(entry["file"], entry.get("sha256"),
                                            f"array '{name}'")),
                            allow_pickle=False)
            if list(value.shape) != entry["shape"] or str(value.dtype) != entry["dtype"]:
                raise ValueError(f"{path}: array '{name}' is {value.dtype}{list(value.shape)}, "
                                 f"the manifest says {entry['dtype']}{entry['shape']}")
            arrays[name] = value
    settings = dict(manifest.get("settings", {}))
    settings.update(options)
    if devices is not None:
        settings["devices"] = devices
        # A pipeline whose stages do not divide the new device count: none.
        if settings.get("stages") and devices % settings["stages"]:
            settings["stages"] = 0
    if optimizer is not None and lr is not None:
        optimizer = dataclasses.replace(optimizer, lr=lr)
    trainer = training.compile_training(
        model, loss=loss if loss is not None else _rebuild(manifest["loss"]),
        optimizer=optimizer if optimizer is not None else _rebuild(manifest["optimizer"], lr),
        **settings)
    buffers = manifest.get("buffers", [])
    if sorted(trainer._param_names) != sorted(manifest["parameters"]) or \
            sorted(trainer._buffer_names) != sorted(buffers) or \
            sorted(trainer._state_names) != sorted(manifest["states"]):
        raise ValueError(f"{path}: its parameters, buffers and states do not match the model's")
    trainer._restore({n: arrays[n] for n in manifest["parameters"]},
                     {n: arrays[n] for n in manifest["states"]}, int(manifest["step"]),
                     {n: arrays[n] for n in buffers})
    return trainer
