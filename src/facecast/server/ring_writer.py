"""Daemon side of the shared-memory texture ring (layout: facecast.protocol.shm_layout).

Only the daemon's I/O thread touches a writer, so writes never race with unlinking.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from multiprocessing import shared_memory

import cv2
import numpy as np

from facecast.protocol.shm_layout import (
    LOCK,
    OFF_STATE,
    OFF_WRITE_COUNT,
    SLOT,
    STATE_CLOSED,
    WRITE_STATE,
    RingLayout,
    memory_fence,
)

log = logging.getLogger(__name__)


class RingTruncated(OSError):
    """Another process shrank the ring's file: writing to it would fault (SIGBUS)."""


def ring_path(name: str) -> str | None:
    """Where another process finds the ring: the file under /dev/shm on Linux, the
    named mapping itself on Windows (None), the POSIX name on macOS."""
    if sys.platform.startswith("linux"):
        return f"/dev/shm/{name}"
    if sys.platform == "darwin":
        return f"/{name}"
    return None


class ShmRingWriter:
    def __init__(self, name: str, layout: RingLayout) -> None:
        self.name = name
        self.layout = layout
        self._shm = shared_memory.SharedMemory(name=name, create=True, size=layout.total_bytes)
        buf = self._shm.buf
        buf[: layout.data_offset] = bytes(layout.data_offset)
        header = layout.pack_header()
        buf[: len(header)] = header
        self._slots = [
            np.ndarray((layout.height, layout.width, layout.channels), np.uint8, buffer=buf,
                       offset=layout.pixels_offset(i), strides=(layout.stride, layout.channels, 1))
            for i in range(layout.slot_count)
        ]
        self._locks = [0] * layout.slot_count
        self.write_count = 0
        self._closed = False
        log.debug("ring %s created (%d bytes)", name, layout.total_bytes)

    @property
    def size(self) -> int:
        return self._shm.size

    def intact(self) -> bool:
        """Whether the ring's file still has its full size. Any same-user process can
        truncate a POSIX shared-memory file; touching a mapped page past its end kills the
        process with SIGBUS, so the size is checked before every write (Windows mappings
        cannot shrink)."""
        fd = getattr(self._shm, "_fd", -1)
        return fd < 0 or os.fstat(fd).st_size >= self.layout.total_bytes

    def write(self, rgba: np.ndarray, frame_seq: int, render_end: float) -> tuple[int, int]:
        """Copy one RGBA frame into the next slot (seqlock-protected). Returns (slot, slot_seq)."""
        lay = self.layout
        if rgba.shape != (lay.height, lay.width, 4):
            raise ValueError(f"frame {rgba.shape} does not fit a {lay.width}x{lay.height} ring")
        if not self.intact():
            raise RingTruncated(f"ring {self.name} was truncated by another process")
        slot = self.write_count % lay.slot_count
        entry = lay.slot_entry_offset(slot)
        buf = self._shm.buf
        lock = self._locks[slot] + 1
        LOCK.pack_into(buf, entry, lock)  # odd: being written
        memory_fence()
        dst = self._slots[slot]
        if lay.pixel_format == "rgba8":
            np.copyto(dst, rgba)
        elif lay.pixel_format == "bgra8":
            cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA, dst=dst)
        else:
            np.copyto(dst, rgba[..., :3])
        SLOT.pack_into(buf, entry, lock, frame_seq, render_end, time.time())
        memory_fence()
        lock += 1
        LOCK.pack_into(buf, entry, lock)  # even: stable
        self._locks[slot] = lock
        self.write_count += 1
        WRITE_STATE.pack_into(buf, OFF_WRITE_COUNT, self.write_count, slot)
        return slot, lock

    def close(self) -> None:
        """Mark the ring closed, release and unlink it (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.intact():  # (a truncated file would fault on this write too)
                self._shm.buf[OFF_STATE:OFF_STATE + 4] = STATE_CLOSED.to_bytes(4, "little")
        except (ValueError, TypeError, OSError):  # buffer already released, or the file is gone
            pass
        self._slots = []
        self._shm.close()
        try:
            self._shm.unlink()
        except FileNotFoundError:
            log.warning("ring %s was already unlinked by someone else", self.name)
        log.debug("ring %s unlinked", self.name)


def stop_resource_tracker() -> None:
    """Stop and reap Python's shared-memory resource tracker process, after every ring is
    unlinked, so a clean daemon exit leaves no orphaned child behind (it would linger as
    a zombie where PID 1 does not reap). The tracker is what unlinks rings if the daemon
    is killed outright, so this runs only on a clean exit. Uses a private CPython API;
    on a Python without it, the tracker exits by itself when the daemon does."""
    from multiprocessing import resource_tracker

    tracker = getattr(resource_tracker, "_resource_tracker", None)
    stop = getattr(tracker, "_stop", None)
    if stop is not None and getattr(tracker, "_pid", None) is not None:
        try:
            stop()
        except (OSError, ChildProcessError) as exc:
            log.debug("resource tracker already gone: %s", exc)
