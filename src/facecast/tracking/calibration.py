"""Choosing the driver's neutral face: judged, not just the first frames.

A neutral taken while the driver looks down (eyes nearly closed), talks (mouth open),
turns away or moves makes every later frame wrong: the character's eyes open into holes
when the driver's eyes open, its lips vanish when the driver's mouth closes. So each
frame is judged against what a neutral face is (``frame_badness``):

- eyes open: MediaPipe's ``eyeBlink`` scores, or without blendshapes the eye opening over
  the eye width from the landmarks;
- mouth closed: ``jawOpen``, and the gap between the inner lips over the face width;
- facing the camera: yaw and pitch from the facial transformation matrix;
- steady: how far the landmarks move from one frame to the next, over the face width.

Each criterion's badness is 1 at its limit (``LIMITS``); a window of ``frames`` consecutive
frames with a face is acceptable when every frame is within the eye, mouth and head limits
(a window half in a blink is not neutral) and the mean motion is within its limit.

``NeutralCalibrator`` looks for a window: it takes the first acceptable one at once; if
none comes within ``search_s`` seconds it takes the best window seen and warns what was
wrong, then keeps watching and re-calibrates on the first acceptable window. A pure
function of the detections and their timestamps (replay reproduces it).
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass

import numpy as np

from facecast.core import topology as topo
from facecast.tracking.face import BLENDSHAPE_NAMES, FaceLandmarks
from facecast.tracking.head_pose import head_pose_from_transform
from facecast.tracking.retarget import average_neutral, face_frame, to_pixels

__all__ = ["CRITERIA", "LIMITS", "NeutralCheck", "Neutral", "NeutralCalibrator", "frame_badness",
           "check_window", "best_neutral"]

log = logging.getLogger(__name__)

CRITERIA = ("eyes nearly closed", "mouth open", "head turned away", "face moving")
# What one unit of badness is, per criterion (chosen on the shared videos, docs/tracker.md):
LIMITS = {
    "blink": 0.25,  # mean eyeBlinkLeft/Right score (open eyes 0.0-0.17, looking down 0.3+, closed 0.6+)
    "eye_ratio": 0.15,  # without blendshapes: eye opening / eye width below 0.15 (open 0.2-0.38)
    "jaw": 0.15,  # jawOpen score (closed 0.0-0.05, talking 0.2-0.8)
    "lip_gap": 0.06,  # inner-lip gap / face width (closed 0.0-0.05, talking 0.06-0.16)
    "angle": np.radians(15.0),  # |yaw| or |pitch|
    "motion": 0.012,  # mean landmark motion per frame / face width (still 0.002-0.005)
}
_BLINK = [BLENDSHAPE_NAMES.index("eyeBlinkLeft"), BLENDSHAPE_NAMES.index("eyeBlinkRight")]
_JAW = BLENDSHAPE_NAMES.index("jawOpen")
_UPPER_LIP, _LOWER_LIP = list(topo.MP_UPPER_INNER_LIP), list(topo.MP_LOWER_INNER_LIP)


def frame_badness(face: FaceLandmarks) -> np.ndarray:
    """(3,) badness of one face for eyes, mouth and head (``CRITERIA`` order, without motion)."""
    px = to_pixels(face.points, face.image_size)
    frame = face_frame(px)
    gap = float(((px[_LOWER_LIP] - px[_UPPER_LIP]) @ frame.axes[:, 1]).mean()) / max(frame.width, 1e-9)
    mouth = max(gap, 0.0) / LIMITS["lip_gap"]
    if np.any(face.blendshapes):
        eyes = float(np.mean(face.blendshapes[_BLINK])) / LIMITS["blink"]
        mouth = max(mouth, float(face.blendshapes[_JAW]) / LIMITS["jaw"])
    else:
        ratio = frame.eye_opening / max(frame.eye_width, 1e-9)
        eyes = max(0.0, 2.0 - ratio / LIMITS["eye_ratio"])  # 1 at the limit, 0 at twice it
    head = 0.0
    if face.transform is not None:
        pose = head_pose_from_transform(face.transform)
        head = max(abs(pose.yaw), abs(pose.pitch)) / LIMITS["angle"]
    return np.array([eyes, mouth, head], np.float64)


@dataclass(frozen=True)
class NeutralCheck:
    """How neutral a window of frames is: its badness per criterion (``CRITERIA`` order)."""

    badness: tuple[float, ...]

    @property
    def good(self) -> bool:
        return max(self.badness) <= 1.0

    @property
    def score(self) -> float:
        """Lower is better: the sum of the badness beyond a quarter of each limit."""
        return float(sum(max(b - 0.25, 0.0) for b in self.badness))

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(name for name, b in zip(CRITERIA, self.badness) if b > 1.0)

    def describe(self) -> str:
        return ", ".join(self.problems) or "eyes open, mouth closed, facing the camera, steady"


def check_window(points: np.ndarray, image_size: tuple[int, int], badness: np.ndarray) -> NeutralCheck:
    """Judge ``T x 478 x 3`` consecutive faces with their ``T x 3`` ``frame_badness``."""
    px = to_pixels(points, image_size)
    width = max(face_frame(px[0]).width, 1e-9)
    motion = np.linalg.norm(np.diff(px[..., :2], axis=0), axis=-1).mean() / width if len(px) > 1 else 0.0
    worst = np.asarray(badness, np.float64).max(axis=0)  # (3,) the worst frame per criterion
    return NeutralCheck((*(float(b) for b in worst), float(motion) / LIMITS["motion"]))


@dataclass(frozen=True)
class Neutral:
    """A chosen driver neutral: ``points`` 478 x 3 normalised to ``image_size``, ``head``
    (3,) mean yaw/pitch/roll, the window's ``check`` and the time of its last frame."""

    points: np.ndarray
    head: np.ndarray
    image_size: tuple[int, int]
    check: NeutralCheck
    timestamp_s: float


class NeutralCalibrator:
    """Finds the driver's neutral in a stream of faces (see the module docstring)."""

    def __init__(self, frames: int, search_s: float) -> None:
        if frames < 1:
            raise ValueError(f"tracker.calibration_frames must be >= 1, got {frames}")
        self.frames, self.search_s = int(frames), float(search_s)
        self.current: Neutral | None = None
        self._window: collections.deque[tuple[FaceLandmarks, np.ndarray, float]] = collections.deque(maxlen=frames)
        self._search_from: float | None = None  # searching since (None: not yet started)
        self._searching = True
        self._best: tuple[list[tuple[FaceLandmarks, np.ndarray, float]], NeutralCheck] | None = None

    @property
    def searching(self) -> bool:
        """True until a neutral is taken (first calibration, or after ``restart``)."""
        return self._searching

    @property
    def watching(self) -> bool:
        """True while the neutral in use is not acceptable: a better one replaces it."""
        return self.current is not None and not self.current.check.good

    def restart(self) -> None:
        """Search again from the next frames (the current neutral stays in use until then)."""
        self._searching, self._search_from, self._best = True, None, None
        self._window.clear()

    def stop(self) -> None:
        """A neutral was given from outside: stop searching and watching."""
        self._searching, self._search_from, self._best, self.current = False, None, None, None
        self._window.clear()

    def update(self, face: FaceLandmarks | None, timestamp_s: float) -> Neutral | None:
        """Feed one frame; returns a new neutral when one is taken (else None)."""
        if face is None:
            self._window.clear()  # windows are consecutive frames with a face
            return None
        if not (self._searching or self.watching):
            return None
        t = float(timestamp_s)
        if self._search_from is None:
            self._search_from = t
        if self._window and tuple(self._window[-1][0].image_size) != tuple(face.image_size):
            self._window.clear()
        self._window.append((face, frame_badness(face), t))
        if len(self._window) < self.frames:
            return self._timeout(t)
        window = list(self._window)
        check = self._check(window)
        if self._searching:
            if self._best is None or check.score < self._best[1].score:
                self._best = (window, check)  # the neutral itself is averaged only when taken
            if check.good:
                return self._take(self._neutral(window, check))
            return self._timeout(t)
        if check.good:  # watching: a better neutral appeared
            return self._take(self._neutral(window, check))
        return None

    @staticmethod
    def _check(window: list[tuple[FaceLandmarks, np.ndarray, float]]) -> NeutralCheck:
        points = np.stack([f.points for f, _, _ in window])  # (T, 478, 3)
        badness = np.stack([b for _, b, _ in window])  # (T, 3)
        return check_window(points, tuple(window[-1][0].image_size), badness)  # type: ignore[arg-type]

    @staticmethod
    def _neutral(window: list[tuple[FaceLandmarks, np.ndarray, float]], check: NeutralCheck) -> Neutral:
        faces = [f for f, _, _ in window]
        points = np.stack([f.points for f in faces]).astype(np.float64)  # (T, 478, 3)
        heads = [head_pose_from_transform(f.transform).as_array() for f in faces if f.transform is not None]
        head = np.mean(heads, axis=0).astype(np.float32) if heads else np.zeros(3, np.float32)
        return Neutral(average_neutral(points).astype(np.float32), head, tuple(faces[-1].image_size),  # type: ignore[arg-type]
                       check, window[-1][2])

    def _timeout(self, t: float) -> Neutral | None:
        if self._searching and self._best is not None and t - self._search_from >= self.search_s:  # type: ignore[operator]
            return self._take(self._neutral(*self._best))
        return None

    def _take(self, neutral: Neutral) -> Neutral:
        previous, self.current = self.current, neutral
        was_searching = self._searching
        self._searching, self._best = False, None
        self._window.clear()
        if not neutral.check.good:
            log.warning("calibrated on a poor neutral face at %.2f s (%s): look at the camera with eyes open "
                        "and mouth closed; the neutral is taken again as soon as a better one appears",
                        neutral.timestamp_s, neutral.check.describe())
        elif previous is not None and not was_searching:
            log.warning("re-calibrated the neutral face at %.2f s: a better one appeared (%s; before: %s)",
                        neutral.timestamp_s, neutral.check.describe(), previous.check.describe())
        return neutral


def best_neutral(faces: list[FaceLandmarks | None], timestamps: list[float], frames: int,
                 search_s: float) -> Neutral:
    """The neutral a ``NeutralCalibrator`` ends with over a whole recorded performance
    (``facecast demo --video``): ValueError when no window of ``frames`` faces exists."""
    calib = NeutralCalibrator(frames, search_s)
    for face, t in zip(faces, timestamps):
        calib.update(face, t)
    if calib.current is None and calib._best is not None:
        calib._take(calib._neutral(*calib._best))
    if calib.current is None:
        raise ValueError(f"no {frames} consecutive frames with a face to take the driver's neutral from")
    return calib.current
