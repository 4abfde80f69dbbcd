"""Latest-wins, dynamically batched scheduling of poses across sessions.

Each session has at most one pose *pending* and at most one *in flight* (being rendered).
A pose that arrives while another of the same session is pending replaces it (the old
one is superseded: dropped and counted), so a client sending faster than frames render
never builds a queue. The render thread takes up to ``max_batch`` pending poses of
different sessions, waiting at most ``max_wait_ms`` after the first one for others —
and not at all when no other *active* session (one that sent a pose within the last
``active_window_s``) could still add one, so idle sessions cost a lone stream nothing.
"""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass
from typing import Any, Hashable


@dataclass
class Job:
    key: Hashable  # the session's identity
    item: Any  # what the render thread needs (pose, binding, timestamps)


class LatestWinsScheduler:
    def __init__(self, max_batch: int, max_wait_ms: float, active_window_s: float = 1.0) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self.max_batch = max_batch
        self.max_wait_s = max(0.0, max_wait_ms) / 1000.0
        self.active_window_s = active_window_s
        self._cond = threading.Condition()
        self._pending: collections.OrderedDict[Hashable, Any] = collections.OrderedDict()
        self._in_flight: set[Hashable] = set()
        self._last_submit: dict[Hashable, float] = {}
        self._closed = False

    def submit(self, key: Hashable, item: Any) -> Any | None:
        """Queue ``item`` for ``key``; returns the superseded item, if one was pending."""
        with self._cond:
            self._last_submit[key] = time.monotonic()
            old = self._pending.pop(key, None)
            self._pending[key] = item  # (re)inserted at the end: FIFO across sessions
            self._cond.notify()
            return old

    def _ready_keys(self) -> list[Hashable]:
        return [k for k in self._pending if k not in self._in_flight]

    def _could_still_come(self, ready: list[Hashable]) -> int:
        """Active sessions that are neither in flight nor already ready."""
        cutoff = time.monotonic() - self.active_window_s
        busy = self._in_flight.union(ready)
        return sum(1 for k, t in self._last_submit.items() if t >= cutoff and k not in busy)

    def next_batch(self, timeout_s: float = 0.1) -> list[Job]:
        """Block up to ``timeout_s`` for work; return a batch (possibly empty)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._closed or self._ready_keys(), timeout=timeout_s):
                return []
            if self._closed:
                return []
            deadline = time.monotonic() + self.max_wait_s
            while True:
                ready = self._ready_keys()
                could_still_come = self._could_still_come(ready)
                remaining = deadline - time.monotonic()
                if len(ready) >= self.max_batch or could_still_come <= 0 or remaining <= 0:
                    break
                self._cond.wait(timeout=remaining)
                if self._closed:
                    return []
            batch = []
            for key in ready[: self.max_batch]:
                batch.append(Job(key, self._pending.pop(key)))
                self._in_flight.add(key)
            return batch

    def done(self, key: Hashable) -> None:
        """The render of ``key``'s in-flight pose finished; its pending pose may go next."""
        with self._cond:
            self._in_flight.discard(key)
            if key in self._pending:
                self._cond.notify()

    def claim(self, key: Hashable) -> bool:
        """Mark ``key`` in flight for a render outside the lanes (the I/O thread's fast
        path) — only when nothing at all is pending and ``key`` has nothing in flight, so
        it overtakes no one and its frames stay in order. ``done(key)`` ends it."""
        with self._cond:
            if self._closed or self._pending or key in self._in_flight:
                return False
            self._in_flight.add(key)
            self._last_submit[key] = time.monotonic()
            return True

    def retry(self, key: Hashable, item: Any) -> bool:
        """Hand an in-flight ``item`` back (its worker was lost): it becomes ``key``'s pending
        pose again, first in line — unless a newer pose of ``key`` is already pending, which
        then wins (latest-wins) and ``item`` is dropped. Returns whether it was re-queued."""
        with self._cond:
            self._in_flight.discard(key)
            if key in self._pending or key not in self._last_submit:  # superseded, or session gone
                self._cond.notify()
                return False
            self._pending[key] = item
            self._pending.move_to_end(key, last=False)
            self._cond.notify()
            return True

    def forget(self, key: Hashable) -> Any | None:
        """Session gone: drop its pending pose (returned) and stop counting it."""
        with self._cond:
            self._last_submit.pop(key, None)
            return self._pending.pop(key, None)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
