"""Identity similarity (the paper's CSIM): cosine similarity of dlib's 128-d face
recognition descriptors of the real and the rendered frame, and their distance.

Optional: needs ``dlib`` (``pip install dlib-bin``) and the descriptor weights of
``face_recognition_models`` (``pip install 'facecast[identity]'``); nothing is
downloaded. ``IdentityScorer.create()`` returns None, with the reason logged, when they do
not import. The face is located from the frame's landmarks (the same box in the real and
the rendered frame), not by dlib's detector, which misses small faces.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)

CHIP_MIN_SIDE = 256  # frames are upscaled to at least this side before dlib sees them
SHAPE_MODEL = "shape_predictor_5_face_landmarks.dat"  # files of face_recognition_models
DESCRIPTOR_MODEL = "dlib_face_recognition_resnet_model_v1.dat"


class IdentityScorer:
    """dlib's 5-point shape predictor + ResNet face descriptor (what face_recognition uses)."""

    def __init__(self, dlib: Any, models_dir: Path) -> None:
        self._dlib = dlib
        self._shape = dlib.shape_predictor(str(models_dir / SHAPE_MODEL))
        self._encoder = dlib.face_recognition_model_v1(str(models_dir / DESCRIPTOR_MODEL))

    @classmethod
    def create(cls) -> "IdentityScorer | None":
        """A scorer, or None (reason logged) when dlib or its model files are missing."""
        try:
            import dlib
        except ImportError as exc:
            log.info("identity similarity skipped: %s (pip install 'facecast[identity]')", exc)
            return None
        # The package's own __init__ needs pkg_resources, gone from recent setuptools:
        # find its folder without importing it.
        spec = importlib.util.find_spec("face_recognition_models")
        folders = list(spec.submodule_search_locations or []) if spec is not None else []
        models_dir = next((Path(f) / "models" for f in folders if (Path(f) / "models" / DESCRIPTOR_MODEL).is_file()),
                          None)
        if models_dir is None:
            log.info("identity similarity skipped: face_recognition_models is not installed "
                     "(pip install 'facecast[identity]')")
            return None
        try:
            return cls(dlib, models_dir)
        except RuntimeError as exc:  # dlib cannot read its model files
            log.warning("identity similarity skipped: %s", exc)
            return None

    def descriptor(self, rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """128-d descriptor of the face in ``rgb`` (H x W x 3 uint8) whose landmarks
        (N x 2|3, normalized to the image) give its box."""
        h, w = rgb.shape[:2]
        scale = max(1.0, CHIP_MIN_SIDE / min(h, w))
        img = rgb if scale == 1.0 else cv2.resize(rgb, (round(w * scale), round(h * scale)),
                                                  interpolation=cv2.INTER_CUBIC)
        px = np.asarray(landmarks, np.float32)[:, :2] * np.array([img.shape[1], img.shape[0]], np.float32)
        x0, y0 = px.min(0)
        x1, y1 = px.max(0)
        box = self._dlib.rectangle(int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1)))
        shape = self._shape(np.ascontiguousarray(img), box)
        return np.asarray(self._encoder.compute_face_descriptor(np.ascontiguousarray(img), shape), np.float32)

    def compare(self, real: np.ndarray, fake: np.ndarray, landmarks: np.ndarray) -> dict[str, float]:
        """``identity``: cosine similarity of the two frames' descriptors (1 = same face;
        the paper's CSIM); ``identity_distance``: their Euclidean distance, dlib's own
        measure (below 0.6 dlib calls two faces the same person)."""
        a, b = self.descriptor(real, landmarks), self.descriptor(fake, landmarks)
        cosine = float(np.dot(a, b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))
        return {"identity": cosine, "identity_distance": float(np.linalg.norm(a - b))}
