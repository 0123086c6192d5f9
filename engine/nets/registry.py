"""Registry of generator families: name -> architecture config dataclass + builder.

A family module declares itself with :func:`register`::

    @dataclass(frozen=True)
    class LganConfig:
        image_size: int = 128
        ...

    @register("lgan", paper="...", config=LganConfig, inputs=(InputSpec("image", "image", 3), ...))
    class LganGenerator(nn.Module):
        def __init__(self, config: LganConfig): ...
        def forward(self, image, heatmap, labels): ...

``forward`` takes the inputs in the order of ``inputs`` and returns one (B, 3, N, N) image in
[-1, 1] (RGB). See ``engine/nets/template.py`` for a new family.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from engine.errors import ModelError

INPUT_KINDS = (
    "image",  # (3, N, N) the photo to edit, RGB in [-1, 1]
    "source_image",  # (3, N, N) a second photo whose expression drives the output
    "heatmap68",  # (68, N, N) one Gaussian per landmark, [0, 1]
    "heatmap1",  # (1, N, N) all landmarks in one map, [0, 1]
    "label_maps",  # (L, N, N) paper 1's label maps in [-1, 1]
    "label_onehot",  # (L,) one-hot label vector (optionally scaled by intensity)
    "landmark_image",  # (3, N, N) LandmarkGAN's coloured landmark image, RGB in [-1, 1]
    "landmarks",  # (68, 2) crop pixels divided by N (0..1)
    "noise",  # (Z,) standard normal noise
    "guidance",  # (3, N, N) rendered target geometry of engine.synthesis.guidance, [0, 1]
)


@dataclass(frozen=True)
class InputSpec:
    """One input of a generator's forward, in order; ``channels`` is C of (C, N, N) or the length of a vector."""

    name: str
    kind: str
    channels: int

    def __post_init__(self) -> None:
        if self.kind not in INPUT_KINDS:
            raise ValueError(f"unknown input kind {self.kind!r}; known: {', '.join(INPUT_KINDS)}")


@dataclass(frozen=True)
class Family:
    name: str
    paper: str
    config_cls: type
    generator_cls: type
    inputs: tuple[InputSpec, ...]
    outputs: tuple[str, ...] = ("image",)  # ("image", "attention"): channels 0-2 the image, 3 the mask

    def build(self, config: Any | None = None) -> Any:
        return self.generator_cls(config if config is not None else self.config_cls())

    def config_from_dict(self, values: dict[str, Any]) -> Any:
        """Rebuild the frozen config from a manifest or checkpoint dict; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(self.config_cls)}
        unknown = set(values) - names
        if unknown:
            raise ModelError(f"{self.name}: unknown architecture keys {sorted(unknown)}")
        fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return self.config_cls(**fixed)


_FAMILIES: dict[str, Family] = {}


def register(name: str, *, paper: str, config: type, inputs: tuple[InputSpec, ...],
             outputs: tuple[str, ...] = ("image",)) -> Callable[[type], type]:
    """Class decorator that adds a generator family to the registry. ``outputs`` names the output's
    channel groups: ("image",) for (B, 3, N, N), ("image", "attention") for (B, 4, N, N)."""

    def wrap(cls: type) -> type:
        if name in _FAMILIES:
            raise ValueError(f"generator family {name!r} registered twice")
        _FAMILIES[name] = Family(name=name, paper=paper, config_cls=config, generator_cls=cls, inputs=inputs,
                                 outputs=tuple(outputs))
        return cls

    return wrap


def _load_builtin() -> None:
    # Imported for their @register side effect; kept here so callers need only this module.
    from engine.nets import families  # noqa: F401


def get_family(name: str) -> Family:
    _load_builtin()
    try:
        return _FAMILIES[name]
    except KeyError:
        raise ModelError(f"unknown generator family {name!r}; known: {', '.join(sorted(_FAMILIES))}") from None


def family_names() -> list[str]:
    _load_builtin()
    return sorted(_FAMILIES)
