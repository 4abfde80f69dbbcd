"""A tracker's connection to the daemon: poses out (pipelined), frames back, stage timing.

``PoseLink`` owns one ``facecast.client.Client`` on an I/O thread of its own (ZeroMQ
sockets belong to one thread). The tracker thread calls ``send`` and goes straight on to
the next camera frame; the I/O thread sends each pose as soon as it is queued, never
waiting for replies, and stamps each frame the moment it arrives, so the "daemon" stage
below is the daemon's round trip and not the tracker's own loop. Each frame then goes to
the ``on_frame`` handler (video file, virtual camera) on that thread; the newest one is
also kept for a preview window.

Stages, per frame, on this process's ``time.perf_counter`` clock::

    capture -> landmarks     frame captured -> MediaPipe result ready (waiting + inference)
    landmarks -> smoothing   One Euro filter, tracking state, retargeting: pose ready
    smoothing -> send        handed to the I/O thread and sent
    send -> daemon           round trip: transport, decode, schedule, render, reply
    daemon -> frame          the frame's pixels handled (written, sent to the virtual camera)
    total                    capture -> frame handled

``render`` (the daemon's own render_start -> render_end) is reported beside them.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import zmq

from facecast.client.client import Client, ClientTimeout, FacecastError
from facecast.protocol import Bound

__all__ = ["PoseStamps", "DeliveredFrame", "StageStats", "PoseLink", "STAGES"]

log = logging.getLogger(__name__)

STAGES = ("landmarks", "smoothing", "send", "daemon", "frame", "total", "render")
_IDLE_POLL_MS = 50


@dataclass
class PoseStamps:
    """perf_counter readings of one pose's way; ``sent`` is filled in by the link."""

    capture: float
    landmarks: float
    smoothed: float
    sent: float = 0.0


@dataclass
class DeliveredFrame:
    seq: int
    image: np.ndarray  # H x W x C uint8, the bound pixel format
    stamps: PoseStamps
    received: float  # perf_counter when the frame arrived
    superseded: int  # this session's poses dropped (latest-wins) since the previous frame
    render_ms: float  # the daemon's render_end - render_start
    delivered: float = 0.0  # perf_counter once on_frame returned

    def stages_ms(self) -> dict[str, float]:
        s = self.stamps
        return {
            "landmarks": (s.landmarks - s.capture) * 1e3,
            "smoothing": (s.smoothed - s.landmarks) * 1e3,
            "send": (s.sent - s.smoothed) * 1e3,
            "daemon": (self.received - s.sent) * 1e3,
            "frame": (self.delivered - self.received) * 1e3,
            "total": (self.delivered - s.capture) * 1e3,
            "render": self.render_ms,
        }


@dataclass
class StageStats:
    """Per-stage latency samples (ms) and their percentiles."""

    samples: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in STAGES})

    def add(self, frame: DeliveredFrame) -> None:
        for name, value in frame.stages_ms().items():
            self.samples[name].append(value)

    def __len__(self) -> int:
        return len(self.samples["total"])

    def summary(self, start: int = 0) -> dict[str, dict[str, float]]:
        """``{stage: {p50, p90, p99, max, count}}`` over the samples from index ``start``."""
        out: dict[str, dict[str, float]] = {}
        for name, values in self.samples.items():
            arr = np.asarray(values[start:], dtype=np.float64)
            if arr.size == 0:
                out[name] = {"count": 0}
                continue
            p50, p90, p99 = np.percentile(arr, [50, 90, 99])
            out[name] = {"count": int(arr.size), "p50": float(p50), "p90": float(p90), "p99": float(p99),
                         "max": float(arr.max())}
        return out

    def one_line(self, start: int = 0) -> str:
        summary = self.summary(start)
        parts = [f"{name} {summary[name]['p50']:.1f}" for name in STAGES if summary[name].get("count")]
        return "p50 ms: " + " | ".join(parts) if parts else "no frames yet"

    def table(self) -> str:
        """The per-stage table printed at the end of a run."""
        summary = self.summary()
        rows = ["stage                       p50 ms   p90 ms   p99 ms   max ms"]
        labels = {
            "landmarks": "capture -> landmarks", "smoothing": "landmarks -> smoothing",
            "send": "smoothing -> send", "daemon": "send -> daemon -> back", "frame": "frame handled",
            "total": "total (capture -> frame)", "render": "(daemon render)",
        }
        for name in STAGES:
            s = summary[name]
            if not s.get("count"):
                continue
            rows.append(f"{labels[name]:<26}{s['p50']:>8.2f} {s['p90']:>8.2f} {s['p99']:>8.2f} {s['max']:>8.2f}")
        return "\n".join(rows)


class PoseLink:
    """The daemon connection of a tracker (see the module docstring)."""

    def __init__(self, endpoint: str, character: str, size: int = 256, pixel_format: str = "rgba8",
                 on_frame: Callable[[DeliveredFrame], None] | None = None, timeout_s: float = 10.0) -> None:
        self.endpoint = endpoint
        self.on_frame = on_frame
        self.client = Client(endpoint, timeout_s=timeout_s)
        try:
            welcome = self.client.hello()
        except ClientTimeout:
            self.client.close()
            raise ClientTimeout(f"no facecast daemon answered at {endpoint} within {timeout_s:.0f} s: "
                                "start one with `facecast serve` (or pass --connect ENDPOINT)") from None
        try:
            self.bound: Bound = self.client.bind(character, width=size, height=size, pixel_format=pixel_format)
        except BaseException:
            self.client.close()
            raise
        log.info("connected to %s at %s (renderer %s); character %r bound at %dx%d", welcome.server, endpoint,
                 welcome.capabilities.get("renderer"), character, size, size)
        self.stats = StageStats()
        self.sent = 0
        self.frames = 0
        self.superseded = 0
        self.errors = 0
        self.latest: DeliveredFrame | None = None
        self._outbox: queue.Queue[tuple[int, tuple[Any, ...], PoseStamps]] = queue.Queue()
        self._error_names: collections.Counter[str] = collections.Counter()
        self._pending: dict[int, PoseStamps] = {}
        self._seq = 0
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        # send() wakes the I/O thread through an inproc pipe, so a pose leaves at once.
        ctx = zmq.Context.instance()
        address = f"inproc://facecast-pose-link-{id(self)}"
        self._wake_rx = ctx.socket(zmq.PULL)
        self._wake_rx.bind(address)
        self._wake_tx = ctx.socket(zmq.PUSH)
        self._wake_tx.connect(address)
        self._thread = threading.Thread(target=self._run, name="facecast-pose-link", daemon=True)
        self._thread.start()

    @property
    def neutral(self) -> np.ndarray:
        """The character's neutral landmarks (478 x 3) from the bind reply."""
        return self.bound.neutral

    def send(self, landmarks: np.ndarray, landmark_format: str, tracking: str | None, stamps: PoseStamps) -> int:
        """Queue one landmark pose for sending (returns at once); returns its seq."""
        return self._queue(("landmarks", np.asarray(landmarks, np.float32), landmark_format, tracking), stamps)

    def send_blendshapes(self, weights: np.ndarray, head: np.ndarray | None, tracking: str | None,
                         stamps: PoseStamps) -> int:
        """Queue one blendshape pose (52 ARKit weights, head yaw/pitch/roll); returns its seq."""
        return self._queue(("blendshapes", np.asarray(weights, np.float32), head, tracking), stamps)

    def _queue(self, pose: tuple[Any, ...], stamps: PoseStamps) -> int:
        if self._failure is not None:
            raise self._failure
        self._seq += 1
        self._outbox.put((self._seq, pose, stamps))
        try:
            self._wake_tx.send(b"", zmq.NOBLOCK)
        except zmq.Again:  # the I/O thread has wake-ups queued already; it flushes on each
            pass
        time.sleep(0)  # let the I/O thread take the GIL now (the caller's next calls may hold it for ms)
        return self._seq

    @property
    def outstanding(self) -> int:
        return len(self._pending) + self._outbox.qsize()

    def _run(self) -> None:
        poller = zmq.Poller()
        daemon_socket = self.client._sock  # the client's DEALER; only this thread touches it from now on
        poller.register(daemon_socket, zmq.POLLIN)
        poller.register(self._wake_rx, zmq.POLLIN)
        try:
            while self._receive():  # anything the client buffered while binding
                pass
            while not self._stop.is_set():
                events = dict(poller.poll(_IDLE_POLL_MS))
                while self._wake_rx.poll(0):
                    self._wake_rx.recv()
                self._flush_outbox()
                if daemon_socket in events:
                    while self._receive():
                        pass
        except BaseException as exc:  # noqa: BLE001 (surfaced to the tracker thread by send/close)
            self._failure = exc
            log.error("daemon connection failed: %s", exc)

    def _flush_outbox(self) -> None:
        while True:
            try:
                seq, pose, stamps = self._outbox.get_nowait()
            except queue.Empty:
                return
            kind, values, extra, tracking = pose
            if kind == "landmarks":
                self.client.send_pose(values, extra, seq=seq, tracking=tracking)
            else:
                self.client.send_blendshapes(values, extra, seq=seq, tracking=tracking)
            stamps.sent = time.perf_counter()
            self._pending[seq] = stamps
            self.sent += 1

    def _receive(self) -> bool:
        """Handle one message that is already there; False when there is none."""
        try:
            received = self.client.recv_frame(timeout_s=0.0)
        except ClientTimeout:
            return False
        except FacecastError as exc:
            self.errors += 1
            if exc.seq is not None:
                self._pending.pop(exc.seq, None)
            self._error_names[exc.name] += 1
            count = self._error_names[exc.name]
            if count == 1 or count % 100 == 0:
                log.warning("daemon refused a pose (%d so far): %s", count, exc)
            return True
        now = time.perf_counter()
        for seq in [s for s in self._pending if s < received.seq]:  # superseded: no frame will come
            del self._pending[seq]
        stamps = self._pending.pop(received.seq, None)
        if stamps is None:
            return True
        timings = received.message.timings
        frame = DeliveredFrame(seq=received.seq, image=received.image, stamps=stamps, received=now,
                               superseded=received.message.superseded,
                               render_ms=(timings.get("render_end", 0.0) - timings.get("render_start", 0.0)) * 1e3)
        if self.on_frame is not None:
            self.on_frame(frame)
        frame.delivered = time.perf_counter()
        self.frames += 1
        self.superseded += frame.superseded
        self.stats.add(frame)
        self.latest = frame
        return True

    def close(self, drain_timeout_s: float = 5.0) -> None:
        """Wait (up to ``drain_timeout_s``) for the frames of poses in flight, then stop and
        end the session."""
        deadline = time.monotonic() + drain_timeout_s
        while self._thread.is_alive() and self.outstanding and time.monotonic() < deadline:
            time.sleep(0.005)
        if self.outstanding and self._thread.is_alive():
            log.warning("%d pose(s) got no frame within %.1f s", self.outstanding, drain_timeout_s)
        self._stop.set()
        self._thread.join(timeout=5.0)
        self._wake_tx.close(linger=0)
        self._wake_rx.close(linger=0)
        self.client.close()
        if self._failure is not None:
            raise self._failure

    def __enter__(self) -> PoseLink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(drain_timeout_s=0.0 if exc[0] is not None else 5.0)
