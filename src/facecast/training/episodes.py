"""Meta-learning episodes: K + 1 frames of one video (K shots for the embedder, one target).

``EpisodeDataset`` loads a data set directory (``facecast dataset build``) into memory
and is indexed by an episode number: item ``i`` is a pure function of ``(seed, i)`` —
the video is drawn uniformly, then K + 1 distinct frames of it (with replacement only
when the video has fewer than K + 1 frames) — so a training run that asks for episodes
``step * batch .. step * batch + batch - 1`` sees the same data whether it ran straight
through or was resumed. ``len()`` is nominal (``length``), the data are not exhausted.

Frames whose stored size differs from ``image_size`` are resized on the fly (area
interpolation), so one data set built at 256² also serves the 64² ``tiny`` config.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from facecast.training.dataset_format import DatasetError, VideoRecord, dataset_files, load_video_record

log = logging.getLogger(__name__)

__all__ = ["Episode", "EpisodeDataset", "collate_episodes"]

DEFAULT_LENGTH = 1 << 30


@dataclass(frozen=True)
class Episode:
    """One episode, or a batch of them (leading B) after ``collate_episodes``.

    frames: (K+1, 3, S, S) float32 in [-1, 1]; the last frame is the target.
    landmarks: (K+1, 478, 3) float32, x/y normalized to the frame.
    mattes: (K+1, 1, S, S) float32 in [0, 1], or None when the data set has none.
    video_index: () int64, the video's row in the discriminator's W.
    """

    frames: Tensor
    landmarks: Tensor
    mattes: Tensor | None
    video_index: Tensor

    def pin_memory(self) -> Episode:
        """Page-locked copy (DataLoader's ``pin_memory=True`` calls this)."""
        return Episode(self.frames.pin_memory(), self.landmarks.pin_memory(),
                       None if self.mattes is None else self.mattes.pin_memory(), self.video_index.pin_memory())

    def to(self, device: torch.device | str) -> Episode:
        return Episode(self.frames.to(device, non_blocking=True), self.landmarks.to(device, non_blocking=True),
                       None if self.mattes is None else self.mattes.to(device, non_blocking=True),
                       self.video_index.to(device, non_blocking=True))


def _resize_stack(images: np.ndarray, size: int) -> np.ndarray:
    """(N, H, W[, C]) uint8 -> (N, size, size[, C]) with area interpolation (no-op if equal)."""
    if images.shape[1] == size:
        return images
    interp = cv2.INTER_AREA if images.shape[1] > size else cv2.INTER_CUBIC
    return np.stack([cv2.resize(im, (size, size), interpolation=interp) for im in images])


class EpisodeDataset(Dataset[Episode]):
    """Episodes of K + 1 frames from the videos of one data set directory."""

    def __init__(self, root: str | Path, k: int, image_size: int | None = None, seed: int = 0,
                 length: int = DEFAULT_LENGTH) -> None:
        if k < 1:
            raise ValueError(f"K (shots per episode) must be >= 1, got {k}")
        self.root = Path(root)
        self.k = k
        self.seed = seed
        self.length = length
        self.records: list[VideoRecord] = [load_video_record(p) for p in dataset_files(self.root)]
        sizes = {r.size for r in self.records}
        if len(sizes) != 1:
            raise DatasetError(f"{self.root}: videos stored at different sizes {sorted(sizes)}")
        self.stored_size = sizes.pop()
        self.image_size = image_size or self.stored_size
        self.has_mattes = all(r.mattes is not None for r in self.records)
        short = [Path(r.source).name for r in self.records if len(r) < k + 1]
        if short:
            log.warning("%d video(s) have fewer than K + 1 = %d frames; their episodes repeat frames: %s",
                        len(short), k + 1, ", ".join(short))

    @property
    def num_videos(self) -> int:
        return len(self.records)

    def __len__(self) -> int:
        return self.length

    def frame_indices(self, index: int) -> tuple[int, np.ndarray]:
        """(video, frame positions) of episode ``index``; the last position is the target."""
        rng = np.random.default_rng([self.seed, index])
        video = int(rng.integers(self.num_videos))
        n = len(self.records[video])
        picks = rng.choice(n, size=self.k + 1, replace=n < self.k + 1)
        return video, picks

    def __getitem__(self, index: int) -> Episode:
        if not 0 <= index < self.length:
            raise IndexError(f"episode {index} out of range 0..{self.length - 1}")
        video, picks = self.frame_indices(index)
        return self.episode(video, picks)

    def episode(self, video: int, picks: np.ndarray) -> Episode:
        """The episode made of frames ``picks`` of ``video`` (last = target)."""
        rec = self.records[video]
        frames = _resize_stack(rec.frames[picks], self.image_size)
        frames_t = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        mattes_t = None
        if self.has_mattes:
            assert rec.mattes is not None
            mattes = _resize_stack(rec.mattes[picks], self.image_size)
            mattes_t = torch.from_numpy(np.ascontiguousarray(mattes)).unsqueeze(1).float() / 255.0
        return Episode(frames=frames_t, landmarks=torch.from_numpy(np.ascontiguousarray(rec.landmarks[picks])),
                       mattes=mattes_t, video_index=torch.tensor(video, dtype=torch.int64))


def collate_episodes(episodes: list[Episode]) -> Episode:
    """Stack episodes into a batch: frames (B, K+1, 3, S, S), video_index (B,), ..."""
    mattes = [e.mattes for e in episodes]
    return Episode(
        frames=torch.stack([e.frames for e in episodes]),
        landmarks=torch.stack([e.landmarks for e in episodes]),
        mattes=None if any(m is None for m in mattes) else torch.stack(mattes),  # type: ignore[misc]
        video_index=torch.stack([e.video_index for e in episodes]),
    )
