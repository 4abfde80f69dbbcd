"""`facecast bench soak`: many clients streaming poses at a fixed rate against one daemon for
a long time, to show that memory stays flat, no session starves, and every pose that gets
no frame was dropped by the latest-wins rule and counted.

One process drives every session (one DEALER socket each, one ``zmq.Poller``). Each
session sends a pose of the procedural performance of its character on its own schedule
(``fps``, phase-shifted so the sessions do not send in lock step), pipelined: it never
waits for replies, and after a stall it skips the ticks it missed instead of bursting.
Every ``sample_interval_s`` the daemon's resident memory (through a callable, since the
daemon may be another process) and its ``stats`` are recorded. At the end the senders
stop, the last frames drain, and each session's own counters are fetched from the daemon
so the client-side and daemon-side accounting can be compared.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import zmq

from facecast.config import AppConfig, add_knob_flags
from facecast.protocol import (
    Bind, Bound, Bye, CharacterList, Characters, Error, Frame, Goodbye, Hello, Message, Pose, Stats,
    StatsReport, Welcome, decode, encode,
)
from facecast.tracking.procedural import procedural_performance

log = logging.getLogger(__name__)

PERFORMANCE_SECONDS = 8.0  # each character's procedural performance loops with this period
DRAIN_TIMEOUT_S = 10.0
STALL_TIMEOUT_S = 30.0  # no reply at all for this long: the daemon is gone or wedged
_MAX_REPLY = 1 << 30
_DAEMON_KEYS = ("poses", "frames", "superseded", "errors", "messages", "replies_dropped_full",
                "replies_dropped_gone", "frames_orphaned", "sessions_timed_out")


@dataclass
class ClientReport:
    index: int
    character: str
    session: str = ""  # the daemon's session id (from `welcome`)
    sent: int = 0
    frames: int = 0
    superseded: int = 0  # sum of the frames' `superseded`
    errors: int = 0  # error replies
    in_flight_at_end: int = 0  # poses with neither a frame nor a later frame after the drain
    unanswered: int = 0  # poses the client saw skipped (a later seq's frame came first)
    out_of_order: int = 0  # frames for a seq not outstanding (duplicate or older than the last)
    bad_frames: int = 0  # frames of the wrong size or character
    send_slips: int = 0  # ticks the driver itself missed (its own load, not the daemon's)
    fps: float = 0.0  # frames received per second of the run
    latency_p50_ms: float = 0.0  # send of a seq -> its frame
    latency_p99_ms: float = 0.0
    max_gap_ms: float = 0.0  # longest time between two frames
    max_gap_steady_ms: float = 0.0  # the same, after the warm-up
    gap_p99_steady_ms: float = 0.0  # 99th percentile of the time between frames, after the warm-up
    daemon_session: dict[str, int] = field(default_factory=dict)  # the daemon's counters for it

    @property
    def accounted(self) -> bool:
        return self.frames + self.superseded + self.errors + self.in_flight_at_end == self.sent


@dataclass
class Sample:
    t_s: float
    rss_bytes: int | None
    daemon: dict[str, Any] = field(default_factory=dict)  # counters, sessions, latency of `stats`


@dataclass
class SoakReport:
    endpoint: str
    seconds: float
    fps_target: float
    size: int
    warmup_s: float
    clients: list[ClientReport]
    samples: list[Sample]
    daemon_final: dict[str, Any]
    latency_p50_ms: float = 0.0  # over every frame of every client
    latency_p99_ms: float = 0.0
    rss_baseline_bytes: int | None = None  # first sample at or after the warm-up
    rss_max_deviation: float | None = None  # max |rss - baseline| / baseline after the warm-up
    rss_max_growth: float | None = None  # max (rss - baseline) / baseline after the warm-up
    rss_slope_mb_per_min: float | None = None  # least-squares slope after the warm-up

    @property
    def fairness(self) -> float:
        fps = [c.fps for c in self.clients]
        return min(fps) / max(fps) if fps and max(fps) > 0 else 0.0

    def totals(self) -> dict[str, int]:
        keys = ("sent", "frames", "superseded", "errors", "in_flight_at_end", "unanswered", "out_of_order",
                "bad_frames", "send_slips")
        return {k: sum(getattr(c, k) for c in self.clients) for k in keys}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(fairness=self.fairness, totals=self.totals())
        return out


class _Driver:
    """One session: its socket, schedule, outstanding seqs and tallies."""

    def __init__(self, index: int, sock: zmq.Socket, character: str, size: int) -> None:
        self.sock = sock
        self.size = size
        self.report = ClientReport(index=index, character=character)
        self.poses: np.ndarray = np.empty((0, 478, 3), np.float32)
        self.frame_index = 0
        self.seq = 0
        self.next_due = 0.0
        self.sent_at: collections.OrderedDict[int, float] = collections.OrderedDict()
        self.latencies: list[float] = []
        self.last_frame_at: float | None = None
        self.steady_from = float("inf")  # perf_counter time at which the warm-up ends
        self.steady_gaps: list[float] = []
        self.last_seq = 0
        self.stats: StatsReport | None = None

    def send(self, now: float) -> None:
        self.seq += 1
        pose = self.poses[self.frame_index % len(self.poses)]
        self.frame_index += 1
        self.sock.send(encode(Pose(seq=self.seq, t_send=time.time(), landmarks=pose)))
        self.sent_at[self.seq] = now
        self.report.sent += 1

    def on_message(self, msg: Message, now: float) -> None:
        r = self.report
        if isinstance(msg, Frame):
            if msg.seq not in self.sent_at:
                r.out_of_order += 1
                return
            while True:  # every older seq still outstanding was dropped by the daemon
                seq, t_sent = self.sent_at.popitem(last=False)
                if seq == msg.seq:
                    break
                r.unanswered += 1
            r.frames += 1
            r.superseded += msg.superseded
            if msg.width != self.size or msg.height != self.size or msg.character != r.character \
                    or len(msg.data) != self.size * self.size * 4:
                r.bad_frames += 1
            self.latencies.append(now - t_sent)
            if self.last_frame_at is not None:
                gap = (now - self.last_frame_at) * 1000.0
                r.max_gap_ms = max(r.max_gap_ms, gap)
                if self.last_frame_at >= self.steady_from:
                    self.steady_gaps.append(gap)
            self.last_frame_at, self.last_seq = now, msg.seq
        elif isinstance(msg, Error):
            r.errors += 1
            if msg.seq is not None:
                self.sent_at.pop(msg.seq, None)
            log.warning("client %d: error reply %s: %s (seq %s)", r.index, msg.name, msg.message, msg.seq)
        elif isinstance(msg, StatsReport):
            self.stats = msg


def _request(sock: zmq.Socket, message: Message, reply_type: type[Message], timeout_s: float = 30.0) -> Any:
    sock.send(encode(message))
    if not sock.poll(int(timeout_s * 1000)):
        raise RuntimeError(f"no {reply_type.TYPE} reply within {timeout_s:.0f} s")
    reply = decode(sock.recv(), max_bytes=_MAX_REPLY)
    if isinstance(reply, Error):
        raise RuntimeError(f"{message.TYPE} refused: {reply.name}: {reply.message}")
    if not isinstance(reply, reply_type):
        raise RuntimeError(f"expected {reply_type.TYPE}, got {reply.TYPE}")
    return reply


def _daemon_summary(report: StatsReport) -> dict[str, Any]:
    d = report.daemon
    counters = d.get("counters", {})
    out: dict[str, Any] = {k: int(counters.get(k, 0)) for k in _DAEMON_KEYS}
    out.update(sessions=d.get("sessions"), mean_batch=d.get("mean_batch"), batch_sizes=d.get("batch_sizes", {}),
               errors_by_code=d.get("errors", {}),
               latency_p50_ms=d.get("latency", {}).get("p50_ms"), latency_p99_ms=d.get("latency", {}).get("p99_ms"))
    return out


def _rss_figures(report: SoakReport) -> None:
    series = [(s.t_s, s.rss_bytes) for s in report.samples if s.rss_bytes is not None]
    after = [(t, rss) for t, rss in series if t >= report.warmup_s]
    if not after:
        return
    base = after[0][1]
    report.rss_baseline_bytes = base
    report.rss_max_deviation = max(abs(rss - base) for _, rss in after) / base
    report.rss_max_growth = max(rss - base for _, rss in after) / base
    if len(after) >= 2:
        t = np.array([x for x, _ in after]) / 60.0
        mb = np.array([y for _, y in after]) / 2**20
        report.rss_slope_mb_per_min = float(np.polyfit(t, mb, 1)[0])


def run_soak(endpoint: str, clients: int = 16, fps: float = 30.0, seconds: float = 600.0, size: int = 128,
             characters: Sequence[str] | None = None, sample_rss: Callable[[], int] | None = None,
             sample_interval_s: float = 10.0, warmup_s: float | None = None) -> SoakReport:
    """Drive ``clients`` sessions at ``fps`` poses/s each for ``seconds`` against the daemon at
    ``endpoint``; characters are dealt round-robin (None: every character the daemon lists).
    ``warmup_s`` defaults to 10 % of the run, at most 60 s."""
    warmup_s = min(60.0, 0.1 * seconds) if warmup_s is None else warmup_s
    period = 1.0 / fps
    ctx = zmq.Context()
    socks: list[zmq.Socket] = []

    def socket() -> zmq.Socket:
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVHWM, 10000)
        s.setsockopt(zmq.SNDHWM, 10000)
        s.connect(endpoint)
        socks.append(s)
        return s

    try:
        monitor = socket()
        _request(monitor, Hello(client="facecast-soak/monitor"), Welcome)
        names = list(characters) if characters else _request(monitor, Characters(), CharacterList).characters
        if not names:
            raise RuntimeError("the daemon lists no characters")
        drivers = [_Driver(i, socket(), names[i % len(names)], size) for i in range(clients)]
        performances: dict[str, np.ndarray] = {}
        for d in drivers:
            d.report.session = _request(d.sock, Hello(client=f"facecast-soak/{d.report.index}"), Welcome).session
            bound: Bound = _request(d.sock, Bind(character=d.report.character, width=size, height=size,
                                                 pixel_format="rgba8"), Bound)
            if d.report.character not in performances:
                performances[d.report.character] = procedural_performance(
                    bound.neutral, seconds=PERFORMANCE_SECONDS, fps=fps)
            d.poses = performances[d.report.character]
            d.frame_index = (d.report.index * 37) % len(d.poses)  # clients of one character differ
        log.info("soak: %d clients x %.0f fps for %.0f s, %dx%d, characters %s", clients, fps, seconds, size, size,
                 sorted(performances))

        poller = zmq.Poller()
        by_sock: dict[zmq.Socket, _Driver | None] = {monitor: None}
        poller.register(monitor, zmq.POLLIN)
        for d in drivers:
            poller.register(d.sock, zmq.POLLIN)
            by_sock[d.sock] = d
        samples: list[Sample] = []
        monitor_waiting: list[Sample] = []

        def on_ready(sock: zmq.Socket, now: float) -> int:
            n = 0
            for _ in range(64):
                try:
                    raw = sock.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                n += 1
                msg = decode(raw, max_bytes=_MAX_REPLY)
                driver = by_sock[sock]
                if driver is not None:
                    driver.on_message(msg, now)
                elif isinstance(msg, StatsReport) and monitor_waiting:
                    monitor_waiting.pop(0).daemon = _daemon_summary(msg)
            return n

        def sample(t: float) -> None:
            s = Sample(t_s=t, rss_bytes=sample_rss() if sample_rss is not None else None)
            samples.append(s)
            monitor_waiting.append(s)
            monitor.send(encode(Stats()))

        start = time.perf_counter()
        end = start + seconds
        for d in drivers:  # spread the sessions' phases over one period
            d.next_due = start + period * d.report.index / clients
            d.steady_from = start + warmup_s
        next_sample, last_reply, next_log = start, start, start + sample_interval_s
        while True:
            now = time.perf_counter()
            if now >= end:
                break
            for d in drivers:
                if now >= d.next_due:
                    d.send(now)
                    d.next_due += period
                    if d.next_due <= now:  # the driver fell behind: skip, never burst
                        missed = math.floor((now - d.next_due) / period) + 1
                        d.report.send_slips += missed
                        d.next_due += missed * period
            if now >= next_sample:
                sample(now - start)
                next_sample += sample_interval_s
            if now >= next_log and samples and samples[-1].daemon:
                next_log += sample_interval_s
                _log_progress(now - start, drivers, samples[-1])
            wake = min(min(d.next_due for d in drivers), next_sample, end)
            for sock, _ in poller.poll(max(0, math.ceil((wake - time.perf_counter()) * 1000))):
                if on_ready(sock, time.perf_counter()):
                    last_reply = time.perf_counter()
            if time.perf_counter() - last_reply > STALL_TIMEOUT_S:
                raise RuntimeError(f"no reply from the daemon for {STALL_TIMEOUT_S:.0f} s at t={now - start:.0f} s")
        run_s = time.perf_counter() - start

        drain_end = time.perf_counter() + DRAIN_TIMEOUT_S
        while any(d.sent_at for d in drivers) and time.perf_counter() < drain_end:
            for sock, _ in poller.poll(100):
                on_ready(sock, time.perf_counter())
        sample(run_s)
        for d in drivers:  # each session's own counters, in order after its last frame
            d.sock.send(encode(Stats()))
        stats_end = time.perf_counter() + DRAIN_TIMEOUT_S
        while (any(d.stats is None for d in drivers) or monitor_waiting) and time.perf_counter() < stats_end:
            for sock, _ in poller.poll(100):
                on_ready(sock, time.perf_counter())
        daemon_final = samples[-1].daemon
        for d in drivers + [None]:
            sock = monitor if d is None else d.sock
            try:
                _request(sock, Bye(), Goodbye, timeout_s=5.0)
            except RuntimeError as exc:
                log.warning("bye: %s", exc)
    finally:
        for s in socks:
            s.close(linger=0)
        ctx.term()

    all_latencies: list[float] = []
    for d in drivers:
        r = d.report
        r.in_flight_at_end = len(d.sent_at)
        r.fps = r.frames / run_s
        if d.latencies:
            lat = np.array(d.latencies) * 1000.0
            r.latency_p50_ms, r.latency_p99_ms = (float(x) for x in np.percentile(lat, [50, 99]))
        all_latencies.extend(d.latencies)
        if d.steady_gaps:
            r.max_gap_steady_ms = float(max(d.steady_gaps))
            r.gap_p99_steady_ms = float(np.percentile(d.steady_gaps, 99))
        if d.stats is not None:
            r.daemon_session = {k: int(v) for k, v in d.stats.session.get("counters", {}).items()}
    report = SoakReport(endpoint=endpoint, seconds=run_s, fps_target=fps, size=size, warmup_s=warmup_s,
                        clients=[d.report for d in drivers], samples=samples, daemon_final=daemon_final)
    if all_latencies:
        p50, p99 = np.percentile(np.array(all_latencies) * 1000.0, [50, 99])
        report.latency_p50_ms, report.latency_p99_ms = float(p50), float(p99)
    _rss_figures(report)
    return report


def _log_progress(t: float, drivers: list[_Driver], s: Sample) -> None:
    frames = [d.report.frames for d in drivers]
    rss = f"{s.rss_bytes / 2**20:.1f} MiB" if s.rss_bytes is not None else "n/a"
    log.info("soak t=%.0f s: rss %s, daemon poses %d frames %d superseded %d errors %d; per client frames %d..%d",
             t, rss, s.daemon.get("poses", 0), s.daemon.get("frames", 0), s.daemon.get("superseded", 0),
             s.daemon.get("errors", 0), min(frames), max(frames))


def format_soak(report: SoakReport) -> str:
    cols = ("client", "character", "sent", "frames", "superseded", "errors", "in_flight", "fps", "p50_ms",
            "p99_ms", "max_gap_ms", "steady_gap_p99/max", "slips")
    lines = ["{:>6} {:<14} {:>7} {:>7} {:>10} {:>6} {:>9} {:>6} {:>7} {:>7} {:>10} {:>18} {:>6}".format(*cols)]
    for c in report.clients:
        lines.append(f"{c.index:>6} {c.character:<14} {c.sent:>7} {c.frames:>7} {c.superseded:>10} {c.errors:>6} "
                     f"{c.in_flight_at_end:>9} {c.fps:>6.1f} {c.latency_p50_ms:>7.1f} {c.latency_p99_ms:>7.1f} "
                     f"{c.max_gap_ms:>10.1f} {c.gap_p99_steady_ms:>8.1f} /{c.max_gap_steady_ms:>8.1f} "
                     f"{c.send_slips:>6}")
    t = report.totals()
    fps = sorted(c.fps for c in report.clients)
    lines.append(f"{len(report.clients)} clients x {report.fps_target:.0f} fps for {report.seconds:.0f} s at "
                 f"{report.size}²: sent {t['sent']}, frames {t['frames']}, superseded {t['superseded']}, "
                 f"errors {t['errors']}, in flight at end {t['in_flight_at_end']}")
    lines.append(f"achieved fps per client min {fps[0]:.1f} / median {float(np.median(fps)):.1f} / max {fps[-1]:.1f} "
                 f"(fairness {report.fairness:.2f}); latency p50 {report.latency_p50_ms:.1f} ms, "
                 f"p99 {report.latency_p99_ms:.1f} ms")
    if report.rss_baseline_bytes is not None:
        lines.append(f"daemon RSS at warm-up end ({report.warmup_s:.0f} s) {report.rss_baseline_bytes / 2**20:.1f} MiB, "
                     f"max deviation after {100 * (report.rss_max_deviation or 0):.2f} %, "
                     f"slope {report.rss_slope_mb_per_min or 0:+.3f} MiB/min")
    d = report.daemon_final
    if d:
        lines.append(f"daemon counters: poses {d['poses']}, frames {d['frames']}, superseded {d['superseded']}, "
                     f"errors {d['errors']}, replies dropped {d['replies_dropped_full'] + d['replies_dropped_gone']}, "
                     f"mean batch {d.get('mean_batch') or 0:.2f}")
    return "\n".join(lines)


# ---------------------------------------------------------------------- CLI
def add_soak_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `facecast bench soak` (besides the common --config/--set/-v and --store)."""
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--fps", type=float, default=30.0, help="poses per second per client")
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--size", type=int, default=128, help="frame side in pixels")
    parser.add_argument("--characters", nargs="+", help="characters dealt to the clients (default: all)")
    add_knob_flags(parser, "render.renderer")
    parser.add_argument("--connect", help="soak a running daemon at this endpoint instead of starting one")
    parser.add_argument("--daemon-pid", type=int, help="with --connect: the daemon's pid, to sample its memory")
    parser.add_argument("--sample-interval", type=float, default=10.0, help="seconds between RSS/stats samples")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")


def _rss_of(pid: int) -> Callable[[], int]:
    import psutil

    proc = psutil.Process(pid)
    return lambda: int(proc.memory_info().rss)


def run_soak_command(cfg: AppConfig, args: argparse.Namespace) -> int:
    from facecast.apps.bench.processes import start_bench_daemon

    def soak(endpoint: str, rss: Callable[[], int] | None) -> SoakReport:
        return run_soak(endpoint, clients=args.clients, fps=args.fps, seconds=args.seconds, size=args.size,
                        characters=args.characters, sample_rss=rss, sample_interval_s=args.sample_interval)

    if args.connect:
        report = soak(args.connect, _rss_of(args.daemon_pid) if args.daemon_pid else None)
    else:
        with start_bench_daemon(cfg, args) as daemon:
            report = soak(daemon.endpoint, _rss_of(daemon.proc.pid))
    sys.stdout.write(format_soak(report) + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report.to_dict(), indent=2))
    bad = [c.index for c in report.clients if not c.accounted or c.errors or c.fps <= 0]
    if bad:
        log.error("clients %s: unaccounted poses, error replies or no frames", bad)
        return 1
    return 0
