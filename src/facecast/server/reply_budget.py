"""A bound on the frame bytes one session may have queued in ZeroMQ for its peer.

ZeroMQ bounds a peer's outgoing queue in *messages* (the high-water mark, 1000), not bytes:
a client that never reads, bound at 1024^2 RGBA, could make the daemon queue 1000 x 4 MiB.
ZeroMQ says nothing about one peer's queue, so the daemon estimates it: every frame whose
bytes cross the next ``probe_every`` boundary is sent zero-copy with a tracker, which
ZeroMQ marks done once the frame has left for the peer (messages to one peer leave in
order, so everything before a done probe has left too). Bytes queued are then at most the
bytes handed to ZeroMQ since the newest done probe.

A frame that would take the estimate past ``limit`` is held instead (one per session,
latest-wins: a newer frame replaces it, and the one it replaces counts as superseded), and
sent once the queue has drained. So a session holds at most ``limit`` bytes in ZeroMQ plus
one held frame, whatever its peer does. Tracking costs a zero-copy send per
``probe_every`` bytes (a quarter of the limit), not per frame.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import Any

import zmq


@dataclass
class HeldFrame:
    """A frame reply waiting for its session's queue to drain."""

    payload: bytes
    superseded: int  # the superseded count its reply carries
    timings: dict[str, float]


class ReplyBudget:
    """One session's estimate of its frame bytes queued in ZeroMQ, and its held frame."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, int(limit))
        self.probe_every = max(1, self.limit // 4)
        self.sent = 0  # bytes handed to ZeroMQ, in all
        self.left = 0  # of those, bytes known to have left (up to the newest done probe)
        self._next_probe = self.probe_every
        self._probes: collections.deque[tuple[zmq.MessageTracker, int]] = collections.deque()
        self.held: HeldFrame | None = None

    def queued(self) -> int:
        """Upper bound on this session's bytes still queued in ZeroMQ."""
        while self._probes and self._probes[0][0].done:
            _, through = self._probes.popleft()
            self.left = through
        return self.sent - self.left

    def fits(self, nbytes: int) -> bool:
        """May a reply of ``nbytes`` be sent now? (Always when nothing is queued, so a frame
        larger than the limit still goes out, one at a time.)"""
        queued = self.queued()
        return queued == 0 or queued + nbytes <= self.limit

    def probe_next(self, nbytes: int) -> bool:
        """Should a reply of ``nbytes`` be sent tracked (zero-copy)?"""
        return self.sent + nbytes >= self._next_probe

    def record(self, nbytes: int, tracker: Any = None) -> None:
        """A reply of ``nbytes`` was handed to ZeroMQ (``tracker``: when sent tracked)."""
        self.sent += nbytes
        if tracker is not None:
            self._probes.append((tracker, self.sent))
            self._next_probe = self.sent + self.probe_every
