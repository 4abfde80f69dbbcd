"""The few-shot talking-head networks (Zakharov et al. 2019), one nn.Module per file.

See docs/model.md for the architecture, the configs, the AdaIN parameter layout and the
checkpoint format.
"""

from __future__ import annotations

from facecast.inference.models.config import CONFIGS, ModelConfig, config_from_dict, config_to_dict, get_config
from facecast.inference.models.discriminator import Discriminator
from facecast.inference.models.embedder import Embedder
from facecast.inference.models.generator import Generator
from facecast.inference.models.rasterizer import LandmarkRasterizer
from facecast.inference.models.talking_head import CheckpointError, TalkingHead, load_checkpoint, save_checkpoint

__all__ = [
    "CONFIGS", "ModelConfig", "get_config", "config_to_dict", "config_from_dict",
    "LandmarkRasterizer", "Embedder", "Generator", "Discriminator", "TalkingHead",
    "CheckpointError", "save_checkpoint", "load_checkpoint",
]
