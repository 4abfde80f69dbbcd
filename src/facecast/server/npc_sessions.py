"""NPC sessions: the daemon generates their poses itself (facecast.npc) at each one's frame
rate and feeds them to the same render path as client poses. Runs on the I/O thread: the
daemon loop calls ``due`` and polls no longer than ``seconds_to_next``.

Bounds: ``[npc] max_sessions`` NPCs at once (SESSION_LIMIT), ``[npc] max_audio_buffer_s``
of audio buffered per NPC (RATE_LIMITED), chunks of at most MAX_AUDIO_CHUNK_BYTES (the
protocol's TOO_LARGE). After a stall the generator catches up by stepping its idle motion,
at most one second per call, and only the latest pose is rendered (latest-wins).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Hashable

import numpy as np

from facecast.config import NpcConfig
from facecast.npc import NpcAnimator
from facecast.protocol import Audio, ErrorCode, Npc, NpcState, ProtocolError

log = logging.getLogger(__name__)


@dataclass
class NpcSession:
    animator: NpcAnimator
    next_due: float  # time.monotonic() of the next frame
    line: int | None = None  # the dialogue line whose audio is playing
    rate: int = 0
    seq: int = 0  # frames generated (the last one's number is its frame reply's seq)


class NpcSessions:
    def __init__(self, config: NpcConfig) -> None:
        self.config = config
        self._by_key: dict[Hashable, NpcSession] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._by_key

    def state(self, key: Hashable) -> NpcState:
        npc = self._by_key.get(key)
        if npc is None:
            return NpcState(active=False, emotion="neutral", fps=0)
        a = npc.animator
        buffered = a.lips.buffered_samples() / npc.rate * 1000.0 if a.lips is not None and npc.rate else 0.0
        return NpcState(active=True, emotion=a.emotion_name, fps=int(a.fps), audio_buffered_ms=buffered)

    def command(self, key: Hashable, msg: Npc, neutral: np.ndarray) -> NpcState:
        """Start, update (emotion) or stop the NPC of session ``key``."""
        npc = self._by_key.get(key)
        if msg.stop:
            self.stop(key)
        elif npc is None:
            if len(self._by_key) >= self.config.max_sessions:
                raise ProtocolError(ErrorCode.SESSION_LIMIT,
                                    f"the daemon already runs {self.config.max_sessions} NPC sessions")
            animator = NpcAnimator(neutral, fps=float(msg.fps), seed=msg.seed, emotion=msg.emotion,
                                   blinks_per_minute=self.config.blinks_per_minute)
            self._by_key[key] = NpcSession(animator=animator, next_due=time.monotonic())
        elif msg.emotion != npc.animator.emotion_name:
            npc.animator.set_emotion(msg.emotion)
        return self.state(key)

    def audio(self, key: Hashable, msg: Audio) -> None:
        npc = self._by_key.get(key)
        if npc is None:
            raise ProtocolError(ErrorCode.NOT_BOUND, "send npc (after bind) before audio")
        a = npc.animator
        if a.lips is None or msg.line != npc.line or msg.rate != npc.rate:
            a.start_audio(msg.rate, live=True)
            npc.line, npc.rate = msg.line, msg.rate
        assert a.lips is not None
        samples = len(msg.pcm) // 2
        limit = self.config.max_audio_buffer_s * msg.rate
        if a.lips.buffered_samples() + samples > limit:
            raise ProtocolError(ErrorCode.RATE_LIMITED,
                                f"{a.lips.buffered_samples() / msg.rate:.1f} s of audio already buffered for this NPC "
                                f"(at most {self.config.max_audio_buffer_s:g} s); send it as it plays")
        a.push_audio(np.frombuffer(msg.pcm, "<i2"))

    def stop(self, key: Hashable) -> None:
        self._by_key.pop(key, None)

    def seconds_to_next(self, now: float) -> float | None:
        if not self._by_key:
            return None
        return max(0.0, min(n.next_due for n in self._by_key.values()) - now)

    def due(self, now: float) -> list[tuple[Hashable, int, np.ndarray]]:
        """(session key, seq, 478 x 3 landmarks) of every NPC whose next frame is due."""
        out = []
        for key, npc in self._by_key.items():
            if npc.next_due > now:
                continue
            period = 1.0 / npc.animator.fps
            late = min(int((now - npc.next_due) / period), int(npc.animator.fps))  # frames missed (a stall)
            for _ in range(late):  # step through them (idle motion and audio keep time), render the latest
                npc.animator.next_frame()
            frame = npc.animator.next_frame()
            npc.next_due += (late + 1) * period
            if npc.next_due < now:  # stalled over a second: restart the clock
                npc.next_due = now + period
            npc.seq += late + 1  # seq = the generated frame's number, so a client can tell what it missed
            out.append((key, npc.seq, frame.landmarks))
        return out
