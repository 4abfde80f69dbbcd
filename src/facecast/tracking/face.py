"""One tracked face as plain numpy: 478 landmarks, MediaPipe's 52 blendshape scores and
the facial transformation matrix. Produced by ``facecast.capture`` (MediaPipe), consumed
by tracking, retargeting and the blendshape basis, which never load MediaPipe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_LANDMARKS = 478
LANDMARK_FORMAT = "mediapipe478"

# The order in which the float16/v1 model returns its 52 blendshape scores.
BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
)  # fmt: skip


@dataclass(frozen=True)
class FaceLandmarks:
    """One detected face.

    points: 478 x 3 float32, x/y normalized to the image, z in MediaPipe's scale.
    blendshapes: 52 float32 scores in ``BLENDSHAPE_NAMES`` order.
    transform: 4 x 4 float32 facial transformation matrix, or None.
    image_size: (width, height) of the image the points are normalized to.
    """

    points: np.ndarray
    blendshapes: np.ndarray
    transform: np.ndarray | None
    image_size: tuple[int, int]

    def pixel_points(self) -> np.ndarray:
        """478 x 2 float32 landmark positions in pixels."""
        w, h = self.image_size
        return self.points[:, :2] * np.array([w, h], dtype=np.float32)

    def bbox(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) pixel bounding box of the landmarks."""
        px = self.pixel_points()
        x0, y0 = px.min(axis=0)
        x1, y1 = px.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)


NO_BLENDSHAPES = np.zeros(len(BLENDSHAPE_NAMES), dtype=np.float32)  # a face without blendshape scores
