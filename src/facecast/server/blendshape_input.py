"""Blendshape poses in the daemon: ARKit-52 weights (+ head yaw/pitch/roll) become
landmarks on the bound character's neutral face through the shipped blendshape basis
(``facecast.tracking.blendshape_basis``); from there a pose renders like a landmark pose.

The decoder has already checked shapes and finiteness (``BAD_ARRAY``, ``NON_FINITE``);
here weights outside [0, 1] and head angles beyond one turn are ``INVALID_FIELD``.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math

import numpy as np

from facecast.protocol import ARKIT_BLENDSHAPES, ErrorCode, Pose, ProtocolError
from facecast.tracking.blendshape_basis import BasisFileMissing, BlendshapeBasis, BlendshapeRig, load_basis

log = logging.getLogger(__name__)

MAX_HEAD_ANGLE = 2.0 * math.pi  # radians; larger values are most likely degrees


def check_blendshape_pose(weights: np.ndarray, head: np.ndarray | None) -> None:
    """Raise INVALID_FIELD naming the first weight outside [0, 1] or a head angle beyond
    one turn (the decoder has ensured shapes and finiteness)."""
    bad = np.flatnonzero((weights < 0.0) | (weights > 1.0))
    if bad.size:
        i = int(bad[0])
        raise ProtocolError(ErrorCode.INVALID_FIELD,
                            f"blendshapes[{i}] ({ARKIT_BLENDSHAPES[i]}) = {float(weights[i]):g}: "
                            f"weights must lie in [0, 1] ({bad.size} out of range)")
    if head is not None and np.abs(head).max() > MAX_HEAD_ANGLE:
        raise ProtocolError(ErrorCode.INVALID_FIELD,
                            f"head = {[round(float(a), 3) for a in head]}: yaw, pitch, roll are radians "
                            f"(|angle| <= 2 pi)")


class BlendshapeInput:
    """Per-character rigs over one basis, cached by character name (rebuilt when the
    character's neutral array changes, e.g. after it was unloaded and loaded again)."""

    def __init__(self, basis: BlendshapeBasis | None = None, capacity: int = 64) -> None:
        self.error: str | None = None
        if basis is None:
            try:
                basis = load_basis()
            except (BasisFileMissing, ValueError, OSError) as exc:
                self.error = str(exc)
                log.error("blendshape input disabled: %s", exc)
        self.basis = basis
        self.capacity = max(1, capacity)
        self._rigs: collections.OrderedDict[str, tuple[np.ndarray, BlendshapeRig]] = collections.OrderedDict()

    @property
    def available(self) -> bool:
        return self.basis is not None

    def rig(self, character: str, neutral: np.ndarray) -> BlendshapeRig:
        if self.basis is None:
            raise ProtocolError(ErrorCode.UNSUPPORTED, f"blendshape input is unavailable: {self.error}")
        cached = self._rigs.get(character)
        if cached is not None and cached[0] is neutral:
            self._rigs.move_to_end(character)
            return cached[1]
        rig = BlendshapeRig(self.basis, neutral)
        self._rigs[character] = (neutral, rig)
        self._rigs.move_to_end(character)
        while len(self._rigs) > self.capacity:
            self._rigs.popitem(last=False)
        return rig

    def to_landmarks(self, character: str, neutral: np.ndarray, pose: Pose) -> Pose:
        """The same pose carrying 478 x 3 landmarks instead of blendshapes."""
        assert pose.blendshapes is not None
        check_blendshape_pose(pose.blendshapes, pose.head)
        points = self.rig(character, neutral).landmarks(pose.blendshapes, pose.head)
        return dataclasses.replace(pose, landmarks=points, landmark_format="mediapipe478",
                                   blendshapes=None, head=None)
