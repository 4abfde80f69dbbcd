"""`facecast dataset build VIDEO_DIR OUT`: videos -> one training file per video.

For every video (sorted by name): track the face through it with MediaPipe
(``LandmarkDetector.track_video``), keep every ``every``-th frame that has a face (at
most ``max_frames`` of them), cut one square head crop for the whole video — the same
head-and-shoulders geometry as enrolled characters (``facecast.characters.face_crop``),
placed at the median of the per-frame boxes and made large enough to follow the head
(:func:`stable_crop_box`) — resize it to the training size, renormalise the landmarks to
the crop, compute the head matte of every crop (the one enrollment computes,
``facecast.characters.matte.head_matte``; it supervises the generator's alpha) and write
the record (:mod:`facecast.training.dataset_format`).

Videos that cannot be decoded, or that have fewer than ``min_frames`` frames with a
face, are skipped and reported (in the log, on stdout and in ``manifest.json``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from facecast.characters.face_crop import crop_box, face_crop_box, to_crop_coords
from facecast.characters.matte import head_matte
from facecast.training.dataset_format import (
    LANDMARK_FORMAT, DatasetError, VideoRecord, save_video_record, write_manifest,
)
from facecast.capture.landmarks import VIDEO_SUFFIXES, LandmarkDetector, UnreadableMedia, open_video, read_video_frames
from facecast.tracking.face import FaceLandmarks

log = logging.getLogger(__name__)

__all__ = ["BuildOptions", "VideoOutcome", "BuildReport", "stable_crop_box", "find_videos", "build_dataset"]

# The crop follows the head: its side grows by twice the 90th percentile of how far the
# per-frame box centres stray from their median, at most by this factor of the median side.
MAX_CROP_GROWTH = 1.5
SIDE_PERCENTILE = 90.0


@dataclass(frozen=True)
class BuildOptions:
    """Knobs of a data set build.

    size: side of the stored square frames. max_frames: at most this many frames kept
    per video (None: all). every: keep every N-th frame of the video. min_frames: a video
    with fewer kept frames that have a face is skipped (K + 1 = 9 for K = 8 shots).
    mattes: compute the per-frame head matte (about 0.1 s per frame on one CPU core).
    """

    size: int = 256
    max_frames: int | None = None
    every: int = 1
    min_frames: int = 9
    mattes: bool = True

    def __post_init__(self) -> None:
        if self.size < 16:
            raise ValueError(f"--size must be at least 16, got {self.size}")
        if self.every < 1:
            raise ValueError(f"--every must be at least 1, got {self.every}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"--max-frames must be at least 1, got {self.max_frames}")
        if self.min_frames < 1:
            raise ValueError(f"--min-frames must be at least 1, got {self.min_frames}")


@dataclass
class VideoOutcome:
    """What became of one input video: ``file`` is None when it was skipped (``reason``)."""

    source: str
    file: str | None = None
    frames: int = 0  # frames stored
    frames_read: int = 0
    frames_with_face: int = 0  # among the frames considered (every N-th)
    fps: float = 0.0
    crop_box: tuple[int, int, int] | None = None
    reason: str | None = None
    seconds: float = 0.0


@dataclass
class BuildReport:
    out: Path
    options: BuildOptions
    videos: list[VideoOutcome] = field(default_factory=list)

    @property
    def usable(self) -> list[VideoOutcome]:
        return [v for v in self.videos if v.file is not None]

    @property
    def skipped(self) -> list[VideoOutcome]:
        return [v for v in self.videos if v.file is None]


def stable_crop_box(boxes: np.ndarray) -> tuple[int, int, int]:
    """One square (x0, y0, side) for a whole video from per-frame boxes (N, 3) of
    ``face_crop_box``: centred on the median box centre, side = the 90th percentile
    of the per-frame sides plus twice the 90th percentile of the centres' deviation
    from the median (so a moving head stays inside), capped at 1.5x the median side."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 3)
    if len(b) == 0:
        raise ValueError("stable_crop_box needs at least one box")
    sides = b[:, 2]
    centres = b[:, :2] + sides[:, None] / 2.0
    centre = np.median(centres, axis=0)
    stray = np.abs(centres - centre).max(axis=1)
    side = np.percentile(sides, SIDE_PERCENTILE) + 2.0 * np.percentile(stray, SIDE_PERCENTILE)
    side = float(min(side, MAX_CROP_GROWTH * np.median(sides)))
    side_px = max(int(round(side)), 1)
    return int(round(centre[0] - side_px / 2)), int(round(centre[1] - side_px / 2)), side_px


def find_videos(video_dir: str | Path) -> list[Path]:
    """Video files (by suffix) directly in ``video_dir``, sorted; a file is taken alone."""
    path = Path(video_dir)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DatasetError(f"{path}: no such video directory")
    videos = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise DatasetError(f"{path}: no video files ({', '.join(sorted(VIDEO_SUFFIXES))})")
    return videos


def _track(detector: LandmarkDetector, path: Path, opts: BuildOptions, progress: bool,
           outcome: VideoOutcome) -> list[tuple[int, FaceLandmarks]]:
    """Kept (frame index, face) pairs of one video."""
    read_limit = opts.max_frames * opts.every if opts.max_frames is not None else None
    kept: list[tuple[int, FaceLandmarks]] = []
    for sample in detector.track_video(path, max_frames=read_limit, progress=progress):
        outcome.frames_read += 1
        if sample.frame_index % opts.every or sample.face is None:
            continue
        kept.append((sample.frame_index, sample.face))
        if opts.max_frames is not None and len(kept) >= opts.max_frames:
            break
    outcome.frames_with_face = len(kept)
    return kept


def _fps_of(path: Path) -> float:
    cap = open_video(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    finally:
        cap.release()
    return fps if np.isfinite(fps) and fps > 0 else 0.0


def _build_one(detector: LandmarkDetector, path: Path, out: Path, file_name: str, opts: BuildOptions,
               progress: bool) -> VideoOutcome:
    outcome = VideoOutcome(source=str(path))
    t0 = time.perf_counter()
    try:
        kept = _track(detector, path, opts, progress, outcome)
        if len(kept) < opts.min_frames:
            outcome.reason = (f"only {len(kept)} frame(s) with a face in {outcome.frames_read} read "
                              f"(need {opts.min_frames})")
            return outcome
        box = stable_crop_box(np.array([face_crop_box(face) for _, face in kept]))
        faces = dict(kept)
        decoded = read_video_frames(path, sorted(faces))
        outcome.fps = _fps_of(path)
    except UnreadableMedia as exc:
        outcome.reason = str(exc)
        return outcome
    frames, landmarks, indices, mattes = [], [], [], []
    for index, _t, rgb in tqdm(decoded, desc=f"cropping {path.name}", unit="frame", disable=not progress,
                               leave=False):
        crop = crop_box(rgb, box, opts.size)
        points = to_crop_coords(faces[index], box)
        frames.append(crop)
        landmarks.append(points)
        indices.append(index)
        if opts.mattes:
            mattes.append(head_matte(crop, points))
    if len(frames) < opts.min_frames:  # the second decode came up short
        outcome.reason = f"only {len(frames)} frame(s) could be decoded again (need {opts.min_frames})"
        return outcome
    record = VideoRecord(
        frames=np.stack(frames), landmarks=np.stack(landmarks).astype(np.float32),
        frame_indices=np.asarray(indices, dtype=np.int32), crop_box=box, fps=outcome.fps,
        source=str(path), mattes=np.stack(mattes) if opts.mattes else None,
    )
    save_video_record(out / file_name, record)
    outcome.file, outcome.frames, outcome.crop_box = file_name, len(record), box
    outcome.seconds = time.perf_counter() - t0
    return outcome


def _file_names(videos: list[Path]) -> list[str]:
    names: list[str] = []
    for v in videos:
        name = f"{v.stem}.npz"
        if name in names:
            name = f"{v.stem}-{v.suffix.lstrip('.').lower()}.npz"
        suffix = 2
        while name in names:
            name, suffix = f"{v.stem}-{suffix}.npz", suffix + 1
        names.append(name)
    return names


def build_dataset(video_dir: str | Path, out: str | Path, options: BuildOptions | None = None,
                  detector: LandmarkDetector | None = None, progress: bool = True) -> BuildReport:
    """Build a data set from every video in ``video_dir`` into ``out`` (see module doc).

    Unusable videos are skipped and listed in the report and the manifest; only a
    missing directory or a directory without videos raises (DatasetError).
    """
    opts = options or BuildOptions()
    videos = find_videos(video_dir)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = BuildReport(out=out, options=opts)
    own = detector is None
    det = detector if detector is not None else LandmarkDetector()
    try:
        bar = tqdm(list(zip(videos, _file_names(videos))), desc="dataset", unit="video", disable=not progress)
        for path, name in bar:
            bar.set_postfix_str(path.name)
            outcome = _build_one(det, path, out, name, opts, progress)
            if outcome.file is None:
                log.warning("skipped %s: %s", path, outcome.reason)
            else:
                log.info("%s -> %s: %d frames, crop %s", path.name, outcome.file, outcome.frames, outcome.crop_box)
            report.videos.append(outcome)
    finally:
        if own:
            det.close()
    write_manifest(out, {
        "size": opts.size,
        "landmark_format": LANDMARK_FORMAT,
        "options": asdict(opts),
        "videos": [{"file": v.file, "source": v.source, "frames": v.frames, "fps": v.fps,
                    "crop_box": list(v.crop_box or ()), "mattes": opts.mattes} for v in report.usable],
        "skipped": [{"source": v.source, "reason": v.reason} for v in report.skipped],
    })
    return report

