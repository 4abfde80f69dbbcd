"""Per-character neural assets: what the neural renderer needs of one character for one
checkpoint, computed once at enrollment (``facecast enroll --checkpoint``) or by
``facecast finetune``, never per frame.

One file per (character, checkpoint), keyed by the checkpoint file's sha256 so that a
character enrolled against one checkpoint is never rendered with another's AdaIN
vector::

    <character dir>/neural/<sha256>.pt

The file is a ``torch.save`` of a plain dict of tensors, numbers and strings (read back
with ``weights_only=True``, so it never carries code):

    format_version  int
    checkpoint_sha256, checkpoint_name, model_config   str
    embedding       (E,) float32   mean of the embedder over the character's K shots
    adain           (adain_size,)  AdaIN parameters the generator takes for this character
    w               (E,) float32   the discriminator's vector for this character
    generator_state dict[str, Tensor] | None   fine-tuned generator weights (``--full``)
    shots, steps    int            K shots used, fine-tuning steps (0 = none)
    losses          (steps,) float32 fine-tuning loss per step (may be empty)
    created         str            ISO time, UTC

Writing goes through a temporary file renamed into place. Callers choose the directory;
the character store (``CharacterStore.save_neural_assets``) validates the name and keeps
every write inside the store.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch

log = logging.getLogger(__name__)

ASSETS_DIR = "neural"
ASSETS_FORMAT_VERSION = 1
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


class NeuralAssetsError(ValueError):
    """A neural-assets file that cannot be used (corrupt, other checkpoint, bad shapes)."""


@dataclass(frozen=True)
class NeuralAssets:
    """A character's embedding, AdaIN parameters and optional generator for one checkpoint."""

    checkpoint_sha256: str
    embedding: torch.Tensor  # (E,)
    adain: torch.Tensor  # (adain_size,)
    w: torch.Tensor  # (E,)
    generator_state: dict[str, torch.Tensor] | None = field(default=None, repr=False)
    shots: int = 0  # K
    steps: int = 0  # fine-tuning steps; 0 = embedding and projection only
    losses: tuple[float, ...] = field(default=(), repr=False)
    checkpoint_name: str = ""
    model_config: str = ""
    created: str = ""

    @property
    def full(self) -> bool:
        """Whether the character has its own fine-tuned generator weights."""
        return self.generator_state is not None


def assets_path(character_dir: Path, sha256: str) -> Path:
    """Where the assets of the character in ``character_dir`` for checkpoint ``sha256`` live."""
    if not _SHA_RE.fullmatch(sha256):
        raise NeuralAssetsError(f"not a sha256 hex digest: {sha256!r}")
    return Path(character_dir) / ASSETS_DIR / f"{sha256}.pt"


def list_assets(character_dir: Path) -> list[str]:
    """The checkpoint sha256s the character in ``character_dir`` has assets for."""
    folder = Path(character_dir) / ASSETS_DIR
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.pt") if _SHA_RE.fullmatch(p.stem))


def save_assets(character_dir: Path, assets: NeuralAssets) -> Path:
    """Write ``assets`` into ``character_dir`` atomically; returns the file's path."""
    path = assets_path(character_dir, assets.checkpoint_sha256)
    path.parent.mkdir(exist_ok=True)
    payload = {
        "format_version": ASSETS_FORMAT_VERSION,
        "checkpoint_sha256": assets.checkpoint_sha256,
        "checkpoint_name": assets.checkpoint_name,
        "model_config": assets.model_config,
        "embedding": assets.embedding.detach().float().cpu().contiguous(),
        "adain": assets.adain.detach().float().cpu().contiguous(),
        "w": assets.w.detach().float().cpu().contiguous(),
        "generator_state": None if assets.generator_state is None else {
            k: v.detach().cpu().contiguous() for k, v in assets.generator_state.items()
        },
        "shots": int(assets.shots),
        "steps": int(assets.steps),
        "losses": torch.tensor(list(assets.losses), dtype=torch.float32),
        "created": assets.created,
    }
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.info("wrote neural assets %s (K=%d, %d fine-tuning steps%s)", path, assets.shots, assets.steps,
             ", own generator" if assets.full else "")
    return path


def load_assets(character_dir: Path, sha256: str) -> NeuralAssets | None:
    """The assets of the character in ``character_dir`` for checkpoint ``sha256``, or None
    when it has none; raises NeuralAssetsError for an unreadable or mismatched file."""
    path = assets_path(character_dir, sha256)
    if not path.is_file():
        return None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        raise NeuralAssetsError(f"{path}: unreadable neural assets ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("format_version") != ASSETS_FORMAT_VERSION:
        raise NeuralAssetsError(f"{path}: unsupported neural assets format "
                                f"{data.get('format_version') if isinstance(data, dict) else type(data).__name__!r}")
    if data.get("checkpoint_sha256") != sha256:
        raise NeuralAssetsError(f"{path}: made for checkpoint {data.get('checkpoint_sha256')!r}, not {sha256}")
    try:
        tensors = {k: data[k] for k in ("embedding", "adain", "w")}
    except KeyError as exc:
        raise NeuralAssetsError(f"{path}: missing {exc.args[0]!r}") from None
    for key, value in tensors.items():
        if not isinstance(value, torch.Tensor) or value.ndim != 1 or not torch.isfinite(value).all():
            raise NeuralAssetsError(f"{path}: {key} must be a finite 1-d tensor")
    state = data.get("generator_state")
    if state is not None and not (isinstance(state, dict) and all(isinstance(v, torch.Tensor) for v in state.values())):
        raise NeuralAssetsError(f"{path}: generator_state must be a dict of tensors")
    losses = data.get("losses")
    return NeuralAssets(
        checkpoint_sha256=sha256, embedding=tensors["embedding"], adain=tensors["adain"], w=tensors["w"],
        generator_state=state, shots=int(data.get("shots", 0)), steps=int(data.get("steps", 0)),
        losses=tuple(float(x) for x in losses.tolist()) if isinstance(losses, torch.Tensor) else (),
        checkpoint_name=str(data.get("checkpoint_name", "")), model_config=str(data.get("model_config", "")),
        created=str(data.get("created", "")),
    )
