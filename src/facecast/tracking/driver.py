"""From per-frame detections to the poses a tracker sends: smoothing, tracking loss,
neutral calibration and retargeting onto a character.

``FaceTracker`` smooths one face (One Euro on the 478 landmarks and on the head's
yaw/pitch/roll, ``TrackerConfig``) and handles frames without a face:

    tracking --(no face)--> holding (hold_s) --> easing (ease_s) --> lost
        ^------------------------(face again: eases back in)-----------'

and warns "no face for N s" after ``no_face_warning_s`` and then at most every N s (the
stream's own clock), while tracking keeps running. The state of every frame is one of
``protocol.TRACKING_STATES`` and travels in the pose's ``tracking`` field.

``DriverPipeline`` adds the driver's neutral calibration (``calibration.NeutralCalibrator``:
the first window of ``calibration_frames`` frames judged neutral, or the best one of the
first ``calibration_search_s`` seconds with a warning and an automatic re-calibration when
a better one appears; again on ``calibrate()``) and the relative-motion
``Retargeter``; ``update`` returns the character's landmarks for each frame (None until
the first calibration is done), eased towards the character's neutral as the state says.
Everything here is a pure function of the detections and their timestamps, so replaying
a recording reproduces the poses exactly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from facecast.config import TrackerConfig
from facecast.protocol.formats import TRACKING_STATES
from facecast.tracking.head_pose import euler_from_matrix, head_pose_from_transform, rotation_matrix
from facecast.tracking.face import NO_BLENDSHAPES, FaceLandmarks
from facecast.tracking.one_euro import OneEuroFilter
from facecast.tracking.calibration import NeutralCalibrator
from facecast.tracking.retarget import Retargeter

__all__ = ["TRACKING", "HOLDING", "EASING", "LOST", "TrackedFace", "FaceTracker", "PoseOutput", "DriverPipeline"]

log = logging.getLogger(__name__)

TRACKING, HOLDING, EASING, LOST = TRACKING_STATES
REACQUIRE_S = 0.25  # face found again: ease back from where the output was over this long


def _smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass(frozen=True)
class TrackedFace:
    """One frame after smoothing and loss handling.

    points: 478 x 3 normalised driver landmarks: filtered (tracking) or the last filtered
        ones (holding, easing, lost); None before any face was seen.
    raw: this frame's detected landmarks (None without a face).
    ease: 0 = show ``points``; 1 = show the neutral face; between: blend (easing, and
        easing back in after a loss).
    head: (3,) filtered yaw, pitch, roll in radians (``head_pose`` convention).
    blendshapes: (52,) scores in MediaPipe's order (the last seen while holding).
    """

    index: int
    timestamp_s: float
    image_size: tuple[int, int]
    state: str
    points: np.ndarray | None
    raw: np.ndarray | None
    ease: float
    head: np.ndarray
    blendshapes: np.ndarray


class FaceTracker:
    """Smoothing and tracking-loss handling of one face (see the module docstring)."""

    def __init__(self, cfg: TrackerConfig) -> None:
        self.cfg = cfg
        self.landmark_filter = OneEuroFilter(cfg.min_cutoff, cfg.beta, cfg.d_cutoff, group_last_axis=True)
        self.head_filter = OneEuroFilter(cfg.head_min_cutoff, cfg.head_beta, cfg.d_cutoff, group_last_axis=False)
        self._points: np.ndarray | None = None
        self._head = np.zeros(3)
        self._blend = NO_BLENDSHAPES
        self._last_seen: float | None = None
        self._first_t: float | None = None
        self._lost_since: float | None = None
        self._last_warning: float | None = None
        self._ease = 0.0  # the ease shown on the previous frame
        self._ease_at_loss = 0.0
        self._reacquired: tuple[float, float] | None = None  # (time, ease then) when a face came back
        self.state = LOST
        self.frames = 0
        self.frames_with_face = 0

    def update(self, face: FaceLandmarks | None, timestamp_s: float, index: int = 0,
               image_size: tuple[int, int] | None = None) -> TrackedFace:
        """Advance by one frame taken at ``timestamp_s`` (seconds, the stream's clock)."""
        t = float(timestamp_s)
        if self._first_t is None:
            self._first_t = t
        self.frames += 1
        size = image_size or (face.image_size if face is not None else (0, 0))
        if face is not None:
            state, ease = self._seen(face, t)
        else:
            state, ease = self._unseen(t)
        if state != self.state:
            self._log_transition(self.state, state, t)
            self.state = state
        self._ease = ease
        return TrackedFace(index=index, timestamp_s=t, image_size=tuple(size), state=state,  # type: ignore[arg-type]
                           points=None if self._points is None else self._points.astype(np.float32),
                           raw=None if face is None else face.points, ease=ease,
                           head=self._head.astype(np.float32), blendshapes=self._blend)

    def _seen(self, face: FaceLandmarks, t: float) -> tuple[str, float]:
        self.frames_with_face += 1
        if self._lost_since is not None:  # back after a loss: restart the filters from here
            self.landmark_filter.reset()
            self.head_filter.reset()
            self._reacquired = (t, self._ease)
            self._lost_since = None
        self._points = self.landmark_filter(face.points, t)
        if face.transform is not None:
            self._head = self.head_filter(head_pose_from_transform(face.transform).as_array(), t)
        self._blend = face.blendshapes
        self._last_seen = t
        self._last_warning = None
        ease = 0.0
        if self._reacquired is not None:
            since, start = self._reacquired
            ease = start * (1.0 - _smoothstep((t - since) / REACQUIRE_S))
            if ease <= 0.0:
                self._reacquired = None
        return TRACKING, ease

    def _unseen(self, t: float) -> tuple[str, float]:
        if self._lost_since is None:
            self._lost_since = t
            self._ease_at_loss = self._ease  # nonzero when the face went while easing back in
            self._reacquired = None
        since = self._last_seen if self._last_seen is not None else self._first_t
        gone = t - since  # type: ignore[operator]
        self._warn_no_face(t, gone)
        if self._points is None:
            return LOST, 1.0
        cfg, start = self.cfg, self._ease_at_loss
        if gone < cfg.hold_s:
            return HOLDING, start
        if cfg.ease_s > 0 and gone < cfg.hold_s + cfg.ease_s:
            return EASING, start + (1.0 - start) * _smoothstep((gone - cfg.hold_s) / cfg.ease_s)
        return LOST, 1.0

    def _warn_no_face(self, t: float, gone: float) -> None:
        every = self.cfg.no_face_warning_s
        if every <= 0 or gone < every:
            return
        if self._last_warning is None or t - self._last_warning >= every:
            self._last_warning = t
            if self._last_seen is None:
                log.warning("no face for %.0f s since the start: is a face in view, facing the camera and lit? "
                            "(tracking keeps running)", gone)
            else:
                log.warning("no face for %.0f s: the character shows its neutral face until one is back "
                            "(tracking keeps running)", gone)

    def _log_transition(self, old: str, new: str, t: float) -> None:
        if new == TRACKING:
            if self.frames_with_face > 1:
                log.info("face found again at %.2f s", t)
            else:
                log.info("face found at %.2f s", t)
        elif new == HOLDING:
            log.info("face lost at %.2f s: holding the last pose for %.1f s", t, self.cfg.hold_s)
        elif new == EASING:
            log.info("still no face at %.2f s: easing to the neutral face over %.1f s", t, self.cfg.ease_s)
        elif new == LOST and old != LOST:
            log.info("no face at %.2f s: showing the neutral face", t)


@dataclass(frozen=True)
class PoseOutput:
    """What a tracker sends for one frame. ``landmarks``: 478 x 3 character landmarks, or
    None while the first calibration is still collecting frames."""

    tracked: TrackedFace
    landmarks: np.ndarray | None
    head: np.ndarray  # (3,) yaw, pitch, roll relative to the driver's neutral, eased towards 0
    blendshapes: np.ndarray  # (52,) MediaPipe order, eased towards 0

    @property
    def state(self) -> str:
        return self.tracked.state


class DriverPipeline:
    """FaceTracker + neutral calibration + retargeting onto one character."""

    def __init__(self, cfg: TrackerConfig, character_neutral: np.ndarray) -> None:
        self.cfg = cfg
        self.calibrator = NeutralCalibrator(cfg.calibration_frames, cfg.calibration_search_s)
        self.tracker = FaceTracker(cfg)
        self.character_neutral = np.asarray(character_neutral, dtype=np.float32)
        self.retargeter: Retargeter | None = None
        self.neutral_head = np.zeros(3, np.float32)
        self.calibrations = 0

    @property
    def calibrated(self) -> bool:
        return self.retargeter is not None

    @property
    def calibrating(self) -> bool:
        return self.calibrator.searching

    def calibrate(self) -> None:
        """Take the driver's neutral again from the next frames with a face (the first
        window judged neutral, else the best of ``calibration_search_s``); the current one
        stays in use until then."""
        self.calibrator.restart()
        log.info("calibrating the neutral face from the next %d frame(s) with a face: look at the camera, "
                 "eyes open, mouth closed, face relaxed", self.cfg.calibration_frames)

    def set_driver_neutral(self, points: np.ndarray, image_size: tuple[int, int],
                           head: np.ndarray | None = None) -> None:
        """Use ``points`` (478 x 3, normalised to ``image_size``) as the driver's neutral."""
        self._adopt(points, image_size, head)
        self.calibrator.stop()

    def _adopt(self, points: np.ndarray, image_size: tuple[int, int], head: np.ndarray | None) -> None:
        self.retargeter = Retargeter(points, image_size, self.character_neutral)
        self.neutral_head = np.zeros(3, np.float32) if head is None else np.asarray(head, np.float32)
        self.calibrations += 1

    def update(self, face: FaceLandmarks | None, timestamp_s: float, index: int = 0,
               image_size: tuple[int, int] | None = None) -> PoseOutput:
        tracked = self.tracker.update(face, timestamp_s, index, image_size)
        neutral = self.calibrator.update(face, timestamp_s)
        if neutral is not None:
            first = not self.calibrated
            self._adopt(neutral.points, neutral.image_size, neutral.head)
            log.info("%s the neutral face at %.2f s (%s)", "calibrated" if first else "re-calibrated",
                     timestamp_s, neutral.check.describe())
        if self.retargeter is None or tracked.points is None:
            landmarks = None if self.retargeter is None else self.character_neutral.copy()
            return PoseOutput(tracked, landmarks, np.zeros(3, np.float32), NO_BLENDSHAPES)
        ease = tracked.ease
        landmarks = self.retargeter(tracked.points)
        relative = rotation_matrix(*tracked.head) @ rotation_matrix(*self.neutral_head).T  # neutral -> now, camera axes
        head = euler_from_matrix(relative).as_array()
        blend = tracked.blendshapes
        if ease > 0.0:
            landmarks = ((1.0 - ease) * landmarks + ease * self.character_neutral).astype(np.float32)
            head = ((1.0 - ease) * head).astype(np.float32)
            blend = ((1.0 - ease) * blend).astype(np.float32)
        return PoseOutput(tracked, landmarks, head, blend)
