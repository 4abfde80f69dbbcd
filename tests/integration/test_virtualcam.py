"""The virtualcam sink against a recording pyvirtualcam backend (this machine has no
v4l2loopback), the no-device error path, a real loopback device where one exists, and the
in-process daemon feeding the sink."""

from __future__ import annotations

import glob
import logging
import platform
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import pyvirtualcam
from pyvirtualcam.camera import BACKENDS
from pyvirtualcam.util import decode_fourcc

from facecast.config import AppConfig, ServerConfig, SinksConfig, VirtualCamConfig
from facecast.sinks.base import PublishedFrame, SinkError, create_sink
from facecast.sinks.virtualcam import VirtualCamSink, no_device_message

log = logging.getLogger(__name__)

RECORDER = "facecast-test-recorder"
RECORDER_BGR = "facecast-test-recorder-bgr"


class RecordingBackend:
    """A pyvirtualcam backend (see pyvirtualcam.camera.Backend) that keeps every frame it
    is sent, reshaped to H x W x C, with the perf_counter time it arrived."""

    native: str | None = None  # FourCC string of the native format, None = unknown
    instances: list["RecordingBackend"] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: object) -> None:
        self.width, self.height, self.fps = width, height, fps
        self.fmt = pyvirtualcam.PixelFormat(decode_fourcc(fourcc))
        if self.fmt not in (pyvirtualcam.PixelFormat.RGB, pyvirtualcam.PixelFormat.BGR, pyvirtualcam.PixelFormat.RGBA):
            raise RuntimeError(f"recorder does not take {self.fmt}")
        self._device = device or "/dev/recorder0"
        self.frames: list[tuple[float, np.ndarray]] = []
        self.closed = False
        self._lock = threading.Lock()
        type(self).instances.append(self)

    def close(self) -> None:
        self.closed = True

    def send(self, frame: np.ndarray) -> None:
        channels = 4 if self.fmt == pyvirtualcam.PixelFormat.RGBA else 3
        with self._lock:
            self.frames.append((time.perf_counter(), frame.reshape(self.height, self.width, channels).copy()))

    def snapshot(self) -> list[tuple[float, np.ndarray]]:
        with self._lock:
            return list(self.frames)

    def device(self) -> str:
        return self._device

    def native_fourcc(self) -> int | None:
        if self.native is None:
            return None
        return sum(ord(c) << (8 * i) for i, c in enumerate(self.native))


class RecordingBackendBGR(RecordingBackend):
    native = "24BG"  # pyvirtualcam.PixelFormat.BGR
    instances: list[RecordingBackend] = []


@pytest.fixture(autouse=True)
def recorder() -> Iterator[type[RecordingBackend]]:
    pyvirtualcam.register_backend(RECORDER, RecordingBackend)
    pyvirtualcam.register_backend(RECORDER_BGR, RecordingBackendBGR)
    RecordingBackend.instances.clear()
    RecordingBackendBGR.instances.clear()
    yield RecordingBackend
    BACKENDS.pop(RECORDER, None)
    BACKENDS.pop(RECORDER_BGR, None)


def _published(rgba: np.ndarray, seq: int = 1) -> PublishedFrame:
    rgba = rgba.copy()
    rgba.setflags(write=False)
    return PublishedFrame(rgba=rgba, character="default", session="s1", seq=seq, render_end=time.time())


def _sink(**kw: object) -> VirtualCamSink:
    cfg = AppConfig(virtualcam=VirtualCamConfig(**{"backend": RECORDER, "fps": 30.0, **kw}))
    sink = create_sink("virtualcam", cfg)
    assert isinstance(sink, VirtualCamSink)
    return sink


def _expected_rgb(rgba: np.ndarray) -> np.ndarray:
    """Alpha over black, computed independently of the sink (float, rounded)."""
    a = rgba[..., 3:4].astype(np.float64) / 255.0
    return np.rint(rgba[..., :3].astype(np.float64) * a).astype(np.uint8)


def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def _random_rgba(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 4), dtype=np.uint8)


def test_paces_at_the_requested_fps_and_repeats_the_last_frame():
    sink = _sink(width=64, height=48, fps=30.0)
    sink.start()
    try:
        frame = _random_rgba(48, 64)
        frame[..., 3] = 255
        sink.publish(_published(frame))
        cam = RecordingBackend.instances[-1]
        _wait_for(lambda: any(np.array_equal(f, frame[..., :3]) for _, f in cam.snapshot()))
        time.sleep(2.0)
        frames = cam.snapshot()
    finally:
        sink.close()
    first = next(i for i, (_, f) in enumerate(frames) if np.array_equal(f, frame[..., :3]))
    times = [t for t, _ in frames[first:]]
    measured = (len(times) - 1) / (times[-1] - times[0])
    log.info("virtualcam pacing: %.2f fps measured for 30 fps requested (%d frames)", measured, len(times))
    assert 30.0 * 0.85 <= measured <= 30.0 * 1.15, f"measured {measured:.1f} fps for 30 requested"
    # Nothing new was published after the first frame: every later send repeats it.
    assert all(np.array_equal(f, frame[..., :3]) for _, f in frames[first:])
    stats = sink.stats()
    assert stats["frames_published"] == 1
    assert stats["frames_sent"] == len(frames)
    assert stats["repeats"] == len(frames) - first - 1
    assert stats["blank"] == first and all(not f.any() for _, f in frames[:first])  # black before the first frame
    assert stats["device"] == "/dev/recorder0" and stats["backend"] == RECORDER
    assert cam.closed


def test_delivers_alpha_composited_rgb_and_latest_wins():
    sink = _sink(width=32, height=24, fps=60.0)
    frames = [_random_rgba(24, 32, seed) for seed in range(5)]
    for i, frame in enumerate(frames):  # all before the thread runs: only the newest may be sent
        sink.publish(_published(frame, seq=i))
    sink.start()
    try:
        cam = RecordingBackend.instances[-1]
        want = _expected_rgb(frames[-1])
        _wait_for(lambda: any(np.abs(f.astype(int) - want).max() <= 1 for _, f in cam.snapshot()))
        sent = [f for _, f in cam.snapshot()]
    finally:
        sink.close()
    assert cam.fmt == pyvirtualcam.PixelFormat.RGB
    stale = [_expected_rgb(f) for f in frames[:-1]]
    assert not any(any(np.array_equal(s, f) for s in stale) for f in sent), "an older frame reached the camera"
    assert sink.stats()["frames_published"] == 5


def test_bgr_camera_gets_bgr_bytes():
    sink = _sink(backend=RECORDER_BGR, width=16, height=16)
    sink.start()
    try:
        frame = _random_rgba(16, 16, seed=3)
        sink.publish(_published(frame))
        cam = RecordingBackendBGR.instances[-1]
        want = _expected_rgb(frame)[..., ::-1]
        _wait_for(lambda: any(np.abs(f.astype(int) - want).max() <= 1 for _, f in cam.snapshot()))
    finally:
        sink.close()
    assert cam.fmt == pyvirtualcam.PixelFormat.BGR
    assert sink.stats()["format"] == "BGR"


def test_resizes_frames_to_the_camera_size():
    sink = _sink(width=64, height=48)
    sink.start()
    try:
        small = _random_rgba(48, 64, seed=7)
        small[..., 3] = 255
        big = np.kron(small, np.ones((2, 2, 1), np.uint8))  # 128x96, each pixel a 2x2 block
        sink.publish(_published(big))
        cam = RecordingBackend.instances[-1]
        _wait_for(lambda: any(np.abs(f.astype(int) - small[..., :3]).max() <= 1 for _, f in cam.snapshot()))
    finally:
        sink.close()
    assert (cam.width, cam.height) == (64, 48)


def test_size_from_the_first_frame_when_not_configured():
    sink = _sink(width=0, height=0)
    sink.start()  # probes the device at once
    try:
        assert len(RecordingBackend.instances) == 1 and RecordingBackend.instances[0].closed
        frame = _random_rgba(60, 80, seed=11)
        sink.publish(_published(frame))
        _wait_for(lambda: len(RecordingBackend.instances) == 2 and RecordingBackend.instances[1].snapshot())
        cam = RecordingBackend.instances[1]
        assert (cam.width, cam.height) == (80, 60)
        want = _expected_rgb(frame)
        _wait_for(lambda: any(np.abs(f.astype(int) - want).max() <= 1 for _, f in cam.snapshot()))
        assert sink.stats()["width"] == 80 and sink.stats()["height"] == 60
    finally:
        sink.close()


@pytest.mark.skipif(platform.system() != "Linux", reason="the v4l2loopback backend is Linux-only")
def test_missing_v4l2loopback_device_says_how_to_get_one():
    if glob.glob("/dev/video*"):
        pytest.skip("this machine has /dev/video devices; the no-device path cannot be shown")
    sink = _sink(backend="v4l2loopback")
    with pytest.raises(SinkError) as info:
        sink.start()
    message = str(info.value)
    assert "modprobe v4l2loopback" in message
    assert 'card_label="facecast"' in message and "v4l2loopback-dkms" in message
    assert "No v4l2 loopback device found" in message  # pyvirtualcam's own reason
    sink.close()


def test_unknown_backend_and_per_os_advice():
    with pytest.raises(SinkError, match="not available"):
        _sink(backend="no-such-backend").start()
    assert "OBS Studio 26" in no_device_message("x", "Windows") and "Unity Capture" in no_device_message("x", "Windows")
    assert "OBS Studio 28" in no_device_message("x", "Darwin")
    assert "v4l2loopback-dkms" in no_device_message("x", "Linux")
    assert "(no device here)" in no_device_message("no device here", "Linux")


def _loopback_devices() -> list[str]:
    return sorted(f"/dev/{Path(p).name}" for p in glob.glob("/sys/devices/virtual/video4linux/video*"))


@pytest.mark.camera
def test_real_v4l2loopback_device_can_be_read_back():
    devices = _loopback_devices()
    if platform.system() != "Linux" or not devices:
        pytest.skip("no v4l2loopback device")
    import cv2

    sink = _sink(backend="v4l2loopback", device=devices[0], width=320, height=240)
    sink.start()
    frame = np.zeros((240, 320, 4), np.uint8)
    frame[:, :160] = (200, 40, 40, 255)
    frame[:, 160:] = (40, 200, 40, 255)
    sink.publish(_published(frame))
    cap = cv2.VideoCapture(int(devices[0].removeprefix("/dev/video")), cv2.CAP_V4L2)
    try:
        assert cap.isOpened(), f"OpenCV cannot open {devices[0]}"
        got = None
        for _ in range(30):
            ok, img = cap.read()
            if ok and img is not None and img.any():
                got = cv2.cvtColor(cv2.resize(img, (320, 240)), cv2.COLOR_BGR2RGB)
                break
        assert got is not None, "no frame read back from the loopback device"
        assert np.abs(got.astype(int) - frame[..., :3]).mean() < 12
    finally:
        cap.release()
        sink.close()


def test_daemon_feeds_the_virtual_camera(default_store):
    from facecast.client import Client
    from facecast.server.daemon import Daemon

    cfg = AppConfig(server=ServerConfig(bind="tcp://127.0.0.1:0"), sinks=SinksConfig(enabled=("virtualcam",)),
                    virtualcam=VirtualCamConfig(backend=RECORDER, fps=30.0))
    daemon = Daemon(cfg, default_store)
    endpoint = daemon.start_in_thread()
    try:
        with Client(endpoint) as client:
            bound = client.bind("default", width=128, height=128, pixel_format="rgba8")
            frame = client.render(bound.neutral)
            want = _expected_rgb(frame.image)
            _wait_for(lambda: len(RecordingBackend.instances) >= 2)  # the probe, then the real camera
            cam = RecordingBackend.instances[-1]
            assert (cam.width, cam.height) == (128, 128)
            _wait_for(lambda: any(np.abs(f.astype(int) - want).max() <= 1 for _, f in cam.snapshot()))
            stats = client.stats().daemon["sinks"]["virtualcam"]
            assert stats["frames_published"] >= 1 and stats["frames_sent"] >= 1 and stats["backend"] == RECORDER
    finally:
        daemon.stop()
        daemon.join(10)
    assert cam.closed
