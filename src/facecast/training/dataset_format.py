"""The training data set on disk: one ``.npz`` per video plus a ``manifest.json``.

Written by ``facecast dataset build`` (:mod:`facecast.training.dataset_build`), read by the
episode sampler (:mod:`facecast.training.episodes`). One file per video::

    frames          uint8   (T, S, S, 3)   RGB crops of the head, S = training size
    landmarks       float32 (T, 478, 3)    MediaPipe points, x/y normalized to the crop
    mattes          uint8   (T, S, S)      head matte per frame (255 = head); optional
    frame_indices   int32   (T,)           frame numbers in the source video
    crop_box        int32   (3,)           x0, y0, side of the square crop, source pixels
    fps             float64 ()             source frame rate (0 when unknown)
    source          str     ()             source video path
    landmark_format str     ()             "mediapipe478"

``manifest.json`` lists the usable videos in order (the order is the discriminator's
video index) and the skipped ones with their reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facecast.core.topology import point_count

__all__ = [
    "DATASET_FORMAT_VERSION", "MANIFEST_FILE", "LANDMARK_FORMAT", "NUM_LANDMARKS", "DatasetError",
    "VideoRecord", "save_video_record", "load_video_record", "write_manifest", "read_manifest",
    "dataset_files",
]

DATASET_FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
LANDMARK_FORMAT = "mediapipe478"  # what the tracker (facecast.capture.landmarks) produces
NUM_LANDMARKS = point_count(LANDMARK_FORMAT)


class DatasetError(ValueError):
    """A training data set (directory, manifest or video file) is missing or malformed."""


@dataclass(frozen=True)
class VideoRecord:
    """One video's training frames (see the module docstring for shapes)."""

    frames: np.ndarray
    landmarks: np.ndarray
    frame_indices: np.ndarray
    crop_box: tuple[int, int, int]
    fps: float
    source: str
    mattes: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.frames.shape[1])

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    def validate(self, where: str = "video record") -> None:
        """Raise DatasetError unless every array has the documented shape and dtype."""
        f, lm = self.frames, self.landmarks
        if f.dtype != np.uint8 or f.ndim != 4 or f.shape[3] != 3 or f.shape[1] != f.shape[2]:
            raise DatasetError(f"{where}: frames must be uint8 (T, S, S, 3), got {f.dtype} {f.shape}")
        t, s = f.shape[0], f.shape[1]
        if t < 1:
            raise DatasetError(f"{where}: no frames")
        if lm.dtype != np.float32 or lm.shape != (t, NUM_LANDMARKS, 3):
            raise DatasetError(f"{where}: landmarks must be float32 ({t}, {NUM_LANDMARKS}, 3), "
                               f"got {lm.dtype} {lm.shape}")
        if self.frame_indices.shape != (t,):
            raise DatasetError(f"{where}: frame_indices must be ({t},), got {self.frame_indices.shape}")
        if self.mattes is not None and (self.mattes.dtype != np.uint8 or self.mattes.shape != (t, s, s)):
            raise DatasetError(f"{where}: mattes must be uint8 ({t}, {s}, {s}), "
                               f"got {self.mattes.dtype} {self.mattes.shape}")


def save_video_record(path: str | Path, record: VideoRecord) -> Path:
    """Write ``record`` to ``path`` (an ``.npz``, uncompressed: frames barely compress
    and loading stays fast). Written to a temporary name, then renamed."""
    record.validate(str(path))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    arrays: dict[str, Any] = {
        "frames": record.frames,
        "landmarks": record.landmarks,
        "frame_indices": record.frame_indices.astype(np.int32),
        "crop_box": np.asarray(record.crop_box, dtype=np.int32),
        "fps": np.float64(record.fps),
        "source": np.str_(record.source),
        "landmark_format": np.str_(LANDMARK_FORMAT),
    }
    if record.mattes is not None:
        arrays["mattes"] = record.mattes
    with tmp.open("wb") as fh:
        np.savez(fh, **arrays)
    tmp.replace(path)
    return path


def load_video_record(path: str | Path) -> VideoRecord:
    """Read one video's ``.npz``; DatasetError names the file when it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such data set file (build one with `facecast dataset build VIDEO_DIR OUT`)")
    try:
        with np.load(path, allow_pickle=False) as data:
            fmt = str(data["landmark_format"])
            if fmt != LANDMARK_FORMAT:
                raise DatasetError(f"{path}: landmark format {fmt!r}, expected {LANDMARK_FORMAT!r}")
            box = tuple(int(v) for v in data["crop_box"])
            record = VideoRecord(
                frames=data["frames"],
                landmarks=data["landmarks"],
                frame_indices=data["frame_indices"],
                crop_box=(box[0], box[1], box[2]),
                fps=float(data["fps"]),
                source=str(data["source"]),
                mattes=data["mattes"] if "mattes" in data.files else None,
            )
    except DatasetError:
        raise
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise DatasetError(f"{path}: not a facecast data set file ({exc})") from exc
    record.validate(str(path))
    return record


def write_manifest(root: str | Path, content: dict[str, Any]) -> Path:
    """Write ``manifest.json`` in ``root`` (content gets the format version added)."""
    path = Path(root) / MANIFEST_FILE
    body = {"format_version": DATASET_FORMAT_VERSION, **content}
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(body, indent=2) + "\n")
    tmp.replace(path)
    return path


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The manifest of a data set directory; DatasetError when missing or malformed."""
    path = Path(root) / MANIFEST_FILE
    if not path.is_file():
        raise DatasetError(
            f"{path}: no data set manifest; build the data set with `facecast dataset build VIDEO_DIR {root}`"
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict) or not isinstance(manifest.get("videos"), list):
        raise DatasetError(f"{path}: manifest has no 'videos' list")
    if manifest.get("format_version") != DATASET_FORMAT_VERSION:
        raise DatasetError(f"{path}: format version {manifest.get('format_version')!r}, "
                           f"this facecast reads {DATASET_FORMAT_VERSION}")
    return manifest


def dataset_files(root: str | Path) -> list[Path]:
    """The per-video files of a data set, in manifest order (= video index)."""
    root = Path(root)
    manifest = read_manifest(root)
    files = [root / str(entry["file"]) for entry in manifest["videos"]]
    if not files:
        raise DatasetError(f"{root}: the data set holds no usable video")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise DatasetError(f"{root}: files named in the manifest are missing: {', '.join(missing)}")
    return files
