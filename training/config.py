"""Experiment configuration: a TOML file -> frozen dataclasses, and the resolved config written back.

A config file (see training/configs/*.toml)::

    name = "lgan-london"
    family = "lgan"              # engine.nets / training.families registry name
    licence = "CC BY 4.0 (London set)"

    [architecture]               # overrides of the family's architecture dataclass
    [loss]                       # overrides of the family's loss dataclass (weights, Adam settings)
    [data]                       # DataConfig
    [features]                   # FeaturesConfig
    [schedule]                   # ScheduleConfig; lr / beta1 / beta2 here are moved into [loss]

Unknown keys are errors. ``architecture.image_size`` always equals ``data.size``. Relative paths
(data root, weights) are relative to the config file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import FesError, ModelError
from engine.nets.registry import get_family
from training.base import training_model_cls
from training.features import FeatureError
from training.identity_net import folder_weights

OPTIMISER_KEYS = ("lr", "beta1", "beta2")
DEVICES = ("auto", "cpu", "cuda")


class ConfigError(FesError):
    """An experiment config file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class DataConfig:
    """Which photos to train on and how to pair them (training.data)."""

    kind: str = "london"
    root: str = ""
    size: int = 128
    pairing: str = "neutral_to_expression"
    split: str = "dev"  # the people trained on
    eval_split: str = "held_out"  # the people evaluated on
    split_file: str = ""  # JSON with dev / held_out person lists; London uses resources/splits/london.json
    held_out_fraction: float = 0.2  # hash split (seeded by schedule.seed) of other datasets without a split_file
    flip: bool = False
    prewarp: bool = False  # warp-guided mode: src_image is the source mesh-warped to the target (training/data/prewarp.py)
    # warp-guided mode: per person, this many 'keep' pairs (a label recipe other than happy, warped,
    # as its own target; training/data/prewarp.py); 0: none
    prewarp_keep: int = 0
    cache_dir: str = ""  # preprocessing cache root; empty: the user cache folder
    options: dict[str, Any] = field(default_factory=dict)  # adapter options (training.data.adapters)


@dataclass(frozen=True)
class FeaturesConfig:
    """Frozen feature networks for the losses (training.features)."""

    perceptual: str = "mobilenet_v2-imagenet"  # or "vgg19-conv1_2" (needs vgg19_weights) or "none"
    vgg19_weights: str = ""
    # TorchScript, a MobileNetV2Embedding state dict, or a distilled identity folder
    # (resources/models/identity-distilled, training.identity_net: it also sets identity_input_size);
    # empty: the identity loss is off
    identity_weights: str = ""
    identity_input_size: int = 112


@dataclass(frozen=True)
class ScheduleConfig:
    steps: int = 1000
    batch_size: int = 16
    seed: int = 0
    checkpoint_every: int = 500
    sample_every: int = 250
    log_every: int = 25
    keep_checkpoints: int = 3
    device: str = "auto"  # auto: CUDA when available (the local rank's GPU under torchrun), else CPU
    num_workers: int = 0
    max_minutes: float = 0.0  # > 0: also stop (with a checkpoint) once this much training time has passed
    # > 0: from this step on every learning rate falls linearly to zero at ``steps`` (pix2pix's
    # n_epochs_decay, counted in steps); 0 keeps the rates constant.
    decay_from: int = 0
    # a checkpoint (relative to the config file) whose network weights start a new run (fine-tuning;
    # the optimisers start afresh); ignored when the run folder already holds checkpoints to resume
    init_from: str = ""


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    family: str
    architecture: Any  # the family's frozen architecture dataclass
    loss: Any  # the family's frozen loss dataclass
    data: DataConfig
    features: FeaturesConfig
    schedule: ScheduleConfig
    licence: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the resolved config (lists for tuples), as saved beside checkpoints."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def _check_value(name: str, value: Any, default: Any, where: str) -> Any:
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, (tuple, list)):
        ok = isinstance(value, (tuple, list))
        value = tuple(value) if ok else value
    elif isinstance(default, dict):
        ok = isinstance(value, dict)
    else:
        ok = True
    if not ok:
        raise ConfigError(f"{where}.{name}: expected {type(default).__name__}, got {value!r}")
    return value


def build_dataclass(cls: type, values: dict[str, Any], where: str) -> Any:
    """``cls(**values)`` with unknown keys and wrongly typed values reported against ``where``."""
    if not isinstance(values, dict):
        raise ConfigError(f"[{where}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"[{where}]: unknown keys {unknown}; valid: {sorted(fields)}")
    checked = {}
    for name, value in values.items():
        f = fields[name]
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        )
        checked[name] = _check_value(name, value, default, where)
    try:
        return cls(**checked)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"[{where}]: {exc}") from exc


def _resolve_path(text: str, base: Path) -> str:
    if not text:
        return text
    path = Path(os.path.expandvars(text)).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def _identity_folder(features: FeaturesConfig, size_given: bool) -> FeaturesConfig:
    """A distilled identity folder as identity_weights: its weights file and its input size."""
    try:
        weights, size = folder_weights(features.identity_weights)
    except FeatureError as exc:
        raise ConfigError(f"features.identity_weights: {exc}") from None
    if size_given and features.identity_input_size != size:
        raise ConfigError(f"features.identity_input_size {features.identity_input_size} differs from the "
                          f"{size} of {features.identity_weights}")
    return dataclasses.replace(features, identity_weights=str(weights), identity_input_size=size)


def config_from_dict(data: dict[str, Any], base: Path = Path(".")) -> ExperimentConfig:
    """Resolve a parsed config (TOML or a checkpoint's saved dict) against the registries."""
    data = dict(data)
    known = {"name", "family", "licence", "architecture", "loss", "data", "features", "schedule"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown top-level keys {unknown}; valid: {sorted(known)}")
    family = data.get("family")
    if not isinstance(family, str):
        raise ConfigError("missing family = \"<name>\" (lgan, g2gan, unet_cgan, tergan, landmarkgan)")
    try:
        family_entry = get_family(family)
        loss_cls = training_model_cls(family).loss_config_cls()
    except (ModelError, KeyError) as exc:
        raise ConfigError(str(exc).strip('"')) from None

    data_table = dict(data.get("data", {}))
    data_cfg = build_dataclass(DataConfig, data_table, "data")
    data_cfg = dataclasses.replace(data_cfg, root=_resolve_path(data_cfg.root, base), split_file=_resolve_path(data_cfg.split_file, base),
                                   cache_dir=_resolve_path(data_cfg.cache_dir, base))
    features_table = dict(data.get("features", {}))
    features = build_dataclass(FeaturesConfig, features_table, "features")
    features = dataclasses.replace(
        features,
        vgg19_weights=_resolve_path(features.vgg19_weights, base),
        identity_weights=_resolve_path(features.identity_weights, base),
    )
    if features.identity_weights and Path(features.identity_weights).is_dir():
        features = _identity_folder(features, "identity_input_size" in features_table)

    schedule_table = dict(data.get("schedule", {}))
    loss_table = dict(data.get("loss", {}))
    for key in OPTIMISER_KEYS:
        if key in schedule_table:
            value = schedule_table.pop(key)
            if key in loss_table and loss_table[key] != value:
                raise ConfigError(f"{key} is set in both [schedule] ({value}) and [loss] ({loss_table[key]})")
            loss_table[key] = value
    schedule = build_dataclass(ScheduleConfig, schedule_table, "schedule")
    schedule = dataclasses.replace(schedule, init_from=_resolve_path(schedule.init_from, base))
    if data_cfg.prewarp_keep < 0 or (data_cfg.prewarp_keep and not data_cfg.prewarp):
        raise ConfigError(f"data.prewarp_keep must be 0, or >= 1 with prewarp = true; got {data_cfg.prewarp_keep}")
    if schedule.device not in DEVICES and not schedule.device.startswith("cuda:"):
        raise ConfigError(f"schedule.device {schedule.device!r}: use one of {', '.join(DEVICES)} or cuda:<index>")
    for name in ("steps", "batch_size", "checkpoint_every", "sample_every", "log_every", "keep_checkpoints"):
        if getattr(schedule, name) < 1:
            raise ConfigError(f"schedule.{name} must be at least 1")
    if not 0 <= schedule.decay_from < schedule.steps:
        raise ConfigError(f"schedule.decay_from must lie in [0, steps) = [0, {schedule.steps}), got {schedule.decay_from}")
    loss = build_dataclass(loss_cls, loss_table, "loss")

    arch_table = dict(data.get("architecture", {}))
    if "image_size" in arch_table and arch_table["image_size"] != data_cfg.size:
        raise ConfigError(f"architecture.image_size {arch_table['image_size']} differs from data.size {data_cfg.size}")
    if "image_size" in {f.name for f in dataclasses.fields(family_entry.config_cls)}:
        arch_table["image_size"] = data_cfg.size
    try:
        architecture = family_entry.config_from_dict(arch_table)
    except (ModelError, TypeError, ValueError) as exc:
        raise ConfigError(f"[architecture]: {exc}") from exc

    name = data.get("name", family)
    licence = data.get("licence", "")
    if not isinstance(name, str) or not isinstance(licence, str):
        raise ConfigError("name and licence must be strings")
    return ExperimentConfig(name, family, architecture, loss, data_cfg, features, schedule, licence)


def load_config(path: str | Path) -> ExperimentConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    try:
        return config_from_dict(data, base=path.resolve().parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items() if v is not None) + " }"
    raise ConfigError(f"cannot write {value!r} to TOML")


def to_toml(config: ExperimentConfig) -> str:
    """The resolved config as TOML that :func:`load_config` reads back to an equal config."""
    data = config.to_dict()
    lines = [f"{key} = {_toml_value(data[key])}" for key in ("name", "family", "licence")]
    for table in ("architecture", "loss", "data", "features", "schedule"):
        lines += ["", f"[{table}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in data[table].items() if value is not None]
    return "\n".join(lines) + "\n"
