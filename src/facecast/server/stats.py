"""Daemon counters and latency percentiles (what `stats` replies and the periodic log show)."""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

import numpy as np


class LatencyWindow:
    """The last ``capacity`` samples (seconds); percentiles in milliseconds."""

    def __init__(self, capacity: int = 4096) -> None:
        self._samples: collections.deque[float] = collections.deque(maxlen=capacity)

    def add(self, seconds: float) -> None:
        self._samples.append(seconds)

    def summary(self) -> dict[str, float]:
        if not self._samples:
            return {"count": 0}
        arr = np.fromiter(self._samples, dtype=np.float64) * 1000.0
        p50, p90, p99 = np.percentile(arr, [50, 90, 99])
        return {"count": int(arr.size), "p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99), "max_ms": float(arr.max())}


class DaemonStats:
    """Counters shared by the I/O thread and the render thread (guarded by a lock)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self.counters: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.batch_sizes: collections.Counter[int] = collections.Counter()
        self.latency = LatencyWindow()  # daemon receive -> reply sent
        self.end_to_end = LatencyWindow()  # client send -> reply sent (same-host clocks)
        self.render = LatencyWindow()  # render start -> end, per batch
        self._interval_frames = 0
        self._interval_start = time.monotonic()

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counters[name] += n

    def error(self, code_name: str) -> None:
        with self._lock:
            self.errors[code_name] += 1
            self.counters["errors"] += 1

    def frame_sent(self, timings: dict[str, float]) -> None:
        with self._lock:
            self.counters["frames"] += 1
            self._interval_frames += 1
            self.latency.add(timings["reply"] - timings["receive"])
            if timings.get("client_send", 0.0) > 0.0:
                self.end_to_end.add(timings["reply"] - timings["client_send"])

    def batch_rendered(self, size: int, seconds: float) -> None:
        with self._lock:
            self.batch_sizes[size] += 1
            self.render.add(seconds)

    def interval(self) -> tuple[float, dict[str, float]]:
        """fps since the previous call, and the current receive->reply latency summary."""
        with self._lock:
            now = time.monotonic()
            fps = self._interval_frames / max(now - self._interval_start, 1e-9)
            self._interval_frames, self._interval_start = 0, now
            return fps, self.latency.summary()

    def snapshot(self, sessions: int) -> dict[str, Any]:
        with self._lock:
            batches = sum(self.batch_sizes.values())
            mean_batch = sum(k * v for k, v in self.batch_sizes.items()) / batches if batches else 0.0
            return {
                "uptime_s": time.time() - self.started,
                "sessions": sessions,
                "counters": dict(self.counters),
                "errors": dict(self.errors),
                "latency": self.latency.summary(),
                "end_to_end": self.end_to_end.summary(),
                "render": self.render.summary(),
                "batches": batches,
                "mean_batch": mean_batch,
                "batch_sizes": {str(k): v for k, v in sorted(self.batch_sizes.items())},  # size -> batches
            }
