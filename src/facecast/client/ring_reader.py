"""Client side of the shared-memory texture ring (layout: facecast.protocol.shm_layout).

    with Client(endpoint) as client:
        bound = client.bind("default", output="shm")
        ring = RingReader(bound.shm["name"])
        frame = client.render(landmarks)          # the reply names slot and slot_seq
        image = ring.read(frame.message.slot, frame.message.slot_seq)

A reader may also poll ``read_latest()`` without waiting for replies (as a game engine
does once per rendered frame).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from multiprocessing import resource_tracker, shared_memory

import numpy as np

from facecast.protocol.shm_layout import LOCK, SLOT, STATE_CLOSED, memory_fence, parse_header


class RingReadError(RuntimeError):
    """The slot could not be read consistently (overwritten, or the ring closed)."""


@dataclass(frozen=True)
class RingFrame:
    image: np.ndarray  # H x W x C uint8 in the ring's pixel format (a copy)
    slot: int
    slot_seq: int
    frame_seq: int  # the seq of the pose this frame answers
    render_end: float
    written: float


class RingReader:
    def __init__(self, name: str) -> None:
        if sys.version_info >= (3, 13):
            self._shm = shared_memory.SharedMemory(name=name, track=False)
        else:
            self._shm = shared_memory.SharedMemory(name=name)
            # Python < 3.13 registers every attached segment with its resource tracker,
            # which would unlink the daemon's ring when this reader exits.
            resource_tracker.unregister(self._shm._name, "shared_memory")  # type: ignore[attr-defined]
        self.name = name
        try:
            header = parse_header(self._shm.buf, self._shm.size)
        except Exception:
            self._shm.close()
            raise
        self.layout = header.layout
        lay = self.layout
        self._views = [
            np.ndarray((lay.height, lay.width, lay.channels), np.uint8, buffer=self._shm.buf,
                       offset=lay.pixels_offset(i), strides=(lay.stride, lay.channels, 1))
            for i in range(lay.slot_count)
        ]

    def header(self):
        return parse_header(self._shm.buf)

    def read(self, slot: int, slot_seq: int | None = None, retries: int = 3) -> RingFrame:
        """Copy ``slot``; with ``slot_seq``, only the frame that was written with that lock
        value (RingReadError if the slot has been reused since)."""
        lay = self.layout
        if not 0 <= slot < lay.slot_count:
            raise RingReadError(f"slot {slot} out of range (ring has {lay.slot_count})")
        entry = lay.slot_entry_offset(slot)
        buf = self._shm.buf
        for _ in range(retries + 1):
            before = LOCK.unpack_from(buf, entry)[0]
            if before % 2:
                time.sleep(0)  # the writer is in this slot right now
                continue
            if slot_seq is not None and before != slot_seq:
                raise RingReadError(f"slot {slot} was reused (lock {before}, wanted {slot_seq})")
            memory_fence()
            image = self._views[slot].copy()
            lock, frame_seq, render_end, written = SLOT.unpack_from(buf, entry)
            memory_fence()
            if lock == before and LOCK.unpack_from(buf, entry)[0] == before:
                return RingFrame(image, slot, before, frame_seq, render_end, written)
        if int.from_bytes(buf[52:56], "little") == STATE_CLOSED:
            raise RingReadError("the ring was closed by the daemon")
        raise RingReadError(f"slot {slot} kept changing while being read")

    def read_latest(self) -> RingFrame | None:
        """The newest complete frame, or None before the first one."""
        for _ in range(self.layout.slot_count * 2):
            header = self.header()
            if header.write_count == 0:
                return None
            try:
                return self.read(header.latest_slot)
            except RingReadError:
                continue
        raise RingReadError("the writer outpaced every read attempt")

    def close(self) -> None:
        self._views = []
        self._shm.close()

    def __enter__(self) -> "RingReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
