"""MediaPipe FaceLandmarker (Tasks API) on still images and video files.

``LandmarkDetector`` wraps the landmarker in IMAGE mode (``detect``) and in VIDEO mode
(``track_video``). It is a context manager and must be closed: mediapipe's own
finalizer prints a traceback at interpreter exit when the native object is left open.

Landmarks are 478 x 3 float32: x and y normalized to the image (x right, y down), z in
MediaPipe's scale (about the same scale as x, smaller is nearer the camera).
"""

from __future__ import annotations

import atexit
import concurrent.futures.thread  # noqa: F401  (its exit hook must register before ours)
import contextlib
import logging
import os
import sys
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

# MediaPipe's native logging reads these before its first use; keep it quiet unless the
# user asked for something else.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2  # noqa: E402
import mediapipe as mp  # noqa: E402
import numpy as np  # noqa: E402
from mediapipe.tasks import python as mpt  # noqa: E402
from mediapipe.tasks.python import vision  # noqa: E402
from tqdm import tqdm  # noqa: E402

from facecast.capture.media_limits import MAX_SOURCE_PIXELS, SourceTooLarge, check_image_file, check_pixels  # noqa: E402
from facecast.capture.model_files import resolve_face_landmarker  # noqa: E402
from facecast.tracking.face import BLENDSHAPE_NAMES, FaceLandmarks  # noqa: E402

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"})
ENV_VERBOSE = "FACECAST_MEDIAPIPE_VERBOSE"

class UnreadableMedia(OSError):
    """An image or video file could not be opened or decoded."""


@dataclass(frozen=True)
class VideoSample:
    """One frame of a tracked video; ``rgb`` is None unless frames were kept."""

    frame_index: int
    timestamp_s: float
    rgb: np.ndarray | None
    face: FaceLandmarks | None


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for a moment (MediaPipe's C++ warnings).

    MediaPipe logs through absl, which ignores GLOG_minloglevel; its start-up warnings
    are printed while the graph is built and on the first inference. Set
    ``FACECAST_MEDIAPIPE_VERBOSE=1`` to see them.
    """
    if os.environ.get(ENV_VERBOSE, "").strip() not in {"", "0"}:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Normalize any decoded image (gray, BGR(A) from cv2 already swapped) to RGB uint8."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.integer):
            scale = 255.0 / float(np.iinfo(arr.dtype).max)
            arr = np.clip(arr.astype(np.float32) * scale + 0.5, 0, 255).astype(np.uint8)
        else:
            arr = np.clip(arr.astype(np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 2:  # gray + alpha
        arr = np.repeat(arr[:, :, :1], 3, axis=2)  # alpha handled by caller
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"unsupported image shape {np.asarray(image).shape}")
    if arr.shape[2] == 4:  # composite over white
        alpha = arr[:, :, 3:4].astype(np.float32) / 255.0
        rgb = arr[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
        arr = np.clip(rgb + 0.5, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr)


def read_image(path: str | Path, max_pixels: int = MAX_SOURCE_PIXELS) -> np.ndarray:
    """Read an image file as H x W x 3 RGB uint8 (gray expanded, alpha over white).

    Its size is read from the header first: an image of more than ``max_pixels`` pixels
    raises SourceTooLarge before anything is decoded (facecast.capture.media_limits).
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableMedia(f"cannot read image {path}: no such file")
    try:
        check_image_file(path, max_pixels)
        buf = np.fromfile(path, dtype=np.uint8)
    except SourceTooLarge:
        raise
    except (OSError, ValueError) as exc:
        raise UnreadableMedia(f"cannot read image {path}: {exc}") from exc
    decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if decoded is None:
        raise UnreadableMedia(f"cannot read image {path}: not a decodable image")
    check_pixels(str(path), decoded.shape[1], decoded.shape[0], max_pixels)  # should the header have lied
    if decoded.ndim == 3 and decoded.shape[2] == 3:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    elif decoded.ndim == 3 and decoded.shape[2] == 4:
        decoded = cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGBA)
    try:
        return _as_rgb_uint8(decoded)
    except ValueError as exc:
        raise UnreadableMedia(f"cannot read image {path}: {exc}") from exc


def open_video(path: str | Path, max_pixels: int = MAX_SOURCE_PIXELS) -> cv2.VideoCapture:
    """Open a video with OpenCV; raises UnreadableMedia naming the path on failure, and
    SourceTooLarge when the container says its frames have more than ``max_pixels``
    pixels (before any frame is decoded)."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableMedia(f"cannot open video {path}: no such file")
    with _native_stderr_silenced():  # FFmpeg prints its own complaint; ours names the path
        cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        raise UnreadableMedia(f"cannot open video {path}: OpenCV could not decode it")
    try:
        check_pixels(str(path), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                     max_pixels, video=True)
    except SourceTooLarge:
        cap.release()
        raise
    return cap


def _to_face(result: object, index: int, size: tuple[int, int]) -> FaceLandmarks:
    marks = result.face_landmarks[index]  # type: ignore[attr-defined]
    points = np.array([(m.x, m.y, m.z) for m in marks], dtype=np.float32)
    shapes = getattr(result, "face_blendshapes", None) or []
    if index < len(shapes):
        blend = np.array([c.score for c in shapes[index]], dtype=np.float32)
    else:
        blend = np.zeros(len(BLENDSHAPE_NAMES), dtype=np.float32)
    mats = getattr(result, "facial_transformation_matrixes", None) or []
    transform = None
    if index < len(mats):
        transform = np.asarray(mats[index], dtype=np.float32).reshape(4, 4)
    return FaceLandmarks(points=points, blendshapes=blend, transform=transform, image_size=size)


def _check_blendshape_order(result: object) -> None:
    shapes = getattr(result, "face_blendshapes", None) or []
    if shapes:
        names = tuple(c.category_name for c in shapes[0])
        if names != BLENDSHAPE_NAMES:
            log.warning("model returned blendshapes in an unexpected order: %s", names)


class LandmarkDetector:
    """MediaPipe FaceLandmarker for stills (``detect``) and video files (``track_video``)."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        min_detection_confidence: float = 0.5,
        min_presence_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else resolve_face_landmarker()
        self._conf = (min_detection_confidence, min_presence_confidence, min_tracking_confidence)
        self._image: vision.FaceLandmarker | None = None
        self._image_faces = 0
        self._videos: dict[int, vision.FaceLandmarker] = {}  # open VIDEO-mode landmarkers
        self._closed = False
        _LIVE_DETECTORS.add(self)

    def _create(self, mode: vision.RunningMode, num_faces: int) -> vision.FaceLandmarker:
        det, pres, track = self._conf
        options = vision.FaceLandmarkerOptions(
            base_options=mpt.BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=mode,
            num_faces=num_faces,
            min_face_detection_confidence=det,
            min_face_presence_confidence=pres,
            min_tracking_confidence=track,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        with _native_stderr_silenced():
            return vision.FaceLandmarker.create_from_options(options)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("LandmarkDetector is closed")

    def detect(self, rgb: np.ndarray, max_faces: int = 2) -> list[FaceLandmarks]:
        """Faces in one RGB uint8 image (IMAGE mode), at most ``max_faces``."""
        self._check_open()
        if max_faces < 1:
            raise ValueError("max_faces must be >= 1")
        image = _as_rgb_uint8(rgb)
        fresh = False
        if self._image is None or self._image_faces < max_faces:
            if self._image is not None:
                self._image.close()
            self._image = self._create(vision.RunningMode.IMAGE, max_faces)
            self._image_faces = max_faces
            fresh = True
        mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=image)
        if fresh:
            with _native_stderr_silenced():
                result = self._image.detect(mp_image)
            _check_blendshape_order(result)
        else:
            result = self._image.detect(mp_image)
        size = (image.shape[1], image.shape[0])
        count = min(len(result.face_landmarks), max_faces)
        return [_to_face(result, i, size) for i in range(count)]

    def track_video(
        self,
        path: str | Path,
        max_frames: int | None = None,
        progress: bool = True,
        keep_frames: bool = False,
    ) -> Iterator[VideoSample]:
        """Track one face through a video file (VIDEO mode), one sample per frame."""
        self._check_open()
        cap = open_video(path)
        fps = cap.get(cv2.CAP_PROP_FPS)
        fps = fps if fps and np.isfinite(fps) and fps > 0 else 0.0
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if max_frames is not None:
            total = min(total, max_frames) if total > 0 else max_frames
        landmarker = self._create(vision.RunningMode.VIDEO, 1)
        key = id(landmarker)
        self._videos[key] = landmarker
        bar = tqdm(
            total=total or None,
            desc=f"tracking {Path(path).name}",
            unit="frame",
            disable=not progress,
            leave=False,
        )
        last_ms = -1
        index = 0
        try:
            while max_frames is None or index < max_frames:
                ok, bgr = cap.read()
                if not ok:
                    break
                rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                if fps:
                    t = index / fps
                else:
                    t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                ms = max(int(round(t * 1000.0)), last_ms + 1)
                last_ms = ms
                mp_image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
                if index == 0:
                    with _native_stderr_silenced():
                        result = landmarker.detect_for_video(mp_image, ms)
                else:
                    result = landmarker.detect_for_video(mp_image, ms)
                size = (rgb.shape[1], rgb.shape[0])
                face = _to_face(result, 0, size) if result.face_landmarks else None
                bar.update(1)
                yield VideoSample(index, ms / 1000.0, rgb if keep_frames else None, face)
                index += 1
        finally:
            bar.close()
            if self._videos.pop(key, None) is not None:
                landmarker.close()
            cap.release()
        if index == 0:
            raise UnreadableMedia(f"cannot read video {path}: no decodable frames")

    def close(self) -> None:
        """Release the native landmarkers, including those of unfinished videos (idempotent)."""
        if self._image is not None:
            self._image.close()
            self._image = None
        while self._videos:
            _key, landmarker = self._videos.popitem()
            landmarker.close()
        self._closed = True

    def __enter__(self) -> LandmarkDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_LIVE_DETECTORS: weakref.WeakSet[LandmarkDetector] = weakref.WeakSet()


def _close_live_detectors() -> None:
    """Close detectors left open at exit while mediapipe can still shut down cleanly."""
    for det in list(_LIVE_DETECTORS):
        det.close()


# MediaPipe closes through a thread pool that concurrent.futures shuts down in threading's
# exit hooks, which run before `atexit`; hook in there (last registered runs first, and
# the thread-pool module was imported above so its hook is registered earlier).
_register_thread_exit = getattr(threading, "_register_atexit", None)
if callable(_register_thread_exit):
    _register_thread_exit(_close_live_detectors)
else:
    atexit.register(_close_live_detectors)


def iter_video_frames(path: str | Path, indices: list[int],
                      max_pixels: int = MAX_SOURCE_PIXELS) -> Iterator[tuple[int, float, np.ndarray]]:
    """Decode the frames at ``indices`` (sorted, unique) one at a time, as (index, seconds,
    RGB) tuples: only one decoded frame is held at a time.

    Reads sequentially (grab, and decode only the wanted frames) so seeking accuracy of
    the container does not matter. Missing indices past the end are skipped. Frames of
    more than ``max_pixels`` pixels raise SourceTooLarge (see ``open_video``).
    """
    wanted = sorted(set(int(i) for i in indices if i >= 0))
    cap = open_video(path, max_pixels)
    fps = cap.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and np.isfinite(fps) and fps > 0 else 0.0
    try:
        index = 0
        for target in wanted:
            while index < target:
                if not cap.grab():
                    return
                index += 1
            ok, bgr = cap.read()
            if not ok:
                return
            check_pixels(str(path), bgr.shape[1], bgr.shape[0], max_pixels, video=True)  # container unsure
            t = index / fps if fps else cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            yield index, t, np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
    finally:
        cap.release()


def read_video_frames(path: str | Path, indices: list[int]) -> list[tuple[int, float, np.ndarray]]:
    """``iter_video_frames`` as a list (every wanted frame decoded and held at once)."""
    return list(iter_video_frames(path, indices))


def video_frame_count(path: str | Path) -> int:
    """Number of frames in a video (from the container, counted if it does not say)."""
    cap = open_video(path)
    try:
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        if count > 0:
            return count
        count = 0  # unknown (a raw stream says a negative count)
        while cap.grab():
            count += 1
        return count
    finally:
        cap.release()
