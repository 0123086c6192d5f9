"""``fes-train export``: a checkpoint -> a model folder the app loads (engine.manifest layout).

Written into the folder, atomically (a hidden sibling folder renamed into place at the end):

    model.onnx, weights.safetensors      the generator (ONNX opset 17, dynamic batch axis)
    <role>.onnx, <role>.safetensors      each auxiliary network the family declares
                                         (LandmarkGAN's stage I as ``landmarks``, TER-GAN's
                                         recogniser as ``recognizer``); its engine.nets family is
                                         ``<family>_<role>`` and it shares the manifest's architecture
    manifest.json                        engine.manifest.Manifest

Before anything is moved into place, every network is checked on a real input (the first held-out
pairs of the checkpoint's dataset, batch of two): ONNX Runtime's output must match PyTorch's within
``tolerance`` (max abs difference, 1e-3 by default), and the network rebuilt from engine.nets + the
safetensors file must match exactly. A failed check raises and leaves the destination untouched.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from engine.errors import FesError, ModelError
from engine.geometry.labels import EXPRESSIONS
from engine.io.atomic import atomic_dir
from engine.manifest import MANIFEST_NAME, Manifest
from engine.nets.registry import get_family
from training.config import ExperimentConfig
from training.data.pairs import PairDataset
from training.trainer import TrainingModel, model_from_checkpoint, pair_dataset

log = logging.getLogger(__name__)

OPSET = 17
DEFAULT_TOLERANCE = 1e-3
PARITY_BATCH = 2


class ExportError(FesError):
    """An export could not be completed; nothing was written to the destination."""


@dataclass(frozen=True)
class ExportedNetwork:
    role: str  # "model" for the generator, else the auxiliary role
    family: str
    stem: str
    max_abs_diff: float


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    manifest: Manifest
    networks: tuple[ExportedNetwork, ...]


def real_batch(dataset: PairDataset, count: int = PARITY_BATCH) -> dict[str, torch.Tensor]:
    """The first ``count`` pairs of ``dataset`` stacked into a batch dict."""
    items = [dataset[i] for i in range(min(count, len(dataset)))]
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def _onnx_outputs(path: Path, names: list[str], inputs: tuple[torch.Tensor, ...]) -> np.ndarray:
    from engine.backends.ort import onnxruntime

    session = onnxruntime().InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {name: tensor.detach().cpu().numpy() for name, tensor in zip(names, inputs)}
    return session.run(None, feeds)[0]


def _state_for_safetensors(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone().contiguous() for k, v in net.state_dict().items()}


def export_network(net: nn.Module, family_name: str, architecture: Any, inputs: tuple[torch.Tensor, ...],
                   onnx_path: Path, weights_path: Path, tolerance: float) -> float:
    """Write one network's ONNX and safetensors files and check both; returns the ONNX max abs diff."""
    family = get_family(family_name)
    if len(inputs) != len(family.inputs):
        raise ExportError(f"{family_name}: {len(inputs)} inputs given, its InputSpec lists {len(family.inputs)}")
    names = [spec.name for spec in family.inputs]
    net = net.eval().cpu()
    inputs = tuple(t.detach().cpu() for t in inputs)
    with torch.no_grad():
        expected = net(*inputs)
    try:
        with warnings.catch_warnings():
            # dynamo=False (the TorchScript-based exporter) is this project's choice; torch calls it legacy.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                net,
                inputs,
                str(onnx_path),
                dynamo=False,
                opset_version=OPSET,
                input_names=names,
                output_names=["output"],
                dynamic_axes={name: {0: "batch"} for name in [*names, "output"]},
            )
    except Exception as exc:  # the exporter raises many types (tracing, symbolic, ONNX checker)
        raise ExportError(f"{family_name}: ONNX export failed ({type(exc).__name__}: {exc})") from exc
    save_file(_state_for_safetensors(net), str(weights_path), metadata={"family": family_name})

    got = _onnx_outputs(onnx_path, names, inputs)
    diff = float(np.abs(got - expected.numpy()).max())
    if not diff <= tolerance:
        raise ExportError(f"{family_name}: ONNX output differs from PyTorch by {diff:.3g} (> {tolerance:g}); export aborted")

    rebuilt = family.build(architecture).eval()
    try:
        rebuilt.load_state_dict(load_file(str(weights_path)))
    except RuntimeError as exc:
        raise ExportError(f"{family_name}: safetensors weights do not rebuild the engine network ({exc})") from exc
    with torch.no_grad():
        again = rebuilt(*inputs)
    if not torch.equal(again, expected):
        raise ExportError(f"{family_name}: the network rebuilt from engine.nets + safetensors gives other outputs")
    log.info("%s: exported %s (ONNX max abs diff %.2e)", family_name, onnx_path.name, diff)
    return diff


def _network_inputs(model: TrainingModel, batch: dict[str, torch.Tensor]) -> tuple[tuple[torch.Tensor, ...], dict]:
    for net in model.networks().values():
        net.eval()
    with torch.no_grad():
        model.set_input(batch)
        main = tuple(model.generator_inputs())
        auxiliary = model.auxiliary_networks()
    return main, auxiliary


def export_checkpoint(
    checkpoint: str | Path,
    destination: str | Path,
    *,
    name: str | None = None,
    version: str = "1.0.0",
    licence: str | None = None,
    metrics: dict[str, float] | None = None,
    data_root: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    overwrite: bool = False,
) -> ExportResult:
    """Export a fes-train checkpoint to a model folder (see the module docstring)."""
    model, config, state = model_from_checkpoint(checkpoint)
    if data_root:
        config = dataclasses.replace(config, data=dataclasses.replace(config.data, root=data_root))
    dataset = pair_dataset(config, config.data.eval_split)
    batch = real_batch(dataset)
    main_inputs, auxiliary = _network_inputs(model, batch)
    architecture = config.architecture
    for role, (family_name, _, _) in auxiliary.items():
        if family_name != f"{config.family}_{role}":
            raise ExportError(f"auxiliary {role!r} is family {family_name!r}; the app expects {config.family}_{role}")

    family = get_family(config.family)
    manifest = Manifest(
        name=name or config.name,
        family=config.family,
        paper=family.paper,
        version=version,
        image_size=config.data.size,
        inputs=family.inputs,
        architecture=json.loads(json.dumps(dataclasses.asdict(architecture))),
        labels=EXPRESSIONS,
        auxiliary={role: role for role in auxiliary},
        training_data=(
            f"{config.data.kind}: {config.data.split} people, "
            f"{_pairs_text(config)} pairs, {config.data.size} px, {int(state['step'])} steps"
            + (f" from the weights of {Path(config.schedule.init_from).name}" if config.schedule.init_from else "")
        ),
        metrics=dict(metrics or {}),
        licence=licence if licence is not None else config.licence,
        outputs=family.outputs,
        prewarp=config.data.prewarp,
    )
    exported: list[ExportedNetwork] = []
    Path(destination).parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(destination, overwrite=overwrite) as folder:
        diff = export_network(model.generator, config.family, architecture, main_inputs, folder / manifest.onnx,
                              folder / manifest.weights, tolerance)
        exported.append(ExportedNetwork("model", config.family, Path(manifest.onnx).stem, diff))
        for role, (family_name, net, inputs) in auxiliary.items():
            diff = export_network(net, family_name, architecture, tuple(inputs), folder / f"{role}.onnx",
                                  folder / f"{role}.safetensors", tolerance)
            exported.append(ExportedNetwork(role, family_name, role, diff))
        (folder / MANIFEST_NAME).write_text(manifest.to_json(), encoding="utf-8")
    log.info("exported %s to %s", manifest.name, destination)
    return ExportResult(folder=Path(destination), manifest=manifest, networks=tuple(exported))


def load_exported(folder: str | Path) -> tuple[Manifest, nn.Module, dict[str, nn.Module]]:
    """Rebuild an exported model folder's generator and auxiliaries in PyTorch (engine.nets + safetensors)."""
    from engine.manifest import load_manifest

    folder = Path(folder)
    manifest = load_manifest(folder)

    def build(family_name: str, weights: str) -> nn.Module:
        family = get_family(family_name)
        net = family.build(family.config_from_dict(manifest.architecture)).eval()
        path = folder / weights
        try:
            net.load_state_dict(load_file(str(path)))
        except (OSError, RuntimeError) as exc:
            raise ModelError(f"{path}: cannot load weights ({exc})") from exc
        return net

    generator = build(manifest.family, manifest.weights)
    auxiliary = {role: build(f"{manifest.family}_{role}", f"{stem}.safetensors") for role, stem in manifest.auxiliary.items()}
    return manifest, generator, auxiliary


def _pairs_text(config: ExperimentConfig) -> str:
    """How the training pairs were made, for the manifest's ``training_data``."""
    if not config.data.prewarp:
        return config.data.pairing
    kinds = "n2e, e2n, reopen, return" + (f", {config.data.prewarp_keep} keep per person" if config.data.prewarp_keep else "")
    return f"pre-warped ({kinds})"
