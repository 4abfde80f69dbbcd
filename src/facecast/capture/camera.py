"""Frames from a camera or a video file (OpenCV), each with its capture timestamp.

``open_source(camera=0)`` or ``open_source(video=path)`` returns a ``FrameSource``; its
``read()`` returns the next ``CapturedFrame`` (RGB, the index, the capture timestamp and
the local clock reading when the frame was captured), or None at the end of a file.

- A **video file** yields every frame in order. Its timestamps are the frames' media times
  (index / fps). With ``realtime=True`` a frame is released no earlier than its media time
  after the first one, as a camera would deliver it (frames are never dropped: a slow
  consumer just falls behind).
- A **camera** is read by a background thread that keeps only the newest frame, so a slow
  consumer always gets the latest image instead of a queue of stale ones (the frames it
  skipped are counted in ``dropped``). Its timestamps are seconds since the camera opened,
  read on ``time.perf_counter`` right after the grab.

Errors are ``CaptureError`` subclasses (an ``OSError``) whose message says what to do:
``NoCamera`` (no device at that index), ``CameraUnavailable`` (the device exists but
cannot be opened or read: busy, permissions), and ``UnreadableMedia`` for a video file
that is missing or not decodable.
"""

from __future__ import annotations

import abc
import glob
import logging
import os
import platform
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facecast.capture.landmarks import UnreadableMedia, _native_stderr_silenced, open_video

__all__ = [
    "CameraSource",
    "CameraUnavailable",
    "CaptureError",
    "CapturedFrame",
    "FrameSource",
    "NoCamera",
    "UnreadableMedia",
    "VideoFileSource",
    "list_cameras",
    "open_source",
]

log = logging.getLogger(__name__)

FIRST_FRAME_TIMEOUT_S = 5.0  # a camera that opens but delivers nothing this long is unusable


class CaptureError(OSError):
    """A frame source cannot be opened or read; the message says what to do."""


class NoCamera(CaptureError):
    """No camera device at the requested index."""


class CameraUnavailable(CaptureError):
    """The camera exists but cannot be opened or read (in use by another program, no
    permission, not a capture device)."""


@dataclass(frozen=True)
class CapturedFrame:
    """One frame. ``timestamp_s``: capture time on the source's clock (media time for a
    file, seconds since the camera opened); ``wall``: ``time.perf_counter()`` when it was
    captured (file: released), for latency; ``rgb``: H x W x 3 uint8."""

    index: int
    timestamp_s: float
    wall: float
    rgb: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])


class FrameSource(abc.ABC):
    """A stream of frames. ``live`` sources (cameras) drop stale frames; file sources do not."""

    name: str = ""
    live: bool = False
    fps: float = 0.0  # nominal frames per second (0 = unknown)
    size: tuple[int, int] = (0, 0)  # (width, height)

    @abc.abstractmethod
    def read(self, timeout_s: float = 5.0) -> CapturedFrame | None:
        """The next frame, or None when the stream has ended."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device or file (idempotent)."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VideoFileSource(FrameSource):
    """Every frame of a video file in order (see the module docstring)."""

    live = False

    def __init__(self, path: str | Path, realtime: bool = False, max_frames: int | None = None) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        self._cap = open_video(self.path)
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and np.isfinite(fps) and fps > 0 else 0.0
        self.size = (int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.realtime = realtime
        self.max_frames = max_frames
        self._index = 0
        self._start: float | None = None

    def read(self, timeout_s: float = 5.0) -> CapturedFrame | None:
        if self._cap is None or (self.max_frames is not None and self._index >= self.max_frames):
            return None
        ok, bgr = self._cap.read()
        if not ok:
            if self._index == 0:
                raise UnreadableMedia(f"cannot read video {self.path}: no decodable frames")
            return None
        t = self._index / self.fps if self.fps else self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        now = time.perf_counter()
        if self._start is None:
            self._start = now - t
        if self.realtime:
            due = self._start + t
            if due > now:
                time.sleep(due - now)
                now = time.perf_counter()
        frame = CapturedFrame(self._index, float(t), now, np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
        self._index += 1
        return frame

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def list_cameras() -> list[str]:
    """Camera device nodes on this machine (Linux: /dev/video*; elsewhere: unknown, [])."""
    return sorted(glob.glob("/dev/video*"), key=lambda p: (len(p), p))


def _check_camera_device(index: int) -> None:
    """Linux: fail early, and clearly, when /dev/videoN is missing or not readable."""
    if platform.system() != "Linux":
        return
    device = f"/dev/video{index}"
    if not os.path.exists(device):
        found = ", ".join(list_cameras()) or "none"
        raise NoCamera(f"no camera at index {index}: {device} does not exist (camera devices found: {found}); "
                       "plug one in, or pick another with --camera N, or use --video FILE")
    if not os.access(device, os.R_OK | os.W_OK):
        raise CameraUnavailable(f"camera {index} ({device}) is not accessible to this user: add yourself to the "
                                "'video' group (sudo usermod -aG video $USER, then log in again)")


class CameraSource(FrameSource):
    """The newest frame of a camera, grabbed by a background thread (see the module docstring)."""

    live = True

    def __init__(self, index: int, width: int = 0, height: int = 0, fps: float = 0.0) -> None:
        if index < 0:
            raise NoCamera(f"camera index must be >= 0, got {index}")
        _check_camera_device(index)
        self.name = f"camera {index}"
        with _native_stderr_silenced():  # OpenCV's own V4L2 complaints; ours says what to do
            cap = cv2.VideoCapture(index)
        if not cap.isOpened():
            cap.release()
            raise CameraUnavailable(f"camera {index} exists but could not be opened: another program may be "
                                    "using it (close it and retry), or it is not a capture device")
        if width and height:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps:
            cap.set(cv2.CAP_PROP_FPS, fps)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # where supported: no driver-side queue of old frames
        self._cap = cap
        self._cond = threading.Condition()
        self._latest: CapturedFrame | None = None
        self._delivered = -1
        self._stop = threading.Event()
        self._error: str | None = None
        self.dropped = 0
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._grab_loop, name=f"facecast-camera-{index}", daemon=True)
        self._thread.start()
        first = self.read(FIRST_FRAME_TIMEOUT_S)
        if first is None:
            reason = self._error or f"no frame within {FIRST_FRAME_TIMEOUT_S:.0f} s"
            self.close()
            raise CameraUnavailable(f"camera {index} opened but cannot be read ({reason}): another program may "
                                    "be using it; close it and retry")
        with self._cond:  # hand the first frame out again on the first read()
            self._delivered = first.index - 1
        self.size = first.size
        reported = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(reported) if reported and np.isfinite(reported) and reported > 0 else 0.0
        log.info("camera %d: %dx%d at %.0f fps (reported)", index, *self.size, self.fps)

    def _grab_loop(self) -> None:
        index = 0
        failures = 0
        while not self._stop.is_set():
            ok, bgr = self._cap.read()
            now = time.perf_counter()
            if not ok or bgr is None:
                failures += 1
                if failures >= 50:
                    with self._cond:
                        self._error = "the camera stopped delivering frames (unplugged or taken by another program?)"
                        self._cond.notify_all()
                    return
                time.sleep(0.01)
                continue
            failures = 0
            rgb = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            frame = CapturedFrame(index, now - self._t0, now, rgb)
            with self._cond:
                if self._latest is not None and self._latest.index > self._delivered:
                    self.dropped += 1  # never handed out: the consumer was slower than the camera
                self._latest = frame
                self._cond.notify_all()
            index += 1

    def read(self, timeout_s: float = 5.0) -> CapturedFrame | None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while self._latest is None or self._latest.index <= self._delivered:
                if self._error is not None or self._stop.is_set():
                    if self._error is not None and self._delivered >= 0:
                        raise CameraUnavailable(f"{self.name}: {self._error}")
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if self._delivered >= 0:
                        raise CameraUnavailable(f"{self.name}: no new frame within {timeout_s:.1f} s")
                    return None
                self._cond.wait(remaining)
            self._delivered = self._latest.index
            return self._latest

    def close(self) -> None:
        self._stop.set()
        thread = getattr(self, "_thread", None)
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=2.0)
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def open_source(
    camera: int | None = None,
    video: str | Path | None = None,
    realtime: bool = False,
    max_frames: int | None = None,
) -> FrameSource:
    """A camera by index or a video file (exactly one of them)."""
    if (camera is None) == (video is None):
        raise ValueError("give exactly one of a camera index or a video file")
    if video is not None:
        return VideoFileSource(video, realtime=realtime, max_frames=max_frames)
    return CameraSource(int(camera))  # type: ignore[arg-type]
