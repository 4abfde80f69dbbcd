"""Fitting and evaluating the blendshape basis (``blendshape_basis``) from tracked video.

Per video, every tracked frame is taken to the normalised frontal frame
(``blendshape_basis.normalize_face``) and its MediaPipe scores to ARKit order. The model
is ``x_t = n_v + B w_t``: one neutral face ``n_v`` per video (person) and one basis ``B``
shared by all. ``B`` is the ridge solution on per-video centred data (centring removes
``n_v``, a fixed-effects regression), in closed form.

Evaluation is anchored the way the daemon uses the basis: a video's neutral is one real
frame, the one with the least total blendshape activation ``w_n``; the basis predicts
frame ``t`` as ``x_n + B (w_t - w_n)`` and the "neutral face only" baseline as ``x_n``.
Errors are mean Euclidean x/y distances per landmark in face-scale units (the RMS radius
of the rigid points, see ``blendshape_basis``), averaged over frames.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from facecast.core import topology as topo
from facecast.protocol.formats import ARKIT_BLENDSHAPES
from facecast.tracking.blendshape_basis import NUM_POINTS, arkit_from_mediapipe, normalize_face
from facecast.capture.landmarks import LandmarkDetector

log = logging.getLogger(__name__)

LAMBDA_GRID: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0)
SIDE_MARGIN = 0.3  # face-scale units (eyes sit about 1 unit from the midline, mouth corners 0.5)


@dataclass(frozen=True)
class TrackedVideo:
    """One video in the normalised frontal frame: faces T x 478 x 3, weights T x 52 (ARKit)."""

    name: str
    faces: np.ndarray
    weights: np.ndarray
    frames: int  # frames read (faces holds those with a detected face)


@dataclass(frozen=True)
class HeldOutError:
    """Mean x/y landmark errors (face-scale units) on one set of held-out frames."""

    basis: float
    neutral: float
    frames: int

    @property
    def improvement(self) -> float:
        """How much lower the basis error is than the neutral's, as a fraction."""
        return 1.0 - self.basis / self.neutral


def track_video(detector: LandmarkDetector, path: Path, max_frames: int | None = None,
                progress: bool = True) -> TrackedVideo:
    """Track ``path`` in VIDEO mode and normalise every frame that has a face."""
    faces, weights, frames = [], [], 0
    for sample in detector.track_video(path, max_frames=max_frames, progress=progress):
        frames += 1
        face = sample.face
        if face is None or face.transform is None:
            continue
        faces.append(normalize_face(face.points, face.image_size, face.transform))
        weights.append(arkit_from_mediapipe(face.blendshapes))
    if not faces:
        raise ValueError(f"no face tracked in {path}")
    return TrackedVideo(Path(path).stem, np.stack(faces), np.stack(weights).astype(np.float64), frames)


def side_mask(videos: Sequence[TrackedVideo], margin: float = SIDE_MARGIN) -> np.ndarray:
    """(52, 478) bool: which weights may move which landmark. ARKit's ``...Left`` and
    ``...Right`` shapes act on one side of the face (``eyeBlinkLeft``: "closure of the
    eyelids over the left eye"), so a one-sided shape gets no offsets on landmarks clearly
    on the other side (beyond ``margin`` face-scale units from the midline of the mean
    neutral face). Without this, shapes that people mostly move together (both blinks,
    both smile halves) share their effect across both sides."""
    mean_neutral = mean_neutral_face(videos)
    x = mean_neutral[:, 0]  # the subject's left is the image's right (x > 0)
    allowed = np.ones((len(ARKIT_BLENDSHAPES), NUM_POINTS), dtype=bool)
    for k, name in enumerate(ARKIT_BLENDSHAPES):
        if name.endswith("Left"):
            allowed[k] = x > -margin
        elif name.endswith("Right"):
            allowed[k] = x < margin
    return allowed


def mean_neutral_face(videos: Sequence[TrackedVideo]) -> np.ndarray:
    """478 x 3 mean of the videos' most neutral frames (normalised frontal frame)."""
    return np.mean([v.faces[neutral_index(v.weights)] for v in videos], axis=0)


def fit_ridge(videos: Sequence[TrackedVideo], lam: float, allowed: np.ndarray | None = None) -> np.ndarray:
    """52 x 478 x 3 basis: ridge regression of per-video centred faces on centred weights;
    ``allowed`` (52 x 478 bool, e.g. ``side_mask``) keeps the other coefficients at 0."""
    k = videos[0].weights.shape[1]
    gram = np.zeros((k, k))
    cross = np.zeros((k, NUM_POINTS, 3))
    for v in videos:
        w = v.weights - v.weights.mean(axis=0)
        x = v.faces - v.faces.mean(axis=0)
        gram += w.T @ w
        cross += np.tensordot(w, x, axes=([0], [0]))
    if allowed is None:
        allowed = np.ones((k, NUM_POINTS), dtype=bool)
    coef = np.zeros((k, NUM_POINTS, 3))
    # Landmarks sharing one pattern of allowed weights share one linear system.
    patterns, groups = np.unique(allowed.T, axis=0, return_inverse=True)
    for g, active in enumerate(patterns):
        idx = np.flatnonzero(active)
        points = np.flatnonzero(groups.ravel() == g)
        sub = gram[np.ix_(idx, idx)] + lam * np.eye(len(idx))
        rhs = cross[idx][:, points].reshape(len(idx), -1)
        coef[np.ix_(idx, points)] = np.linalg.solve(sub, rhs).reshape(len(idx), len(points), 3)
    return coef


def neutral_index(weights: np.ndarray) -> int:
    """The frame with the least total blendshape activation."""
    return int(np.argmin(np.asarray(weights).sum(axis=1)))


def held_out_error(video: TrackedVideo, basis: np.ndarray) -> HeldOutError:
    """Basis vs neutral-face-only error on ``video`` (anchored at its most neutral frame)."""
    n = neutral_index(video.weights)
    x_n, w_n = video.faces[n], video.weights[n]
    pred = x_n + np.tensordot(video.weights - w_n, basis, axes=([1], [0]))  # (T, 478, 3)
    e_basis = np.linalg.norm((video.faces - pred)[..., :2], axis=-1).mean()
    e_neutral = np.linalg.norm((video.faces - x_n)[..., :2], axis=-1).mean()
    return HeldOutError(float(e_basis), float(e_neutral), len(video.faces))


def pooled(errors: Sequence[HeldOutError]) -> HeldOutError:
    """Frame-weighted mean of several held-out errors."""
    frames = sum(e.frames for e in errors)
    return HeldOutError(
        sum(e.basis * e.frames for e in errors) / frames,
        sum(e.neutral * e.frames for e in errors) / frames,
        frames,
    )


def fit(videos: Sequence[TrackedVideo], lam: float, one_sided: bool = True) -> np.ndarray:
    """``fit_ridge`` with the ``side_mask`` of these videos (or none)."""
    return fit_ridge(videos, lam, side_mask(videos) if one_sided else None)


def leave_one_video_out(videos: Sequence[TrackedVideo], lam: float,
                        one_sided: bool = True) -> dict[str, HeldOutError]:
    """Error on each video of a basis fitted on all the others."""
    return {v.name: held_out_error(v, fit([u for u in videos if u is not v], lam, one_sided)) for v in videos}


def choose_lambda(videos: Sequence[TrackedVideo], grid: Sequence[float] = LAMBDA_GRID,
                  one_sided: bool = True) -> float:
    """The ridge strength with the lowest pooled leave-one-video-out basis error."""
    scores = {lam: pooled(list(leave_one_video_out(videos, lam, one_sided).values())).basis for lam in grid}
    for lam, score in scores.items():
        log.debug("lambda %g: leave-one-video-out error %.5f", lam, score)
    return min(scores, key=lambda lam: (scores[lam], lam))


def nested_leave_one_video_out(videos: Sequence[TrackedVideo], grid: Sequence[float] = LAMBDA_GRID,
                               one_sided: bool = True) -> dict[str, tuple[float, HeldOutError]]:
    """Honest per-video error: for each video, lambda is chosen by leave-one-out over the
    *other* videos only, then the basis fitted on them is scored on it."""
    out = {}
    for v in videos:
        rest = [u for u in videos if u is not v]
        lam = choose_lambda(rest, grid, one_sided)
        out[v.name] = (lam, held_out_error(v, fit(rest, lam, one_sided)))
    return out


def inter_ocular(face: np.ndarray) -> float:
    """Outer-eye-corner distance (x/y) of a face, in its own units."""
    right, left = topo.MP_RIGHT_EYE_CORNERS[0], topo.MP_LEFT_EYE_CORNERS[0]
    return float(np.linalg.norm(face[left, :2] - face[right, :2]))
