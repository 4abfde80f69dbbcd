"""The ``virtualcam`` sink: rendered frames to a system virtual camera via pyvirtualcam
(v4l2loopback on Linux, the OBS Virtual Camera on Windows and macOS, Unity Capture on
Windows), so OBS, Zoom, Discord or a browser can pick the avatar up as a webcam.

How frames travel: ``publish`` (the daemon's I/O thread) only swaps in a copy of the
newest frame. The sink's own thread converts it once (alpha composited over ``background``,
black by default; resized to the camera size; channels in the order the camera takes) and
sends it at a fixed ``virtualcam.fps`` (``Camera.sleep_until_next_frame()``, held to a
fixed schedule so a busy CPU neither slows nor speeds the rate), repeating the last frame
when nothing new arrived (and black before the first one), so consumers always see a
steady stream.

Size: ``virtualcam.width``/``height``, or, when both are 0, the first frame's size (one 0:
kept to the first frame's aspect ratio). Then the camera opens lazily on the sink thread;
``start()`` still opens it once at 640x480 and closes it again, so a missing device fails
at start with the message that says how to get one.
"""

from __future__ import annotations

import logging
import platform
import threading
import time
from typing import Any

import cv2
import numpy as np

from facecast.config import AppConfig, VirtualCamConfig
from facecast.sinks.base import PublishedFrame, Sink, SinkError, register_sink

log = logging.getLogger(__name__)

PROBE_SIZE = (640, 480)  # width, height opened by start() when the size comes from the first frame

_HOW_TO_GET_A_DEVICE = {
    "Linux": ("load the v4l2loopback kernel module: "
              "sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=\"facecast\" "
              "(on Debian/Ubuntu install it first: sudo apt install v4l2loopback-dkms); "
              "choose one of several devices with --set virtualcam.device=/dev/videoN"),
    "Windows": ("install OBS Studio 26 or newer and start its Virtual Camera once "
                "(Controls > Start Virtual Camera, then stop it), or install Unity Capture "
                "and run with --set virtualcam.backend=unitycapture"),
    "Darwin": ("install OBS Studio 28 or newer (30 or newer on macOS 13 and later), start it, click "
               "Start Virtual Camera once (allow the system extension if asked), then Stop Virtual Camera "
               "and quit OBS"),
}


def no_device_message(reason: str, system: str | None = None) -> str:
    """The SinkError text for a virtual camera that cannot be opened on ``system``
    (``platform.system()`` by default): pyvirtualcam's reason, then how to get a device."""
    system = system or platform.system()
    how = _HOW_TO_GET_A_DEVICE.get(system, "this OS has no virtual camera backend in pyvirtualcam; "
                                           "use the mjpeg or overlay sink instead")
    reason = "; ".join(line.strip() for line in reason.splitlines() if line.strip()) or "unknown reason"
    return f"cannot open a virtual camera ({reason}). If no virtual camera device exists: {how}."


def composite_over(rgba: np.ndarray, background: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """H x W x 4 uint8 RGBA -> H x W x 3 uint8 RGB, alpha composited over ``background``
    (rounded: ``(rgb * a + bg * (255 - a) + 127) // 255``). Opaque frames are just sliced."""
    alpha = rgba[..., 3:4]
    if alpha.min() == 255:
        return np.ascontiguousarray(rgba[..., :3])
    a = alpha.astype(np.uint16)
    bg = np.asarray(background, dtype=np.uint16)
    out = (rgba[..., :3].astype(np.uint16) * a + bg * (255 - a) + 127) // 255
    return out.astype(np.uint8)


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    shrinking = width * height < w * h
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


class VirtualCamSink(Sink):
    """Frames to a pyvirtualcam camera at a fixed rate (see the module docstring)."""

    name = "virtualcam"

    def __init__(self, config: VirtualCamConfig, background: tuple[int, int, int] = (0, 0, 0)) -> None:
        self.config = config
        self.background = background
        self._lock = threading.Lock()
        self._pending: np.ndarray | None = None  # newest published RGBA, not yet converted
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._camera: Any = None  # pyvirtualcam.Camera, owned by the sink thread once started
        self._fmt: Any = None  # pyvirtualcam.PixelFormat sent to the camera
        self._size: tuple[int, int] | None = None  # camera width, height
        self.frames_published = 0
        self.frames_sent = 0
        self.repeats = 0
        self.blank = 0  # black frames sent before the first published one
        self.send_errors = 0
        self.device = ""
        self.backend = ""
        self.error = ""

    # ----------------------------------------------------------------- contract
    def start(self) -> None:
        if self._thread is not None:
            return
        if not self.config.fps > 0:
            raise SinkError(f"virtualcam.fps must be > 0, got {self.config.fps}")
        w, h = self.config.width, self.config.height
        if w < 0 or h < 0:
            raise SinkError(f"virtualcam.width/height must be >= 0, got {w}x{h}")
        if w > 0 and h > 0:
            self._camera = self._open(w, h)
        else:  # the size comes from the first frame: check now that a device exists
            probe = self._open(*PROBE_SIZE, probe=True)
            probe.close()
            log.info("virtual camera %s (%s) found; it opens at the first frame's size", self.device, self.backend)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="facecast-virtualcam", daemon=True)
        self._thread.start()

    def publish(self, frame: PublishedFrame) -> None:
        rgba = frame.rgba.copy()  # the daemon's array is shared; the conversion happens later
        with self._lock:
            self._pending = rgba
            self.frames_published += 1
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5.0 + 2.0 / self.config.fps)
            if thread.is_alive():
                log.warning("virtual camera thread did not stop within its timeout")
                return
        self._close_camera()

    def stats(self) -> dict[str, Any]:
        width, height = self._size or (0, 0)
        return {
            "frames_published": self.frames_published,
            "frames_sent": self.frames_sent,
            "repeats": self.repeats,
            "blank": self.blank,
            "send_errors": self.send_errors,
            "device": self.device,
            "backend": self.backend,
            "width": width,
            "height": height,
            "format": str(self._fmt) if self._fmt is not None else "",
            "error": self.error,
        }

    # ----------------------------------------------------------------- camera
    def _open(self, width: int, height: int, probe: bool = False) -> Any:
        """Open the camera; take the camera's own native format when it is one we can
        produce directly (BGR, RGBA), else send RGB and let the backend convert."""
        try:
            import pyvirtualcam
        except ImportError as exc:
            raise SinkError(f"the virtualcam sink needs pyvirtualcam (pip install pyvirtualcam): {exc}") from None
        backend = self.config.backend or None
        if backend is not None and backend not in pyvirtualcam.camera.BACKENDS:
            available = ", ".join(sorted(pyvirtualcam.camera.BACKENDS)) or "none"
            raise SinkError(no_device_message(
                f"virtualcam.backend={backend!r} is not available on {platform.system()}; available: {available}"))
        fmt = self._fmt or pyvirtualcam.PixelFormat.RGB
        camera = self._try_open(pyvirtualcam, width, height, fmt, backend)
        native = camera.native_fmt
        if self._fmt is None and native in (pyvirtualcam.PixelFormat.BGR, pyvirtualcam.PixelFormat.RGBA):
            camera.close()
            fmt = native
            camera = self._try_open(pyvirtualcam, width, height, fmt, backend)
        self._fmt = fmt
        if not probe:
            self._size = (width, height)
        self.device, self.backend = camera.device, camera.backend
        log.log(logging.DEBUG if probe else logging.INFO,
                "virtual camera %s (%s backend) opened: %dx%d at %.1f fps, sending %s (native %s)",
                self.device, self.backend, width, height, self.config.fps, fmt, native)
        return camera

    def _try_open(self, pyvirtualcam: Any, width: int, height: int, fmt: Any, backend: str | None) -> Any:
        try:
            return pyvirtualcam.Camera(width, height, self.config.fps, fmt=fmt, backend=backend,
                                       device=self.config.device or None)
        except (RuntimeError, OSError, ValueError) as exc:
            raise SinkError(no_device_message(str(exc))) from exc

    def _close_camera(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            camera.close()

    def _target_size(self, frame_w: int, frame_h: int) -> tuple[int, int]:
        w, h = self.config.width, self.config.height
        if w > 0 and h > 0:
            return w, h
        if w > 0:
            return w, max(1, round(w * frame_h / frame_w))
        if h > 0:
            return max(1, round(h * frame_w / frame_h)), h
        return frame_w, frame_h

    def _convert(self, rgba: np.ndarray) -> np.ndarray:
        """RGBA -> what the camera takes, at the camera's size."""
        import pyvirtualcam

        assert self._size is not None
        if self._fmt == pyvirtualcam.PixelFormat.RGBA:
            image = np.ascontiguousarray(rgba)  # Unity Capture and the like keep the alpha
        else:
            image = composite_over(rgba, self.background)
            if self._fmt == pyvirtualcam.PixelFormat.BGR:
                image = np.ascontiguousarray(image[..., ::-1])
        return np.ascontiguousarray(_resize(image, *self._size))

    # ----------------------------------------------------------------- thread
    def _take(self) -> np.ndarray | None:
        with self._lock:
            rgba, self._pending = self._pending, None
            self._wake.clear()
        return rgba

    def _run(self) -> None:
        current: np.ndarray | None = None  # the converted frame being sent
        kind = "blank"  # what `current` is on the next send: new | repeat | blank
        period = 1.0 / self.config.fps
        due: float | None = None  # when the next send is due on a fixed schedule
        try:
            while not self._stop.is_set():
                rgba = self._take()
                if self._camera is None:
                    if rgba is None:
                        self._wake.wait(timeout=0.5)
                        continue
                    try:
                        self._camera = self._open(*self._target_size(rgba.shape[1], rgba.shape[0]))
                    except SinkError as exc:
                        self.error = str(exc)
                        log.error("virtual camera: %s", exc)
                        return
                if rgba is not None:
                    current, kind = self._convert(rgba), "new"
                elif current is None:  # nothing published yet: keep consumers fed with black
                    current = self._black()
                if self._send(current, kind):
                    due = self._pace(due, period)
                if kind == "new":
                    kind = "repeat"
        finally:
            self._close_camera()

    def _pace(self, last_due: float | None, period: float) -> float:
        """Wait for the next send after one just made; returns when that one was due.

        pyvirtualcam's ``sleep_until_next_frame`` paces from the last send, so on a busy
        CPU late wake-ups add up, and its adaptive shortening can run ahead. A fixed
        schedule holds the rate: a send a period behind it goes out at once, and no send
        goes out before its time (more than 1 s behind, the schedule restarts)."""
        now = time.perf_counter()
        if last_due is None or now > last_due + period + 1.0:
            due = now
        else:
            due = last_due + period
        if now < due + period:
            self._camera.sleep_until_next_frame()
            rest = due + period - time.perf_counter()
            if rest > 0:
                self._stop.wait(rest)
        return due

    def _black(self) -> np.ndarray:
        import pyvirtualcam

        assert self._size is not None
        width, height = self._size
        channels = 4 if self._fmt == pyvirtualcam.PixelFormat.RGBA else 3
        black = np.zeros((height, width, channels), np.uint8)
        if channels == 4:
            black[..., 3] = 255
        return black

    def _send(self, image: np.ndarray, kind: str) -> bool:
        try:
            self._camera.send(image)
        except (RuntimeError, OSError, ValueError) as exc:
            self.send_errors += 1
            if self.send_errors == 1:
                log.error("virtual camera send failed (device %s): %s", self.device, exc)
            self._stop.wait(1.0 / self.config.fps)
            return False
        self.frames_sent += 1
        if kind == "repeat":
            self.repeats += 1
        elif kind == "blank":
            self.blank += 1
        return True


@register_sink("virtualcam")
def create_virtualcam_sink(config: AppConfig) -> VirtualCamSink:
    """The registry's factory: the sink reads the ``[virtualcam]`` section."""
    return VirtualCamSink(config.virtualcam)
