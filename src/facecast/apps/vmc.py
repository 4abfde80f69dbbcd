"""`facecast vmc`: listen for VMC protocol packets (OSC over UDP) and forward every applied
frame to the daemon as a blendshape pose, pipelined (the daemon renders the newest pose;
older ones are superseded, never queued). Optionally writes the frames that come back to
a video file; prints rates every few seconds and a summary at the end."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facecast.capture.vmc import DEFAULT_PORT, VmcFrame, VmcState, osc_messages
from facecast.client import Client, ClientTimeout, FacecastError
from facecast.config import ServerConfig

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = ServerConfig().bind  # where `facecast serve` listens by default

_POLL_S = 0.005  # how long one wait for a datagram may block the frame reader
_MAX_DATAGRAM = 65536
MAX_IN_FLIGHT = 4  # poses sent but not yet answered (frame, superseded or error)
STALL_S = 2.0  # no answer for this long: the daemon lost them (restart?); stop waiting


def add_vmc_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `facecast vmc`."""
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"UDP port to listen on (default {DEFAULT_PORT})")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for a phone on the LAN)")
    parser.add_argument("--connect", default=DEFAULT_ENDPOINT, help=f"the daemon (default {DEFAULT_ENDPOINT})")
    parser.add_argument("--character", default="default", help="character to drive (default: the built-in one)")
    parser.add_argument("--size", type=int, default=256, help="frame side in pixels (default 256)")
    parser.add_argument("--max-fps", type=float, default=60.0,
                        help="send at most this many poses per second; faster senders are thinned (default 60)")
    parser.add_argument("--no-head", action="store_true", help="ignore the Head bone (face only)")
    parser.add_argument("--output", type=Path, help="also write the frames to this video file (.mp4 or .avi)")
    parser.add_argument("--output-fps", type=float, default=30.0, help="frame rate written to --output (default 30)")
    parser.add_argument("--report-s", type=float, default=2.0, help="seconds between rate lines (default 2)")


@dataclass
class VmcCounters:
    datagrams: int = 0
    bad_datagrams: int = 0
    poses_sent: int = 0
    frames: int = 0
    superseded: int = 0
    written_off: int = 0  # poses never answered (the daemon went away or restarted)
    errors: dict[str, int] = field(default_factory=dict)

    def in_flight(self) -> int:
        answered = self.frames + self.superseded + sum(self.errors.values()) + self.written_off
        return self.poses_sent - answered
    latencies_ms: list[float] = field(default_factory=list)


class _VideoOut:
    """Frames (RGBA) into a video file with OpenCV."""

    def __init__(self, path: Path, fps: float, size: int) -> None:
        import cv2

        self._cv2 = cv2
        path.parent.mkdir(parents=True, exist_ok=True)
        fourcc = cv2.VideoWriter_fourcc(*("MJPG" if path.suffix.lower() == ".avi" else "mp4v"))
        self._writer = cv2.VideoWriter(str(path), fourcc, fps, (size, size))
        if not self._writer.isOpened():
            raise OSError(f"cannot write video {path} (use .mp4 or .avi)")

    def write(self, rgba: np.ndarray) -> None:
        self._writer.write(self._cv2.cvtColor(np.ascontiguousarray(rgba), self._cv2.COLOR_RGBA2BGR))

    def close(self) -> None:
        self._writer.release()


def _listen(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen for VMC on udp {host}:{port}: {exc.strerror} "
                      "(another VMC receiver, e.g. a second facecast vmc, on that port?)") from None
    sock.settimeout(_POLL_S)
    return sock


def _connect(args: argparse.Namespace) -> Client:
    client = Client(args.connect, timeout_s=10.0)
    try:
        welcome = client.hello()
        inputs = welcome.capabilities.get("inputs", [])
        if "blendshapes" not in inputs:
            raise OSError(f"the daemon at {args.connect} does not take blendshape poses (inputs: {inputs}); "
                          "update it")
        client.bind(args.character, width=args.size, height=args.size, pixel_format="rgba8")
    except FacecastError as exc:
        client.close()
        raise LookupError(f"daemon refused: {exc}") from None
    except ClientTimeout as exc:
        client.close()
        raise TimeoutError(f"{exc}: is the daemon (facecast serve) running there?") from None
    except BaseException:
        client.close()
        raise
    return client


class VmcForwarder:
    """The loop of `facecast vmc`; ``stop()`` ends it (from a signal handler or a thread)."""

    def __init__(self, sock: socket.socket, client: Client, state: VmcState, max_fps: float,
                 video: _VideoOut | None = None, report_s: float = 2.0) -> None:
        self.sock, self.client, self.state, self.video = sock, client, state, video
        self.min_interval = 1.0 / max_fps if max_fps > 0 else 0.0
        self.report_s = report_s
        self.counters = VmcCounters()
        self._stop = threading.Event()
        self._unknown_logged = False
        self._last_answer = time.monotonic()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> VmcCounters:
        pending: VmcFrame | None = None
        last_send = 0.0
        next_report = time.monotonic() + self.report_s
        window = (time.monotonic(), 0, 0, self.state.applies)  # t, poses, frames, applies
        while not self._stop.is_set():
            pending = self._receive_packets() or pending
            now = time.monotonic()
            if pending is not None and now - last_send >= self.min_interval and self._may_send(now):
                head = pending.head.as_array() if pending.head is not None else None
                self.client.send_blendshapes(pending.weights, head)
                self.counters.poses_sent += 1
                pending, last_send = None, now
            self._receive_frames()
            if now >= next_report:
                window = self._report(window)
                next_report = now + self.report_s
        return self.counters

    def _may_send(self, now: float) -> bool:
        """Pipelined, but never more than MAX_IN_FLIGHT unanswered poses: a daemon that
        is gone must not make the socket queue (and then block) every VMC frame."""
        c = self.counters
        if c.in_flight() < MAX_IN_FLIGHT:
            return True
        if now - self._last_answer < STALL_S:
            return False  # the newest VMC frame waits; older ones are dropped meanwhile
        log.warning("no reply from the daemon at %s for %.0f s; still sending", self.client.endpoint, STALL_S)
        c.written_off += c.in_flight()
        self._last_answer = now
        return True

    def _receive_packets(self) -> VmcFrame | None:
        """Read every datagram waiting (blocking at most ``_POLL_S`` for the first);
        returns the last frame applied in them."""
        latest = None
        timeout: float | None = _POLL_S
        while True:
            self.sock.settimeout(timeout)
            try:
                data = self.sock.recv(_MAX_DATAGRAM)
            except (TimeoutError, BlockingIOError, socket.timeout):
                return latest
            timeout = 0.0  # drain what is already there without waiting
            self.counters.datagrams += 1
            try:
                for address, params in osc_messages(data):
                    frame = self.state.handle(address, params)
                    if frame is not None:
                        latest = frame
            except ValueError:
                self.counters.bad_datagrams += 1

    def _receive_frames(self) -> None:
        while True:
            try:
                frame = self.client.recv_frame(timeout_s=0.0)
            except ClientTimeout:
                return
            except FacecastError as exc:
                self._last_answer = time.monotonic()
                name = exc.name
                if name not in self.counters.errors:
                    log.warning("daemon error for a pose: %s", exc)
                self.counters.errors[name] = self.counters.errors.get(name, 0) + 1
                continue
            self._last_answer = time.monotonic()
            self.counters.frames += 1
            self.counters.superseded += frame.message.superseded
            self.counters.latencies_ms.append(frame.latency_ms)
            if self.video is not None:
                self.video.write(frame.image)

    def _report(self, window: tuple[float, int, int, int]) -> tuple[float, int, int, int]:
        t0, poses0, frames0, applies0 = window
        now, c = time.monotonic(), self.counters
        dt = max(now - t0, 1e-9)
        recent = c.latencies_ms[-max(1, c.frames - frames0):] if c.frames > frames0 else []
        latency = f", latency p50 {np.median(recent):.1f} ms" if recent else ""
        sys.stdout.write(f"vmc: {(self.state.applies - applies0) / dt:.1f} VMC frames/s in, "
                         f"{(c.poses_sent - poses0) / dt:.1f} poses/s sent, "
                         f"{(c.frames - frames0) / dt:.1f} frames/s back{latency}\n")
        sys.stdout.flush()
        if self.state.unknown_names and not self._unknown_logged:
            self._unknown_logged = True
            log.warning("ignoring unknown blendshape names (counts so far): %s", _counts(self.state.unknown_names))
        return now, c.poses_sent, c.frames, self.state.applies


def _counts(counter: Any) -> str:
    return ", ".join(f"{name} x{n}" for name, n in counter.most_common(20))


def run_vmc(cfg: Any, args: argparse.Namespace) -> int:
    """`facecast vmc`: runs until SIGINT/SIGTERM."""
    del cfg  # endpoints come from the flags
    sock = _listen(args.host, args.port)
    try:
        client = _connect(args)
    except BaseException:
        sock.close()
        raise
    video = None
    try:
        if args.output is not None:
            video = _VideoOut(args.output, args.output_fps, args.size)
        forwarder = VmcForwarder(sock, client, VmcState(use_head=not args.no_head), args.max_fps, video, args.report_s)
        previous = {sig: signal.signal(sig, lambda _s, _f: forwarder.stop()) for sig in (signal.SIGINT, signal.SIGTERM)}
        log.info("listening for VMC on udp %s:%d, driving %r on %s", args.host, args.port, args.character, args.connect)
        try:
            c = forwarder.run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        if video is not None:
            video.close()
        client.close()
        sock.close()
    state = forwarder.state
    sys.stdout.write(f"vmc: {c.datagrams} datagrams ({c.bad_datagrams} not OSC), {state.applies} VMC frames, "
                     f"{c.poses_sent} poses sent, {c.frames} frames back, {c.superseded} superseded, "
                     f"{state.applies - c.poses_sent} VMC frames not sent (a newer one came first), "
                     f"{c.written_off} poses unanswered\n")
    if state.unknown_names:
        log.warning("unknown blendshape names: %s", _counts(state.unknown_names))
    if c.errors:
        log.warning("daemon errors: %s", c.errors)
    return 0
