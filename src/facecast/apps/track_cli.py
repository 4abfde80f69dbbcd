"""Command-line front of the tracker: `facecast track`, `facecast record`, `facecast replay`.

Arguments and runners only; the work is in ``facecast.apps.track`` (imported when a command
runs, so that `facecast --help` does not load MediaPipe). docs/tracker.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from facecast.config import AppConfig, ServerConfig

__all__ = [
    "add_track_arguments", "run_track_command",
    "add_record_arguments", "run_record_command",
    "add_replay_arguments", "run_replay_command",
]

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = ServerConfig().bind  # where `facecast serve` listens by default


def _add_source(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--camera", type=int, metavar="INDEX", help="camera index (0 = the first camera)")
    src.add_argument("--video", type=Path, metavar="FILE", help="a video file instead of a camera")


def _add_sending(p: argparse.ArgumentParser) -> None:
    p.add_argument("--connect", default=DEFAULT_ENDPOINT, metavar="ENDPOINT",
                   help=f"the daemon (`facecast serve`) to send poses to (default {DEFAULT_ENDPOINT})")
    p.add_argument("--character", default="default", help="enrolled character to drive (default: default)")
    p.add_argument("--size", type=int, default=256, help="frame side in pixels (default 256)")
    p.add_argument("--format", dest="landmark_format", choices=["mediapipe478", "ibug68"], default="mediapipe478",
                   help="landmark format sent (ibug68: for renderers that take the 68 iBUG points)")
    p.add_argument("--send", choices=["landmarks", "blendshapes"], default="landmarks",
                   help="send retargeted landmarks (default), or the tracked ARKit-52 blendshapes and head rotation "
                        "for the daemon's blendshape basis")
    p.add_argument("--preview", action="store_true", help="show the camera and the character in a window "
                   "(needs a display; c = calibrate the neutral face, q = quit)")
    p.add_argument("--virtual-cam", action="store_true", help="also send the character's frames to a virtual "
                   "camera ([virtualcam] config; needs OBS Virtual Camera / v4l2loopback / Unity Capture)")
    p.add_argument("--output", type=Path, metavar="OUT.mp4", help="also write the character's frames to this mp4")
    p.add_argument("--seconds", type=float, help="stop after this many seconds")


def add_track_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `facecast track` (besides --config/--set/-v)."""
    _add_source(p)
    _add_sending(p)
    p.add_argument("--record", type=Path, metavar="FILE", help="also record the pose stream (see facecast replay)")
    p.add_argument("--calibrate-after", type=float, metavar="S",
                   help="take the neutral face again S seconds in (the first frames are used until then)")
    p.add_argument("--fast", action="store_true",
                   help="with --video: do not pace frames at the video's rate (as fast as tracking goes)")


def add_record_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `facecast record`."""
    _add_source(p)
    p.add_argument("out", type=Path, help="the recording to write (.fcrec)")
    p.add_argument("--seconds", type=float, help="stop after this many seconds")


def add_replay_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `facecast replay`."""
    p.add_argument("recording", type=Path, help="a recording made by `facecast record` or `track --record`")
    _add_sending(p)
    p.add_argument("--speed", type=float, default=1.0, help="playback speed (default 1 = the original timing)")


def _options(args: argparse.Namespace, **extra: object):  # -> TrackOptions
    from facecast.apps.track import TrackOptions

    return TrackOptions(endpoint=args.connect, character=args.character, size=args.size,
                        landmark_format=args.landmark_format, send=args.send, preview=args.preview,
                        virtual_cam=args.virtual_cam,
                        output=args.output, max_seconds=args.seconds, **extra)  # type: ignore[arg-type]


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _refused(exc: Exception) -> int:
    log.error("the daemon refused: %s", exc)
    return 2


def run_track_command(cfg: AppConfig, args: argparse.Namespace) -> int:
    from facecast.apps.track import run_track
    from facecast.capture.camera import open_source
    from facecast.client import FacecastError

    opts = _options(args, record=args.record, calibrate_after_s=args.calibrate_after)
    with open_source(camera=args.camera, video=args.video, realtime=not args.fast) as source:
        log.info("tracking %s (%dx%d, %.0f fps)", source.name, *source.size, source.fps)
        try:
            report = run_track(cfg, source, opts)
        except FacecastError as exc:
            return _refused(exc)
    _print(report.summary())
    return 0 if report.frames_received or not report.faces else 1


def run_record_command(cfg: AppConfig, args: argparse.Namespace) -> int:
    import time

    from facecast.capture.camera import open_source
    from facecast.capture.live import StreamLandmarker, detections
    from facecast.capture.recording import RecordingWriter

    tc = cfg.tracker
    with open_source(camera=args.camera, video=args.video) as source:
        mode = "live" if source.live else "video"
        start = time.perf_counter()
        with StreamLandmarker(mode, min_detection_confidence=tc.min_detection_confidence,
                              min_tracking_confidence=tc.min_tracking_confidence) as landmarker, \
                RecordingWriter(args.out, source.name, source.size, source.fps) as writer:
            log.info("recording %s (%dx%d) to %s%s", source.name, *source.size, args.out,
                     "; Ctrl-C stops" if source.live else "")
            try:
                for det in detections(source, landmarker):
                    writer.write(det.frame.index, det.frame.timestamp_s, det.face)
                    if args.seconds is not None and time.perf_counter() - start >= args.seconds:
                        break
            except KeyboardInterrupt:
                log.info("stopped")
        elapsed = time.perf_counter() - start
    share = writer.faces / writer.frames if writer.frames else 0.0
    _print(f"recorded {writer.frames} frames ({writer.faces} with a face, {share:.1%}) in {elapsed:.1f} s "
           f"to {args.out}")
    if writer.frames and not writer.faces:
        log.warning("no face in any frame: the recording replays as the neutral face")
    return 0


def run_replay_command(cfg: AppConfig, args: argparse.Namespace) -> int:
    import numpy as np

    from facecast.apps.track import run_replay
    from facecast.capture.recording import read_recording
    from facecast.client import FacecastError

    recording = read_recording(args.recording)
    log.info("replaying %s: %d frames, %.1f s, from %s", args.recording, len(recording.frames),
             recording.duration_s, recording.header.get("source", "?"))
    try:
        report = run_replay(cfg, recording, _options(args), speed=args.speed)
    except FacecastError as exc:
        return _refused(exc)
    _print(report.summary())
    if report.send_offsets_s:
        late = (np.asarray(report.send_offsets_s) - np.asarray(report.due_offsets_s)) * 1e3
        _print(f"timing: poses sent {np.percentile(late, 50):.2f} ms (p50), {np.percentile(late, 99):.2f} ms (p99) "
               "after their recorded time")
    return 0
