"""The shared-memory texture ring: its byte layout, defined once (docs/protocol.md §12).

One ring per session with output mode ``shm``. All integers little-endian.

Header, 64 bytes at offset 0:

    off  type     field
    0    char[4]  magic "FCRG"
    4    u32      version (1)
    8    u32      data_offset   where slot 0's pixels start (64-byte aligned)
    12   u32      width
    16   u32      height
    20   u32      pixel_format  1 = rgba8, 2 = rgb8, 3 = bgra8
    24   u32      stride        bytes per row (width * bytes per pixel; no padding in v1)
    28   u32      slot_count
    32   u64      slot_bytes    distance between slots (stride * height rounded up to 64)
    40   u64      write_count   frames written so far
    48   u32      latest_slot   slot of the newest complete frame (valid when write_count > 0)
    52   u32      state         1 = live, 2 = closed (the daemon is about to unlink the ring)
    56   u64      reserved

Slot table, ``slot_count`` entries of 32 bytes at offset 64:

    +0   u64      lock          seqlock: odd while the slot is written, even when stable
    +8   u64      frame_seq     the `seq` of the pose this frame answers
    +16  f64      render_end    seconds since the Unix epoch
    +24  f64      written       seconds since the Unix epoch, when the slot was complete

Pixels of slot i: ``data_offset + i * slot_bytes``, ``height`` rows of ``stride`` bytes.

Seqlock rule for readers: read ``lock`` (must be even), copy the pixels and the fields,
read ``lock`` again; the copy is good only if both reads are equal. A ``frame`` message
for a ring names ``slot`` and ``slot_seq``: the even lock value right after that frame was
written, so a reader also knows when the slot has since been reused.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass

MAGIC = b"FCRG"
VERSION = 1
HEADER_BYTES = 64
SLOT_ENTRY_BYTES = 32
ALIGN = 64
MIN_SLOTS, MAX_SLOTS, DEFAULT_SLOTS = 2, 16, 3

STATE_LIVE, STATE_CLOSED = 1, 2
PIXEL_FORMAT_CODES: dict[str, int] = {"rgba8": 1, "rgb8": 2, "bgra8": 3}
PIXEL_FORMAT_NAMES: dict[int, str] = {v: k for k, v in PIXEL_FORMAT_CODES.items()}
BYTES_PER_PIXEL: dict[str, int] = {"rgba8": 4, "rgb8": 3, "bgra8": 4}

HEADER = struct.Struct("<4sIIIIIIIQQIIQ")  # the 64-byte header, field by field as above
SLOT = struct.Struct("<QQdd")  # one slot-table entry
LOCK = struct.Struct("<Q")
WRITE_STATE = struct.Struct("<QI")  # write_count, latest_slot (offset 40)
OFF_WRITE_COUNT = 40
OFF_STATE = 52


_FENCE = threading.Lock()


def memory_fence() -> None:
    """A full memory barrier between the seqlock's lock accesses and the pixel copies.

    Python has no fence instruction; a lock round trip is an atomic read-modify-write,
    which orders every earlier load and store (string copies included) before every later
    one on x86 and ARM. Without it, the bulk copies that numpy hands to memcpy (which may
    use fast-string or non-temporal stores) are not guaranteed to be ordered against the
    lock word, and a reader could accept a torn frame."""
    with _FENCE:
        pass


class RingFormatError(ValueError):
    """The bytes are not a facecast ring header this code understands."""


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


@dataclass(frozen=True)
class RingLayout:
    width: int
    height: int
    pixel_format: str
    slot_count: int

    def __post_init__(self) -> None:
        if self.pixel_format not in PIXEL_FORMAT_CODES:
            raise RingFormatError(f"ring pixel format must be one of {list(PIXEL_FORMAT_CODES)}, not {self.pixel_format!r}")
        if not MIN_SLOTS <= self.slot_count <= MAX_SLOTS:
            raise RingFormatError(f"slot_count must be in [{MIN_SLOTS}, {MAX_SLOTS}]")
        if self.width < 1 or self.height < 1:
            raise RingFormatError("width and height must be positive")

    @property
    def channels(self) -> int:
        return BYTES_PER_PIXEL[self.pixel_format]

    @property
    def stride(self) -> int:
        return self.width * self.channels

    @property
    def slot_bytes(self) -> int:
        return _align(self.stride * self.height)

    @property
    def data_offset(self) -> int:
        return _align(HEADER_BYTES + SLOT_ENTRY_BYTES * self.slot_count)

    @property
    def total_bytes(self) -> int:
        return self.data_offset + self.slot_bytes * self.slot_count

    def slot_entry_offset(self, slot: int) -> int:
        return HEADER_BYTES + SLOT_ENTRY_BYTES * slot

    def pixels_offset(self, slot: int) -> int:
        return self.data_offset + self.slot_bytes * slot

    def pack_header(self, write_count: int = 0, latest_slot: int = 0, state: int = STATE_LIVE) -> bytes:
        return HEADER.pack(MAGIC, VERSION, self.data_offset, self.width, self.height,
                           PIXEL_FORMAT_CODES[self.pixel_format], self.stride, self.slot_count,
                           self.slot_bytes, write_count, latest_slot, state, 0)


@dataclass(frozen=True)
class RingHeader:
    layout: RingLayout
    write_count: int
    latest_slot: int
    state: int


def parse_header(buf: bytes | memoryview, total_bytes: int | None = None) -> RingHeader:
    """Validate and parse a ring header; RingFormatError says what is wrong."""
    if len(buf) < HEADER_BYTES:
        raise RingFormatError(f"ring header needs {HEADER_BYTES} bytes, got {len(buf)}")
    (magic, version, data_offset, width, height, fmt, stride, slots, slot_bytes,
     write_count, latest, state, _reserved) = HEADER.unpack_from(buf, 0)
    if magic != MAGIC:
        raise RingFormatError(f"not a facecast ring (magic {bytes(magic)!r})")
    if version != VERSION:
        raise RingFormatError(f"ring version {version} not supported (this reader knows {VERSION})")
    if fmt not in PIXEL_FORMAT_NAMES:
        raise RingFormatError(f"unknown pixel format code {fmt}")
    layout = RingLayout(width, height, PIXEL_FORMAT_NAMES[fmt], slots)
    if (data_offset, stride, slot_bytes) != (layout.data_offset, layout.stride, layout.slot_bytes):
        raise RingFormatError("ring header fields are inconsistent with its size and format")
    if total_bytes is not None and total_bytes < layout.total_bytes:
        raise RingFormatError(f"ring needs {layout.total_bytes} bytes but the mapping has {total_bytes}")
    if write_count and latest >= slots:
        raise RingFormatError(f"latest_slot {latest} out of range")
    return RingHeader(layout, write_count, latest, state)
