"""The few-shot talking-head networks (Zakharov et al. 2019), one nn.Module per file.

See docs/model.md for the architecture, the configs, the AdaIN parameter layout and the
checkpoint format. Names are imported lazily (PEP 562) so that ``facecast`` commands that
only need a config or the CLI wiring of ``info`` do not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from facecast.model.networks.config import (
        CONFIGS,
        ModelConfig,
        config_from_dict,
        config_to_dict,
        get_config,
    )
    from facecast.model.networks.discriminator import Discriminator
    from facecast.model.networks.embedder import Embedder
    from facecast.model.networks.generator import Generator
    from facecast.model.networks.rasterizer import LandmarkRasterizer
    from facecast.model.networks.talking_head import (
        CheckpointError,
        TalkingHead,
        load_checkpoint,
        save_checkpoint,
    )

_EXPORTS: dict[str, str] = {
    "CONFIGS": "config", "ModelConfig": "config", "get_config": "config",
    "config_to_dict": "config", "config_from_dict": "config",
    "LandmarkRasterizer": "rasterizer", "Embedder": "embedder", "Generator": "generator",
    "Discriminator": "discriminator", "TalkingHead": "talking_head", "CheckpointError": "talking_head",
    "save_checkpoint": "talking_head", "load_checkpoint": "talking_head",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
