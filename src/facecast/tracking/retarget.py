"""Relative-motion retargeting: the driver's motion relative to its own neutral face,
applied to the character's neutral landmarks, so that a round-faced driver does not stamp
their face shape onto a long-faced character.

Each driver frame is split into a head pose and an expression:

- head pose: the similarity (scale ``s``, rotation ``R``, translation) that best maps the
  driver's neutral onto the frame over points that move rigidly with the skull
  (``topology.MP_STABLE``; least squares, Umeyama 1991);
- expression: what is left, the frame mapped back into the neutral's pose minus the
  neutral (``478 x 3`` offsets).

Both are carried over to the character in proportion to its face:

- each face gets a frame of its own (``face_frame``: x from the subject's right eye to the
  left, y from the eyes to the mouth, z away from the viewer) and its size along those
  axes; expression offsets are expressed in the driver's face frame, scaled per axis by
  character size / driver size (the eyes by their own width and opening, so that a blink
  closes a small eye exactly as it closes a big one), and put back in the character's
  frame;
- the head rotation is conjugated into the character's face frame, the scale applies as
  it is, and the translation of the face centre is scaled by the ratio of face sizes.

Driver landmarks are MediaPipe's (x, y normalised to a ``(width, height)`` image, z on the
scale of x); they are taken to pixels first so that a non-square video keeps its aspect.
Character landmarks are normalised to the character's square reference image. At the
driver's neutral the output is the character's neutral exactly; a character enrolled from
a frame of the driver's own video gets that video's landmarks back (a similarity of the
crop), which the tests check on real videos.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facecast.core import topology as topo
from facecast.tracking.head_pose import face_centre

__all__ = [
    "FaceFrame",
    "HeadMotion",
    "Retargeter",
    "face_frame",
    "similarity_fit",
    "average_neutral",
    "retarget_relative",
    "to_pixels",
]

_STABLE = list(topo.MP_STABLE)
_RIGHT_EYE = list(topo.MP_RIGHT_EYE) + list(topo.MP_RIGHT_IRIS) + [468]
_LEFT_EYE = list(topo.MP_LEFT_EYE) + list(topo.MP_LEFT_IRIS) + [473]
_OVAL = list(topo.MP_FACE_OVAL)
_EPS = 1e-9


def to_pixels(points: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """``... x 478 x 3`` normalised landmarks -> float64 pixels (z on the scale of x)."""
    w, h = image_size
    return np.asarray(points, dtype=np.float64) * np.array([w, h, w], dtype=np.float64)


def similarity_fit(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ~ s * R @ src + t`` between two ``N x 3`` point sets
    (Umeyama 1991): returns ``(s, R, t)`` with ``R`` a proper rotation."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_s, dst - mu_d  # (N, 3) centred
    cov = b.T @ a / len(src)  # (3, 3)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[2] = -1.0
    rot = (u * d) @ vt
    var = (a**2).sum() / len(src)
    scale = float((sig * d).sum() / var) if var > _EPS else 1.0
    return scale, rot, mu_d - scale * rot @ mu_s


@dataclass(frozen=True)
class FaceFrame:
    """A face's own axes and size. ``axes`` columns are the face's x (subject's right eye to
    left eye), y (eyes to mouth) and z (away from the viewer) in the landmarks' space;
    ``size`` its extent along each (face oval width and height; the eyes' mean width and
    opening), in the landmarks' units."""

    centre: np.ndarray  # (3,)
    axes: np.ndarray  # (3, 3), columns x, y, z
    width: float
    height: float
    eye_width: float
    eye_opening: float

    def local(self, vectors: np.ndarray) -> np.ndarray:
        """Vectors (``... x 3``) in face coordinates."""
        return np.asarray(vectors, dtype=np.float64) @ self.axes


def face_frame(points: np.ndarray) -> FaceFrame:
    """The face frame of ``478 x 3`` landmarks in an isotropic space (pixels, or a square
    image's normalised coordinates)."""
    p = np.asarray(points, dtype=np.float64)
    right, left = p[list(topo.MP_RIGHT_EYE)].mean(axis=0), p[list(topo.MP_LEFT_EYE)].mean(axis=0)
    mouth = p[list(topo.MP_OUTER_LIPS)].mean(axis=0)
    x = left - right
    x /= max(np.linalg.norm(x), _EPS)
    y = mouth - 0.5 * (left + right)
    y -= (y @ x) * x
    y /= max(np.linalg.norm(y), _EPS)
    axes = np.stack([x, y, np.cross(x, y)], axis=1)
    centre = face_centre(p)
    oval = (p[_OVAL] - centre) @ axes
    eye_w, eye_h = [], []
    for outline, (upper, lower) in (
        (topo.MP_RIGHT_EYE, (topo.MP_RIGHT_UPPER_LID, topo.MP_RIGHT_LOWER_LID)),
        (topo.MP_LEFT_EYE, (topo.MP_LEFT_UPPER_LID, topo.MP_LEFT_LOWER_LID)),
    ):
        local = p[list(outline)] @ axes
        eye_w.append(np.ptp(local[:, 0]))
        eye_h.append(((p[list(lower)] - p[list(upper)]) @ axes[:, 1]).mean())
    return FaceFrame(
        centre=centre,
        axes=axes,
        width=float(np.ptp(oval[:, 0])),
        height=float(np.ptp(oval[:, 1])),
        eye_width=float(np.mean(eye_w)),
        eye_opening=float(np.mean(eye_h)),
    )


@dataclass(frozen=True)
class HeadMotion:
    """One driver frame relative to the driver's neutral, in the driver's pixels."""

    scale: float
    rotation: np.ndarray  # (3, 3): neutral -> frame, about the neutral's face centre
    translation: np.ndarray  # (3,): how far the neutral's face centre moved
    expression: np.ndarray  # (478, 3): the frame in the neutral's pose, minus the neutral


def _ratio(num: float, den: float, fallback: float) -> float:
    return num / den if den > _EPS and num > _EPS else fallback


def average_neutral(frames: np.ndarray) -> np.ndarray:
    """Mean of ``T x 478 x 3`` faces after aligning each to the first (similarity on the
    stable points), in the first frame's pose: a less noisy neutral than one frame."""
    frames = np.asarray(frames, dtype=np.float64)
    ref = frames[0]
    aligned = []
    for f in frames:
        s, rot, t = similarity_fit(f[_STABLE], ref[_STABLE])
        aligned.append(s * f @ rot.T + t)
    return np.mean(aligned, axis=0)


class Retargeter:
    """Maps driver landmarks onto a character (see the module docstring).

    ``driver_neutral``: 478 x 3 normalised to the driver's ``driver_size`` (width, height)
    image. ``character_neutral``: 478 x 3 normalised to the character's square image.
    """

    def __init__(
        self, driver_neutral: np.ndarray, driver_size: tuple[int, int], character_neutral: np.ndarray
    ) -> None:
        self.driver_size = (int(driver_size[0]), int(driver_size[1]))
        self.driver_neutral = to_pixels(driver_neutral, self.driver_size)  # (478, 3) px
        self.character_neutral = np.asarray(character_neutral, dtype=np.float64)
        if self.driver_neutral.shape != (478, 3) or self.character_neutral.shape != (478, 3):
            raise ValueError("retargeting needs 478 x 3 MediaPipe landmarks for both neutral faces")
        fd, fc = face_frame(self.driver_neutral), face_frame(self.character_neutral)
        self.driver_frame, self.character_frame = fd, fc
        kx = _ratio(fc.width, fd.width, 1.0)
        ky = _ratio(fc.height, fd.height, kx)
        self.size_ratio = float(np.sqrt(kx * ky))  # head translation
        scales = np.tile(np.array([kx, ky, 0.5 * (kx + ky)]), (478, 1))  # (478, 3) per point, face axes
        eye_x = _ratio(fc.eye_width, fd.eye_width, kx)
        eye_y = _ratio(fc.eye_opening, fd.eye_opening, ky)
        scales[_RIGHT_EYE + _LEFT_EYE, 0] = eye_x
        scales[_RIGHT_EYE + _LEFT_EYE, 1] = eye_y
        self.expression_scales = scales
        self.rotation_map = fc.axes @ fd.axes.T  # driver face axes -> character face axes
        self._centre_d = fd.centre
        self._centre_c = fc.centre

    def decompose(self, driver: np.ndarray) -> HeadMotion:
        """Head pose and expression of one 478 x 3 normalised driver frame."""
        p = to_pixels(driver, self.driver_size)
        s, rot, t = similarity_fit(self.driver_neutral[_STABLE], p[_STABLE])
        back = (p - t) @ rot / s  # R^T (p - t) / s: the frame in the neutral's pose
        moved = s * rot @ self._centre_d + t - self._centre_d
        return HeadMotion(scale=s, rotation=rot, translation=moved, expression=back - self.driver_neutral)

    def apply(self, motion: HeadMotion) -> np.ndarray:
        """478 x 3 float32 character landmarks for a driver's ``HeadMotion``."""
        fd, fc = self.driver_frame, self.character_frame
        expression = (fd.local(motion.expression) * self.expression_scales) @ fc.axes.T  # (478, 3)
        face = self.character_neutral + expression
        rot = self.rotation_map @ motion.rotation @ self.rotation_map.T
        out = motion.scale * (face - self._centre_c) @ rot.T + self._centre_c
        out += self.size_ratio * motion.translation
        return out.astype(np.float32)

    def __call__(self, driver: np.ndarray) -> np.ndarray:
        """One 478 x 3 driver frame -> 478 x 3 float32 character landmarks."""
        return self.apply(self.decompose(driver))

    def many(self, driver: np.ndarray) -> np.ndarray:
        """``T x 478 x 3`` driver frames -> ``T x 478 x 3`` character landmarks."""
        if not len(driver):
            return np.zeros((0, 478, 3), np.float32)
        return np.stack([self(frame) for frame in np.asarray(driver)])


def retarget_relative(
    driver: np.ndarray,
    driver_neutral: np.ndarray,
    driver_size: tuple[int, int],
    character_neutral: np.ndarray,
) -> np.ndarray:
    """Map ``T x 478 x 3`` driver landmarks (normalized to a ``(width, height)`` video)
    onto a character: returns ``T x 478 x 3`` normalized to the character's square image."""
    return Retargeter(driver_neutral, driver_size, character_neutral).many(driver)
