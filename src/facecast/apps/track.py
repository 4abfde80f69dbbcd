"""`facecast track` and `facecast replay`: drive a character through the daemon from a
camera, a video file or a recording.

Per frame: capture -> MediaPipe landmarks -> ``DriverPipeline`` (One Euro smoothing,
tracking state, neutral calibration, relative retargeting) -> pose sent pipelined through
``PoseLink`` -> frame back -> handled (an mp4 ``--output``, a ``--virtual-cam``, a
``--preview`` window). Stage latencies are logged every few seconds and printed as a
table at the end (``pose_link`` says what each stage covers). docs/tracker.md.
"""

from __future__ import annotations

import collections
import logging
import os
import platform
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import imageio_ffmpeg
import numpy as np

from facecast.capture.camera import FrameSource
from facecast.capture.live import StreamLandmarker, detections
from facecast.capture.recording import Recording, RecordingWriter
from facecast.client.pose_link import DeliveredFrame, PoseLink, PoseStamps
from facecast.config import AppConfig, ServerConfig
from facecast.core.topology import to_ibug68
from facecast.tracking.blendshape_basis import arkit_from_mediapipe
from facecast.tracking.driver import DriverPipeline, PoseOutput
from facecast.tracking.face import FaceLandmarks

__all__ = ["TrackOptions", "TrackReport", "run_track", "run_replay", "has_display"]

log = logging.getLogger(__name__)

PREVIEW_KEYS = "c: calibrate the neutral face   q / Esc: quit"


@dataclass(frozen=True)
class TrackOptions:
    endpoint: str = ServerConfig().bind
    character: str = "default"
    size: int = 256
    landmark_format: str = "mediapipe478"  # or ibug68, for renderers that want it
    send: str = "landmarks"  # or "blendshapes": ARKit-52 weights + head rotation (the daemon's basis)
    preview: bool = False
    virtual_cam: bool = False
    record: Path | None = None
    output: Path | None = None
    calibrate_after_s: float | None = None  # re-take the driver's neutral this many seconds in
    max_seconds: float | None = None
    keep_poses: bool = False  # keep every sent pose in the report (tests)
    on_frame: Callable[[DeliveredFrame], None] | None = None  # also hand each frame here (I/O thread)
    stats_interval_s: float = 5.0


@dataclass
class TrackReport:
    frames: int = 0  # frames tracked (or replayed)
    faces: int = 0  # ... with a face
    poses_sent: int = 0
    frames_received: int = 0
    superseded: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    states: dict[str, int] = field(default_factory=dict)
    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    stage_table: str = ""
    skipped: int = 0  # camera frames MediaPipe dropped while busy (live mode)
    poses: list[tuple[int, np.ndarray, str]] = field(default_factory=list)  # (seq, landmarks|weights, state)
    send_offsets_s: list[float] = field(default_factory=list)  # replay: when each pose went, from the start
    due_offsets_s: list[float] = field(default_factory=list)  # replay: when it was due (the recording's clock)
    output: Path | None = None
    record: Path | None = None

    @property
    def fps(self) -> float:
        return self.frames_received / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def summary(self) -> str:
        states = ", ".join(f"{k} {v}" for k, v in sorted(self.states.items()))
        skipped = f"; camera frames skipped while busy {self.skipped}" if self.skipped else ""
        lines = [f"frames {self.frames} (face in {self.faces}), poses sent {self.poses_sent}, frames back "
                 f"{self.frames_received} ({self.superseded} superseded, {self.errors} errors) in "
                 f"{self.elapsed_s:.1f} s = {self.fps:.1f} fps{skipped}",
                 f"tracking states: {states or 'none'}"]
        if self.stage_table:
            lines.append(self.stage_table)
        if self.output:
            lines.append(f"output: {self.output}")
        if self.record:
            lines.append(f"recording: {self.record}")
        return "\n".join(lines)


def has_display() -> tuple[bool, str]:
    """Whether a preview window can open here, and if not, why."""
    if platform.system() == "Linux" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False, "no display ($DISPLAY and $WAYLAND_DISPLAY are unset)"
    info = cv2.getBuildInformation()
    gui = [line for line in info.splitlines() if line.strip().startswith("GUI:")]
    if gui and gui[0].split(":", 1)[1].strip().upper() in {"NONE", "NO", ""}:
        return False, "this OpenCV build has no GUI support (opencv-python-headless)"
    return True, ""


class Mp4Output:
    """Frames to an H.264 mp4 at a fixed rate; a superseded pose repeats the previous frame."""

    def __init__(self, path: Path, fps: float) -> None:
        if not path.parent.exists():
            raise FileNotFoundError(f"cannot write {path}: folder {path.parent} does not exist")
        self.path, self.fps = path, fps
        self._writer: Any = None
        self._last: np.ndarray | None = None
        self.frames = 0

    def write(self, frame: DeliveredFrame) -> None:
        rgb = np.ascontiguousarray(frame.image[..., :3])
        if self._writer is None:
            h, w = rgb.shape[:2]
            self._writer = imageio_ffmpeg.write_frames(str(self.path), (w, h), fps=self.fps, codec="libx264",
                                                       pix_fmt_in="rgb24", output_params=["-pix_fmt", "yuv420p"],
                                                       macro_block_size=1, ffmpeg_log_level="error")
            self._writer.send(None)
        for _ in range(frame.superseded if self._last is not None else 0):
            self._writer.send(self._last)
            self.frames += 1
        self._writer.send(rgb)
        self._last = rgb
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class VirtualCamOutput:
    """Frames to a virtual camera through the project's virtualcam sink ([virtualcam] config)."""

    def __init__(self, cfg: AppConfig, character: str) -> None:
        from facecast.sinks.virtualcam import VirtualCamSink

        self.sink = VirtualCamSink(cfg.virtualcam)
        self.sink.start()  # SinkError, saying how to get a device, when there is none
        self.character = character

    def write(self, frame: DeliveredFrame) -> None:
        from facecast.sinks.base import PublishedFrame

        self.sink.publish(PublishedFrame(rgba=frame.image, character=self.character, session="track",
                                         seq=frame.seq, render_end=time.time()))

    def close(self) -> None:
        self.sink.close()


class Preview:
    """The camera image with its landmarks beside the character's frame; keys: PREVIEW_KEYS."""

    WINDOW = "facecast track"

    def __init__(self) -> None:
        cv2.namedWindow(self.WINDOW, cv2.WINDOW_NORMAL)
        log.info("preview window open (%s)", PREVIEW_KEYS)

    def show(self, rgb: np.ndarray, face: FaceLandmarks | None, state: str, avatar: np.ndarray | None) -> int:
        view = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        if face is not None:
            for x, y in face.pixel_points().astype(int)[::3]:
                cv2.circle(view, (int(x), int(y)), 1, (0, 255, 0), -1)
        cv2.putText(view, state, (10, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 200, 255), 2)
        if avatar is not None:
            side = view.shape[0]
            tile = cv2.resize(cv2.cvtColor(np.ascontiguousarray(avatar[..., :3]), cv2.COLOR_RGB2BGR), (side, side))
            view = np.hstack([view, tile])
        cv2.imshow(self.WINDOW, view)
        return cv2.waitKey(1) & 0xFF

    def close(self) -> None:
        cv2.destroyWindow(self.WINDOW)


def _outputs(cfg: AppConfig, opts: TrackOptions, fps: float) -> list[Any]:
    outs: list[Any] = []
    try:
        if opts.output is not None:
            outs.append(Mp4Output(Path(opts.output), fps))
        if opts.virtual_cam:
            outs.append(VirtualCamOutput(cfg, opts.character))
    except BaseException:
        for out in outs:
            out.close()
        raise
    return outs


def _preview(opts: TrackOptions) -> Preview | None:
    if not opts.preview:
        return None
    ok, why = has_display()
    if not ok:
        log.warning("--preview: %s; running without a window (use --output FILE.mp4 or --virtual-cam to see "
                    "the character)", why)
        return None
    return Preview()


class _Driver:
    """The loop shared by track and replay: pipeline, send, stage logging, outputs."""

    def __init__(self, cfg: AppConfig, opts: TrackOptions, fps: float) -> None:
        self.cfg, self.opts = cfg, opts
        self.outputs = _outputs(cfg, opts, fps)
        self._lock = threading.Lock()
        try:
            self.link = PoseLink(opts.endpoint, opts.character, size=opts.size, on_frame=self._on_frame)
        except BaseException:
            self._close_outputs()
            raise
        self.pipeline = DriverPipeline(cfg.tracker, self.link.neutral)
        self.report = TrackReport(output=opts.output, record=opts.record)
        self.states: collections.Counter[str] = collections.Counter()
        self.start = time.perf_counter()
        self._log_t, self._log_frames, self._log_samples = self.start, 0, 0

    def _on_frame(self, frame: DeliveredFrame) -> None:
        for out in self.outputs:
            out.write(frame)
        if self.opts.on_frame is not None:
            self.opts.on_frame(frame)

    def step(self, face: FaceLandmarks | None, timestamp_s: float, index: int, size: tuple[int, int],
             capture: float, landmarks_ready: float) -> PoseOutput:
        self.report.frames += 1
        self.report.faces += face is not None
        out = self.pipeline.update(face, timestamp_s, index, size)
        smoothed = time.perf_counter()
        self.states[out.state] += 1
        if out.landmarks is not None:
            stamps = PoseStamps(capture=capture, landmarks=landmarks_ready, smoothed=smoothed)
            if self.opts.send == "blendshapes":
                values = arkit_from_mediapipe(out.blendshapes)
                seq = self.link.send_blendshapes(values, out.head, out.state, stamps)
            else:
                values = to_ibug68(out.landmarks) if self.opts.landmark_format == "ibug68" else out.landmarks
                seq = self.link.send(values, self.opts.landmark_format, out.state, stamps)
            if self.opts.keep_poses:
                self.report.poses.append((seq, values, out.state))
        now = time.perf_counter()
        if now - self._log_t >= self.opts.stats_interval_s:
            fps = (self.link.frames - self._log_frames) / (now - self._log_t)
            log.info("%.1f fps, state %s, %s", fps, out.state, self.link.stats.one_line(self._log_samples))
            self._log_t, self._log_frames, self._log_samples = now, self.link.frames, len(self.link.stats)
        return out

    def finish(self, drain: bool = True) -> TrackReport:
        try:
            self.link.close(drain_timeout_s=5.0 if drain else 0.0)
        finally:
            self._close_outputs()
        r = self.report
        r.elapsed_s = time.perf_counter() - self.start
        r.poses_sent, r.frames_received = self.link.sent, self.link.frames
        r.superseded, r.errors = self.link.superseded, self.link.errors
        r.states = dict(self.states)
        r.stages = self.link.stats.summary()
        r.stage_table = self.link.stats.table()
        return r

    def _close_outputs(self) -> None:
        for out in self.outputs:
            out.close()


def run_track(cfg: AppConfig, source: FrameSource, opts: TrackOptions,
              landmarker: StreamLandmarker | None = None) -> TrackReport:
    """Track ``source`` and drive ``opts.character`` through the daemon at ``opts.endpoint``.
    A camera uses MediaPipe's LIVE_STREAM mode, a file VIDEO mode (unless ``landmarker``
    is given). Stops at the end of a file, after ``max_seconds``, or on q/Esc in the preview."""
    tc = cfg.tracker
    own = landmarker is None
    if landmarker is None:
        landmarker = StreamLandmarker("live" if source.live else "video",
                                      min_detection_confidence=tc.min_detection_confidence,
                                      min_tracking_confidence=tc.min_tracking_confidence)
    recorder = None
    driver = None
    preview = None
    interrupted = False
    try:
        driver = _Driver(cfg, opts, source.fps or 30.0)
        if opts.record is not None:
            recorder = RecordingWriter(opts.record, source.name, source.size, source.fps)
        preview = _preview(opts)
        calibrate_at = opts.calibrate_after_s
        if calibrate_at is not None:
            log.info("the neutral face is taken again %.1f s in: look at the camera, face relaxed", calibrate_at)
        first_t: float | None = None
        for det in detections(source, landmarker):
            frame = det.frame
            first_t = frame.timestamp_s if first_t is None else first_t
            if recorder is not None:
                recorder.write(frame.index, frame.timestamp_s, det.face)
            if calibrate_at is not None and frame.timestamp_s - first_t >= calibrate_at:
                driver.pipeline.calibrate()
                calibrate_at = None
            out = driver.step(det.face, frame.timestamp_s, frame.index, frame.size, frame.wall, det.t_landmarks)
            if preview is not None:
                latest = driver.link.latest
                key = preview.show(frame.rgb, det.face, out.state, None if latest is None else latest.image)
                if key in (ord("q"), 27):
                    break
                if key == ord("c"):
                    driver.pipeline.calibrate()
            if opts.max_seconds is not None and time.perf_counter() - driver.start >= opts.max_seconds:
                break
    except KeyboardInterrupt:
        interrupted = True
        log.info("interrupted; finishing")
    finally:
        if preview is not None:
            preview.close()
        if recorder is not None:
            recorder.close()
        report = driver.finish(drain=not interrupted) if driver is not None else None
        if own:
            landmarker.close()
    assert report is not None
    report.skipped = landmarker.skipped
    return report


def run_replay(cfg: AppConfig, recording: Recording, opts: TrackOptions, speed: float = 1.0,
               sleep: Callable[[float], None] = time.sleep) -> TrackReport:
    """Send a recording's poses with its original timing (``speed`` 2 = twice as fast),
    through the same pipeline as ``run_track``, so the poses are the ones tracking sent."""
    if not speed > 0:
        raise ValueError(f"replay speed must be > 0, got {speed}")
    fps = float(recording.header.get("fps") or 0.0) * speed or 30.0
    driver = _Driver(cfg, opts, fps)
    interrupted = False
    try:
        start = time.perf_counter() + 0.05
        for frame in recording.frames:
            due = start + frame.timestamp_s / speed
            wait = due - time.perf_counter()
            if wait > 0:
                sleep(wait)
            now = time.perf_counter()
            driver.report.due_offsets_s.append(due - start)
            driver.report.send_offsets_s.append(now - start)
            driver.step(frame.face, frame.timestamp_s, frame.index, recording.image_size, now, now)
            if opts.max_seconds is not None and now - start >= opts.max_seconds:
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        report = driver.finish(drain=not interrupted)
    return report
