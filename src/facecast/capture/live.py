"""MediaPipe FaceLandmarker over a stream of frames: VIDEO mode for files, LIVE_STREAM
mode for cameras.

``detections(source, landmarker)`` turns a ``FrameSource`` into ``Detection``s (the frame,
the face or None, and when the result was ready):

- **VIDEO** (files): synchronous, every frame, in order; results depend only on the frames,
  so a file gives the same landmarks on every run.
- **LIVE_STREAM** (cameras): ``detect_async`` returns at once and the result arrives on
  MediaPipe's thread; while the landmarker is busy MediaPipe drops the frames it cannot
  take (counted as ``skipped``), so latency stays at about one inference, never a queue.

Each face carries 478 landmarks, the 52 blendshape scores (``tracking.face.BLENDSHAPE_NAMES``
order; ``blendshapes=False`` skips that model, see ``facecast bench tracker``) and the 4 x 4
facial transformation matrix (head pose, ``head_pose.head_pose_from_transform``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import mediapipe as mp
from mediapipe.tasks import python as mpt
from mediapipe.tasks.python import vision

from facecast.capture.camera import CapturedFrame, FrameSource
from facecast.capture.landmarks import _native_stderr_silenced, _to_face
from facecast.capture.model_files import resolve_face_landmarker
from facecast.tracking.face import NO_BLENDSHAPES, FaceLandmarks

__all__ = ["Detection", "StreamLandmarker", "detections"]

log = logging.getLogger(__name__)

MODES = ("video", "live")


@dataclass(frozen=True)
class Detection:
    """One frame's landmarker result; ``t_landmarks`` is ``time.perf_counter()`` when it
    was ready (so ``t_landmarks - frame.wall`` is capture -> landmarks)."""

    frame: CapturedFrame
    face: FaceLandmarks | None
    t_landmarks: float
    t_submit: float  # perf_counter when the frame went into the landmarker


class StreamLandmarker:
    """A FaceLandmarker in VIDEO (``mode="video"``) or LIVE_STREAM (``mode="live"``) mode.

    Close it (or use it as a context manager): MediaPipe's native graph must be released
    before the interpreter exits.
    """

    def __init__(
        self,
        mode: str = "video",
        model_path: str | Path | None = None,
        blendshapes: bool = True,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"landmarker mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.blendshapes = blendshapes
        self.model_path = Path(model_path) if model_path is not None else resolve_face_landmarker()
        self._results: queue.Queue[Detection] = queue.Queue()
        self._pending: dict[int, tuple[CapturedFrame, float]] = {}  # live: timestamp_ms -> frame
        self._lock = threading.Lock()
        self._last_ms = -1
        self.submitted = 0
        self.skipped = 0  # live: frames MediaPipe dropped while busy
        options = vision.FaceLandmarkerOptions(
            base_options=mpt.BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=vision.RunningMode.VIDEO if mode == "video" else vision.RunningMode.LIVE_STREAM,
            num_faces=1,
            min_face_detection_confidence=min_detection_confidence,
            min_face_presence_confidence=min_detection_confidence,
            min_tracking_confidence=min_tracking_confidence,
            output_face_blendshapes=blendshapes,
            output_facial_transformation_matrixes=True,
            result_callback=self._on_result if mode == "live" else None,
        )
        with _native_stderr_silenced():
            self._landmarker: vision.FaceLandmarker | None = vision.FaceLandmarker.create_from_options(options)
        self._first = True

    def _timestamp_ms(self, frame: CapturedFrame) -> int:
        ms = max(int(round(frame.timestamp_s * 1000.0)), self._last_ms + 1)  # strictly increasing
        self._last_ms = ms
        return ms

    def _face(self, result: object, frame: CapturedFrame) -> FaceLandmarks | None:
        if not result.face_landmarks:  # type: ignore[attr-defined]
            return None
        face = _to_face(result, 0, frame.size)
        if not self.blendshapes:
            face = FaceLandmarks(face.points, NO_BLENDSHAPES, face.transform, face.image_size)
        return face

    def detect(self, frame: CapturedFrame) -> Detection:
        """VIDEO mode: the landmarks of one frame (frames must come in time order)."""
        if self.mode != "video":
            raise RuntimeError("detect() is for VIDEO mode; use submit()/results() in LIVE_STREAM mode")
        landmarker = self._open()
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=frame.rgb)
        ms = self._timestamp_ms(frame)
        t_submit = time.perf_counter()
        if self._first:
            with _native_stderr_silenced():
                result = landmarker.detect_for_video(image, ms)
            self._first = False
        else:
            result = landmarker.detect_for_video(image, ms)
        self.submitted += 1
        return Detection(frame, self._face(result, frame), time.perf_counter(), t_submit)

    def submit(self, frame: CapturedFrame) -> None:
        """LIVE_STREAM mode: hand a frame over; its result comes out of ``results()``."""
        if self.mode != "live":
            raise RuntimeError("submit() is for LIVE_STREAM mode; use detect() in VIDEO mode")
        landmarker = self._open()
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=frame.rgb)
        with self._lock:
            ms = self._timestamp_ms(frame)
            self._pending[ms] = (frame, time.perf_counter())
        if self._first:
            with _native_stderr_silenced():
                landmarker.detect_async(image, ms)
            self._first = False
        else:
            landmarker.detect_async(image, ms)
        self.submitted += 1

    def _on_result(self, result: object, _image: mp.Image, timestamp_ms: int) -> None:
        now = time.perf_counter()
        with self._lock:
            entry = self._pending.pop(timestamp_ms, None)
            stale = [ms for ms in self._pending if ms < timestamp_ms]
            for ms in stale:  # frames MediaPipe dropped while busy
                del self._pending[ms]
            self.skipped += len(stale)
        if entry is None:
            return
        frame, t_submit = entry
        self._results.put(Detection(frame, self._face(result, frame), now, t_submit))

    def results(self, timeout_s: float = 0.0) -> list[Detection]:
        """LIVE_STREAM mode: the results ready now (waiting up to ``timeout_s`` for one)."""
        out: list[Detection] = []
        try:
            out.append(self._results.get(timeout=timeout_s) if timeout_s > 0 else self._results.get_nowait())
            while True:
                out.append(self._results.get_nowait())
        except queue.Empty:
            pass
        return out

    @property
    def in_flight(self) -> int:
        """LIVE_STREAM mode: frames submitted whose result has not come back yet."""
        with self._lock:
            return len(self._pending)

    def _open(self) -> vision.FaceLandmarker:
        if self._landmarker is None:
            raise RuntimeError("StreamLandmarker is closed")
        return self._landmarker

    def close(self) -> None:
        """Release the native landmarker (idempotent)."""
        landmarker, self._landmarker = self._landmarker, None
        if landmarker is not None:
            landmarker.close()

    def __enter__(self) -> StreamLandmarker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def detections(source: FrameSource, landmarker: StreamLandmarker, drain_timeout_s: float = 2.0) -> Iterator[Detection]:
    """Detections of every frame the source delivers (VIDEO), or of every frame the
    landmarker took (LIVE_STREAM: frames are fed from a thread, results yielded as ready)."""
    if landmarker.mode == "video":
        while True:
            frame = source.read()
            if frame is None:
                return
            yield landmarker.detect(frame)
    done = threading.Event()
    errors: list[BaseException] = []

    def feed() -> None:
        try:
            while not done.is_set():
                frame = source.read()
                if frame is None:
                    return
                landmarker.submit(frame)
        except BaseException as exc:  # noqa: BLE001 (re-raised in the consumer's thread)
            errors.append(exc)
        finally:
            done.set()

    feeder = threading.Thread(target=feed, name="facecast-landmarker-feed", daemon=True)
    feeder.start()
    try:
        drain_deadline: float | None = None
        while True:
            yield from landmarker.results(timeout_s=0.05)
            if done.is_set():
                if drain_deadline is None:
                    drain_deadline = time.monotonic() + drain_timeout_s
                if not landmarker.in_flight or time.monotonic() > drain_deadline:
                    yield from landmarker.results()
                    break
        if errors:
            raise errors[0]
    finally:
        done.set()
        feeder.join(timeout=5.0)
