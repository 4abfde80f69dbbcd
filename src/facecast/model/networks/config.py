"""Model configurations: one frozen dataclass, three named capacities.

``paper`` follows Zakharov et al. 2019 at 256² (embedder 64→512 channels, generator with
4 down blocks, 5 AdaIN residual blocks at 512 channels, 4 up blocks). ``realtime`` keeps
the same topology but narrow channels so that the per-frame generator stays at a few
GFLOPs (aimed at >= 1000 frames/s batched in fp16 on one H100 at 256²). ``tiny`` (64²)
exists for CPU tests.

Widths are tuples with one entry per block, so the number of down / residual / up blocks
is the length of the matching tuple (``generator_res_blocks`` counts the bottleneck).
Checkpoints store the config as a plain dict (``config_to_dict``) and rebuild it with
``config_from_dict``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["ModelConfig", "CONFIGS", "get_config", "config_to_dict", "config_from_dict"]


@dataclass(frozen=True)
class ModelConfig:
    """Capacity and resolution of the talking-head networks."""

    name: str
    image_size: int  # side of the square frames and landmark images (pixels)
    embed_dim: int  # identity embedding size E (last embedder / discriminator width)
    # Embedder: one residual down block per entry (each halves the side); last == embed_dim.
    embedder_channels: tuple[int, ...]
    # Generator: down blocks (instance norm), then `generator_res_blocks` AdaIN residual
    # blocks at generator_down_channels[-1], then one AdaIN up block per up entry.
    generator_down_channels: tuple[int, ...]
    generator_res_blocks: int
    generator_up_channels: tuple[int, ...]
    # Discriminator trunk: one residual down block per entry, plus one more residual
    # block at the last width (which must equal embed_dim for the projection).
    discriminator_channels: tuple[int, ...]
    # Side of the feature map that carries self-attention (embedder, discriminator and the
    # generator's down and up paths).
    attention_size: int
    num_landmark_channels: int = 3
    # Landmark polyline width in pixels at 256² (scaled with the output size, at least 1).
    landmark_line_width: float = 2.0

    def __post_init__(self) -> None:
        s = self.image_size
        if s < 16 or s & (s - 1):
            raise ValueError(f"config {self.name!r}: image_size must be a power of two >= 16, got {s}")
        if self.embedder_channels[-1] != self.embed_dim:
            raise ValueError(f"config {self.name!r}: embedder_channels must end with embed_dim={self.embed_dim}")
        if self.discriminator_channels[-1] != self.embed_dim:
            raise ValueError(f"config {self.name!r}: discriminator_channels must end with embed_dim={self.embed_dim}")
        if len(self.generator_up_channels) != len(self.generator_down_channels):
            raise ValueError(f"config {self.name!r}: generator needs as many up blocks as down blocks")
        if self.generator_res_blocks < 0:
            raise ValueError(f"config {self.name!r}: generator_res_blocks must be >= 0")
        for label, n in (("embedder", self.num_embedder_blocks), ("discriminator", len(self.discriminator_channels)),
                         ("generator", self.num_down_blocks)):
            if s >> n < 1:
                raise ValueError(f"config {self.name!r}: {n} {label} down blocks are too many for {s}²")
        # The attention side must be an intermediate feature-map side of every network:
        # reached after k >= 1 down blocks, and (generator) before the last up block.
        k = self._attention_steps()
        if not 1 <= k < self.num_down_blocks or k > min(self.num_embedder_blocks, len(self.discriminator_channels)):
            raise ValueError(f"config {self.name!r}: attention_size {self.attention_size} is not an intermediate "
                             f"feature-map side (image {s}, {self.num_down_blocks} generator down blocks)")
        if self.num_landmark_channels != 3:
            raise ValueError(f"config {self.name!r}: the rasterizer draws RGB landmark images (3 channels)")

    def _attention_steps(self) -> int:
        ratio = self.image_size // max(self.attention_size, 1)
        if self.attention_size < 1 or ratio * self.attention_size != self.image_size or ratio & (ratio - 1):
            raise ValueError(f"config {self.name!r}: attention_size {self.attention_size} must be image_size / 2^k")
        return ratio.bit_length() - 1

    @property
    def attention_block(self) -> int:
        """Number of down blocks after which the feature map has side ``attention_size``."""
        return self._attention_steps()

    @property
    def num_embedder_blocks(self) -> int:
        return len(self.embedder_channels)

    @property
    def num_down_blocks(self) -> int:
        return len(self.generator_down_channels)

    @property
    def num_res_blocks(self) -> int:
        return self.generator_res_blocks

    @property
    def num_up_blocks(self) -> int:
        return len(self.generator_up_channels)


CONFIGS: dict[str, ModelConfig] = {
    "paper": ModelConfig(
        name="paper",
        image_size=256,
        embed_dim=512,
        embedder_channels=(64, 128, 256, 512, 512, 512),
        generator_down_channels=(64, 128, 256, 512),
        generator_res_blocks=5,
        generator_up_channels=(256, 128, 64, 64),
        discriminator_channels=(64, 128, 256, 512, 512, 512),
        attention_size=32,
    ),
    "realtime": ModelConfig(
        name="realtime",
        image_size=256,
        embed_dim=512,
        # The embedder runs once per character (enrollment), the discriminator only in
        # training: only the generator has to be narrow.
        embedder_channels=(32, 64, 128, 256, 512, 512),
        # ~2.2 GFLOPs per 256² frame (facecast model-info), the paper's ~61.
        generator_down_channels=(12, 24, 48, 96),
        generator_res_blocks=4,
        generator_up_channels=(48, 24, 12, 12),
        discriminator_channels=(32, 64, 128, 256, 512, 512),
        attention_size=32,
    ),
    "tiny": ModelConfig(
        name="tiny",
        image_size=64,
        embed_dim=32,
        embedder_channels=(8, 16, 32, 32),
        generator_down_channels=(8, 16, 32),
        generator_res_blocks=1,
        generator_up_channels=(16, 8, 8),
        discriminator_channels=(8, 16, 32, 32),
        attention_size=16,
    ),
}


def get_config(name: str) -> ModelConfig:
    """The named config; ValueError listing the known names otherwise."""
    try:
        return CONFIGS[name]
    except KeyError:
        raise ValueError(f"unknown model config {name!r}; known: {', '.join(CONFIGS)}") from None


def config_to_dict(cfg: ModelConfig) -> dict[str, Any]:
    """Plain JSON-ready dict of every field (tuples become lists)."""
    return {f.name: (list(v) if isinstance(v := getattr(cfg, f.name), tuple) else v)
            for f in dataclasses.fields(cfg)}


def config_from_dict(d: dict[str, Any]) -> ModelConfig:
    """Inverse of ``config_to_dict``; ValueError on unknown or missing fields."""
    fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(d) - set(fields))
    if unknown:
        raise ValueError(f"model config has unknown field(s): {', '.join(unknown)}")
    kwargs: dict[str, Any] = {}
    for name, value in d.items():
        kwargs[name] = tuple(int(v) for v in value) if isinstance(value, (list, tuple)) else value
    try:
        return ModelConfig(**kwargs)
    except TypeError as exc:
        raise ValueError(f"model config is incomplete: {exc}") from None
