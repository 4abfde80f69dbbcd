"""Head-and-shoulders crops around a detected face, and landmarks in crop coordinates.

Used by the character store (``facecast.characters.store``) to cut each enrollment shot
to a square reference image with room for hair above and neck below the face.
"""

from __future__ import annotations

import cv2
import numpy as np

from facecast.tracking.face import FaceLandmarks

__all__ = ["CROP_SIZE", "CROP_SCALE", "CROP_LIFT", "face_crop_box", "crop_to_face", "crop_box", "to_crop_coords"]

CROP_SIZE = 512
# Crop geometry: side = CROP_SCALE x the larger face extent, centre raised by CROP_LIFT x
# that extent so hair shows above and some neck and shoulders below.
CROP_SCALE = 2.0
CROP_LIFT = 0.12


def face_crop_box(face: FaceLandmarks) -> tuple[int, int, int]:
    """Square (x0, y0, side) in source pixels around a face (may leave the image)."""
    x0, y0, x1, y1 = face.bbox()
    extent = max(x1 - x0, y1 - y0, 1.0)
    side = int(round(CROP_SCALE * extent))
    cx = 0.5 * (x0 + x1)
    cy = 0.5 * (y0 + y1) - CROP_LIFT * extent
    return int(round(cx - side / 2)), int(round(cy - side / 2)), side


def crop_to_face(
    rgb: np.ndarray, face: FaceLandmarks, size: int = CROP_SIZE
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Crop the head-and-shoulders square, edge-padded, resized to ``size``."""
    box = face_crop_box(face)
    return crop_box(rgb, box, size), box


def crop_box(rgb: np.ndarray, box: tuple[int, int, int], size: int) -> np.ndarray:
    """Cut the square ``box`` (x0, y0, side in source pixels; may leave the image, the
    border is edge-replicated) out of ``rgb`` and resize it to ``size`` x ``size``."""
    x0, y0, side = box
    h, w = rgb.shape[:2]
    left, top = max(0, -x0), max(0, -y0)
    right, bottom = max(0, x0 + side - w), max(0, y0 + side - h)
    if left or top or right or bottom:
        rgb = cv2.copyMakeBorder(rgb, top, bottom, left, right, cv2.BORDER_REPLICATE)
    patch = rgb[y0 + top : y0 + top + side, x0 + left : x0 + left + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    out = cv2.resize(np.ascontiguousarray(patch), (size, size), interpolation=interp)
    return np.ascontiguousarray(out, dtype=np.uint8)


def to_crop_coords(face: FaceLandmarks, box: tuple[int, int, int]) -> np.ndarray:
    """Landmarks normalized to the crop ``box`` (x0, y0, side in source pixels)."""
    x0, y0, side = box
    w, _h = face.image_size
    px = face.pixel_points()
    out = np.empty_like(face.points, dtype=np.float32)
    out[:, 0] = (px[:, 0] - x0) / side
    out[:, 1] = (px[:, 1] - y0) / side
    out[:, 2] = face.points[:, 2] * (w / side)  # z is in units of the image width
    return out
