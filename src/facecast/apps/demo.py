"""`facecast demo`: drive a character through the real daemon and write a video.

The daemon runs in a background thread on a free loopback port (or ``connect`` names a
running one); a real client sends the performance over ZeroMQ in real time, as a tracker
would, and receives the frames inline. Poses the daemon supersedes (latest-wins, when it
cannot keep up) repeat the previous frame in the video and are counted.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

from facecast.characters.store import CharacterStore
from facecast.client import Client, ClientTimeout, ReceivedFrame
from facecast.config import AppConfig, TrackerConfig
from facecast.server.daemon import Daemon
from facecast.tracking.calibration import best_neutral
from facecast.tracking.face import FaceLandmarks
from facecast.tracking.procedural import procedural_performance
from facecast.tracking.retarget import retarget_relative

log = logging.getLogger(__name__)


@dataclass
class DemoResult:
    video: Path
    contact_sheet: Path
    frames: int
    fps: float  # frames per second through the whole path, wall clock
    latency_p50_ms: float  # client send -> frame received
    latency_p99_ms: float
    superseded: int


def video_performance(video: Path, character_neutral: np.ndarray,
                      tracker: TrackerConfig | None = None) -> tuple[np.ndarray, float]:
    """Landmarks of ``video`` retargeted onto the character. The driver's neutral is the
    one ``facecast track`` ends with on this video (``tracking.calibration``: judged
    eyes open, mouth closed, facing, steady; a warning when none is), for every frame."""
    from facecast.capture.landmarks import LandmarkDetector, open_video

    tc = tracker or TrackerConfig()
    cap = open_video(video)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    cap.release()
    tracked: list[np.ndarray | None] = []
    faces: list[FaceLandmarks | None] = []
    times: list[float] = []
    with LandmarkDetector() as detector:
        for sample in detector.track_video(video):
            tracked.append(None if sample.face is None else sample.face.points)
            faces.append(sample.face)
            times.append(sample.timestamp_s)
    found = [p for p in tracked if p is not None]
    if not found:
        raise ValueError(f"no face found in any frame of {video}")
    last = found[0]
    held = []
    for points in tracked:  # frames without a face hold the previous pose
        last = points if points is not None else last
        held.append(last)
    log.info("tracked %d frames of %s (%d without a face)", len(tracked), video, len(tracked) - len(found))
    try:
        neutral = best_neutral(faces, times, tc.calibration_frames, tc.calibration_search_s).points
    except ValueError:  # fewer frames with a face than one window: the first face it is
        log.warning("too few frames with a face to judge a neutral in %s: using the first face", video)
        neutral = found[0]
    return retarget_relative(np.stack(held), neutral, size, character_neutral), float(fps)


def write_video(path: Path, frames: list[np.ndarray], fps: float, audio: Path | None = None) -> None:
    """Write RGB(A) frames (alpha dropped) as an H.264 mp4, with ``audio`` (a sound file)
    as its AAC sound track when given."""
    h, w = frames[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, codec="libx264", pix_fmt_in="rgb24",
                                         output_params=["-pix_fmt", "yuv420p"], macro_block_size=1,
                                         ffmpeg_log_level="error", audio_path=None if audio is None else str(audio),
                                         audio_codec=None if audio is None else "aac")
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame[..., :3]))
    writer.close()


def contact_sheet(path: Path, frames: list[np.ndarray], columns: int = 4, rows: int = 2) -> None:
    picks = np.linspace(0, len(frames) - 1, columns * rows).round().astype(int)
    tiles = [frames[i][..., :3] for i in picks]
    grid = np.vstack([np.hstack(tiles[r * columns:(r + 1) * columns]) for r in range(rows)])
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


def run_demo(cfg: AppConfig, character: str | None = None, video: Path | None = None,
             connect: str | None = None) -> DemoResult:
    store = CharacterStore(cfg.store.root or None)
    char = store.ensure_default() if character is None else store.load(character)
    if video is not None:
        performance, fps = video_performance(Path(video), char.neutral, cfg.tracker)
    else:
        fps = cfg.demo.fps
        performance = procedural_performance(char.neutral, cfg.demo.seconds, fps)
    out_dir = Path(cfg.demo.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    daemon = None
    if connect is None:
        daemon_cfg = dataclasses.replace(cfg, server=dataclasses.replace(cfg.server, bind="tcp://127.0.0.1:0"))
        daemon = Daemon(daemon_cfg, store)
        connect = daemon.start_in_thread()
    try:
        images, latencies, superseded, elapsed = _drive(connect, char.name, cfg.demo.size, performance, fps)
    finally:
        if daemon is not None:
            daemon.stop()
            daemon.join(timeout=10)
    stem = f"demo_{char.name}"
    video_path, sheet_path = out_dir / f"{stem}.mp4", out_dir / f"{stem}_sheet.png"
    write_video(video_path, images, fps)
    contact_sheet(sheet_path, images)
    lat = np.array(latencies)
    return DemoResult(video=video_path, contact_sheet=sheet_path, frames=len(latencies), fps=len(latencies) / elapsed,
                      latency_p50_ms=float(np.percentile(lat, 50)), latency_p99_ms=float(np.percentile(lat, 99)),
                      superseded=superseded)


def _drive(endpoint: str, character: str, size: int, performance: np.ndarray,
           fps: float) -> tuple[list[np.ndarray], list[float], int, float]:
    """Send the performance in real time (one pose every 1/fps s, as a tracker would),
    receive frames as they come. Returns one image per pose (a superseded pose repeats
    the previous image), the round-trip latencies, the superseded count, elapsed seconds."""
    frames: dict[int, ReceivedFrame] = {}
    superseded = 0
    total = len(performance)
    with Client(endpoint) as client:
        welcome = client.hello()
        log.info("connected to %s at %s (renderer %s)", welcome.server, endpoint, welcome.capabilities.get("renderer"))
        client.bind(character, width=size, height=size, pixel_format="rgba8")
        start = time.perf_counter()
        sent = 0
        while len(frames) + superseded < total:
            due = start + sent / fps
            now = time.perf_counter()
            if sent < total and now >= due:
                client.send_pose(performance[sent], seq=sent + 1)
                sent += 1
                continue
            wait = due - now if sent < total else client.timeout_s
            try:
                frame = client.recv_frame(timeout_s=max(wait, 0.0))
            except ClientTimeout:
                if sent < total:
                    continue
                raise
            frames[frame.seq] = frame
            superseded += frame.message.superseded
        elapsed = time.perf_counter() - start
    ordered = [frames[k] for k in sorted(frames)]
    images, last = [], ordered[0].image
    for seq in range(1, total + 1):
        last = frames[seq].image if seq in frames else last
        images.append(last)
    return images, [f.latency_ms for f in ordered], superseded, elapsed
