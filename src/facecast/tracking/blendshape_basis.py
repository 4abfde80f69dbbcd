"""A linear blendshape basis: ARKit-52 weights -> MediaPipe-478 landmark offsets.

The basis is fitted from tracked video (``scripts/fit_blendshape_basis.py``) and ships as
package data (``facecast/data/blendshape_basis.npz``). Faces are compared in a *normalised
frontal frame*: the head rotation of MediaPipe's facial transformation matrix is undone
about the face centre, then the points are centred on the mean of the skull-rigid points
(``topology.MP_STABLE``) and divided by those points' RMS radius in x/y (the "face
scale" unit). In that frame a face is ``neutral + sum_k w_k * offsets[k]``.

``BlendshapeRig`` applies the basis to one character: offsets are rotated into the
character's own head pose (found by a similarity fit of the basis's mean neutral face to
the character's neutral), scaled by its face scale, added to its neutral landmarks, and
the requested head rotation is applied about the face centre. Zero weights and no head
rotation give the character's neutral landmarks exactly.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from facecast.core import topology as topo
from facecast.protocol.formats import ARKIT_BLENDSHAPES, LANDMARK_FORMATS
from facecast.tracking.head_pose import HeadPose, face_centre, rotate_landmarks, rotation_from_transform
from facecast.tracking.face import BLENDSHAPE_NAMES
from facecast.tracking.retarget import similarity_fit

__all__ = [
    "BASIS_RESOURCE",
    "BasisFileMissing",
    "BlendshapeBasis",
    "BlendshapeRig",
    "arkit_from_mediapipe",
    "normalize_face",
    "load_basis",
    "save_basis",
]

BASIS_RESOURCE = "blendshape_basis.npz"  # in the package's data/ folder
NUM_POINTS, _DIMS = LANDMARK_FORMATS["mediapipe478"]
_STABLE = list(topo.MP_STABLE)
# Where each ARKit name sits in MediaPipe's scores (-1: not estimated, i.e. tongueOut).
_MP_INDEX = np.array([BLENDSHAPE_NAMES.index(n) if n in BLENDSHAPE_NAMES else -1 for n in ARKIT_BLENDSHAPES])


class BasisFileMissing(FileNotFoundError):
    """The blendshape basis file is not where it should be."""


def arkit_from_mediapipe(scores: np.ndarray) -> np.ndarray:
    """(..., 52) MediaPipe blendshape scores (``landmarks.BLENDSHAPE_NAMES`` order, which
    starts with ``_neutral``) -> (..., 52) float32 weights in ARKit order (the protocol's);
    ``tongueOut``, which MediaPipe does not estimate, is 0."""
    s = np.asarray(scores, dtype=np.float32)
    if s.shape[-1] != len(BLENDSHAPE_NAMES):
        raise ValueError(f"expected {len(BLENDSHAPE_NAMES)} MediaPipe scores, got shape {s.shape}")
    out = np.zeros(s.shape[:-1] + (len(ARKIT_BLENDSHAPES),), dtype=np.float32)
    known = _MP_INDEX >= 0
    out[..., known] = s[..., _MP_INDEX[known]]
    return out


def _centre_and_scale(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Mean of the rigid points (3,) and their RMS radius in x/y."""
    stable = points[_STABLE]
    centre = stable.mean(axis=0)
    scale = float(np.sqrt(np.mean(np.sum((stable[:, :2] - centre[:2]) ** 2, axis=1))))
    if not np.isfinite(scale) or scale <= 0:
        raise ValueError("degenerate face: the rigid landmarks coincide")
    return centre, scale


def normalize_face(points: np.ndarray, image_size: tuple[int, int], transform: np.ndarray) -> np.ndarray:
    """478 x 3 normalised image landmarks -> 478 x 3 float64 in the normalised frontal
    frame (head rotation undone, rigid points centred, face scale 1)."""
    w, h = image_size
    px = np.asarray(points, dtype=np.float64) * np.array([w, h, w], dtype=np.float64)
    rot = rotation_from_transform(transform)
    frontal = (px - face_centre(px)) @ rot  # row vectors: p @ R == (R^T p)^T
    centre, scale = _centre_and_scale(frontal)
    return (frontal - centre) / scale


@dataclass(frozen=True)
class BlendshapeBasis:
    """offsets: 52 x 478 x 3 float32 per unit weight, ARKit order, normalised frontal frame.
    mean_neutral: 478 x 3 float32, the mean of the training videos' neutral faces (same frame).
    metadata: how it was fitted and its held-out figures (JSON-able)."""

    offsets: np.ndarray
    mean_neutral: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        want = (len(ARKIT_BLENDSHAPES), NUM_POINTS, _DIMS)
        if self.offsets.shape != want or self.mean_neutral.shape != want[1:]:
            raise ValueError(f"basis must be {want} with a {want[1:]} neutral, got "
                             f"{self.offsets.shape} and {self.mean_neutral.shape}")

    def offset(self, weights: np.ndarray) -> np.ndarray:
        """(52,) or (T, 52) ARKit weights -> (478, 3) or (T, 478, 3) offsets (normalised frame)."""
        w = np.asarray(weights, dtype=np.float32)
        return np.tensordot(w, self.offsets, axes=([-1], [0]))


def save_basis(basis: BlendshapeBasis, path: Path) -> None:
    """Write the basis as an .npz whose bytes depend only on its contents (fixed zip
    timestamps, sorted metadata keys), so a re-fit reproduces the file exactly."""
    arrays = {
        "offsets": basis.offsets.astype(np.float32),
        "mean_neutral": basis.mean_neutral.astype(np.float32),
        "names": np.array(ARKIT_BLENDSHAPES),
        "metadata_json": np.array(json.dumps(basis.metadata, sort_keys=True, indent=1)),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arr, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def load_basis(path: str | Path | None = None) -> BlendshapeBasis:
    """Load a basis file (default: the one shipped in the package)."""
    if path is None:
        ref = resources.files("facecast") / "data" / BASIS_RESOURCE
        with resources.as_file(ref) as p:
            return load_basis(p)
    p = Path(path)
    if not p.is_file():
        raise BasisFileMissing(
            f"blendshape basis {p} is missing; it ships with facecast (facecast/data/{BASIS_RESOURCE}) "
            "and is rebuilt by scripts/fit_blendshape_basis.py from ../shared/data/videos"
        )
    with np.load(p, allow_pickle=False) as data:
        names = tuple(str(n) for n in data["names"])
        if names != ARKIT_BLENDSHAPES:
            raise ValueError(f"{p}: blendshape names differ from the protocol's ARKit order")
        return BlendshapeBasis(
            offsets=np.array(data["offsets"], dtype=np.float32),
            mean_neutral=np.array(data["mean_neutral"], dtype=np.float32),
            metadata=json.loads(str(data["metadata_json"].item())),
        )


class BlendshapeRig:
    """The basis fitted onto one character's neutral landmarks (478 x 3, normalised to the
    character's square image). ``landmarks(weights, head)`` gives the driven face."""

    def __init__(self, basis: BlendshapeBasis, neutral: np.ndarray) -> None:
        n = np.asarray(neutral, dtype=np.float64)
        if n.shape != (NUM_POINTS, _DIMS):
            raise ValueError(f"neutral must be {NUM_POINTS} x {_DIMS} landmarks, got {n.shape}")
        self.neutral = n.astype(np.float32)
        self.centre = face_centre(n)
        # The character's head pose relative to the basis's frontal frame (rotation only),
        # and its face scale measured after undoing that rotation.
        _s, rot, _t = similarity_fit(basis.mean_neutral[_STABLE], n[_STABLE])
        self.rotation = rot
        _c, scale = _centre_and_scale((n - self.centre) @ rot)
        # 52 x 478 x 3 offsets in the character's image units, in its own pose; kept as a
        # 52 x 1434 float32 matrix so that a pose is one small matrix-vector product.
        self.offsets = ((basis.offsets.astype(np.float64) * scale) @ rot.T).astype(np.float32)
        self._matrix = self.offsets.reshape(len(self.offsets), -1)

    def landmarks(self, weights: np.ndarray, head: HeadPose | np.ndarray | None = None) -> np.ndarray:
        """(52,) ARKit weights (+ optional yaw/pitch/roll) -> 478 x 3 float32 landmarks."""
        w = np.asarray(weights, dtype=np.float32)
        face = self.neutral + (w @ self._matrix).reshape(self.neutral.shape)  # (52,) @ (52, 1434)
        if head is None:
            return face
        pose = head if isinstance(head, HeadPose) else HeadPose.from_array(head)
        if pose == HeadPose():
            return face
        return rotate_landmarks(face, pose, centre=self.centre)
