"""Sessions: one per client identity, with what it bound and its own counters."""

from __future__ import annotations

import collections
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facecast.server.render_jobs import CharacterRef, OutputSpec
from facecast.server.reply_budget import ReplyBudget
from facecast.server.ring_writer import ShmRingWriter


@dataclass
class Binding:
    """What a session's `bind` chose. ``id`` is unique per bind, so a frame rendered for an
    earlier bind of the session is recognised; ``output`` is what render jobs carry."""

    id: int
    character: CharacterRef
    output: OutputSpec
    neutral: np.ndarray
    ring: ShmRingWriter | None = None  # output mode "shm"

    def close(self) -> None:
        if self.ring is not None:
            self.ring.close()


@dataclass
class RateLimiter:
    """Token bucket: ``rate`` poses per second, bursts of a quarter second (at least 10)."""

    tokens: float = -1.0  # -1: full on first use
    last: float = 0.0

    def take(self, rate: float, now: float) -> bool:
        capacity = max(10.0, rate / 4.0)
        if self.tokens < 0:
            self.tokens = capacity
        else:
            self.tokens = min(capacity, self.tokens + (now - self.last) * rate)
        self.last = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


@dataclass
class Session:
    identity: bytes  # the ROUTER routing id
    envelope: list[bytes]  # frames to put before a reply (identity, and b"" for REQ peers)
    peer_key: str = ""  # the client's CurveZMQ public key (Z85) when CurveZMQ is on
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    client: str = ""
    binding: Binding | None = None
    last_seen: float = field(default_factory=time.monotonic)
    superseded_since_frame: int = 0
    rate: RateLimiter = field(default_factory=RateLimiter)
    counters: collections.Counter[str] = field(default_factory=collections.Counter)
    replies: ReplyBudget | None = None  # frame bytes queued for the peer (made at its first frame)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "client": self.client, "counters": dict(self.counters)}
        if self.binding is not None:
            b = self.binding
            out.update(character=b.character.name, width=b.output.width, height=b.output.height,
                       pixel_format=b.output.pixel_format)
        return out


class SessionTable:
    """Sessions by routing identity; touched only by the daemon's I/O thread."""

    def __init__(self, max_sessions: int) -> None:
        self.max_sessions = max_sessions
        self._by_identity: dict[bytes, Session] = {}

    def __len__(self) -> int:
        return len(self._by_identity)

    def get(self, identity: bytes) -> Session | None:
        return self._by_identity.get(identity)

    def touch(self, identity: bytes, envelope: list[bytes]) -> Session | None:
        """The session of ``identity`` (None if it has none), marked as just heard from."""
        session = self._by_identity.get(identity)
        if session is not None:
            session.envelope = envelope
            session.last_seen = time.monotonic()
        return session

    def create(self, identity: bytes, envelope: list[bytes]) -> Session | None:
        """A new session for ``identity``; None when the table is full."""
        if len(self._by_identity) >= self.max_sessions:
            return None
        session = self._by_identity[identity] = Session(identity=identity, envelope=envelope)
        return session

    def all(self) -> list[Session]:
        return list(self._by_identity.values())

    def remove(self, identity: bytes) -> Session | None:
        return self._by_identity.pop(identity, None)

    def expired(self, timeout_s: float, unbound_timeout_s: float | None = None) -> list[Session]:
        """Sessions silent for ``timeout_s``, and those never bound silent for ``unbound_timeout_s``."""
        now = time.monotonic()
        unbound = timeout_s if unbound_timeout_s is None else min(timeout_s, unbound_timeout_s)
        return [s for s in self._by_identity.values()
                if s.last_seen < now - (timeout_s if s.binding is not None else unbound)]
