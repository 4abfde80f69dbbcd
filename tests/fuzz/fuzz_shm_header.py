#!/usr/bin/env python3
"""Coverage-guided fuzzer for the shared-memory ring header parser,
``facecast.protocol.shm_layout.parse_header``.

    python tests/fuzz/fuzz_shm_header.py -atheris_runs=100000 CORPUS_DIR   # libFuzzer flags
    python tests/fuzz/fuzz_shm_header.py -max_total_time=3600 CORPUS_DIR

Input layout: byte 0 picks how the mapping size is given (0: not given, 1: the length of
the rest, 2: the rest's last 8 bytes as a little-endian u64, 3: the exact size of the
layout the header describes, when it parses); bytes 1.. are the mapped memory (header
first, as a reader sees it).

Contract: ``parse_header`` returns a consistent ``RingHeader`` (valid layout, fits the
mapping, latest slot in range, fields exactly as stored) or raises ``RingFormatError``;
anything else is a crash. An empty first CORPUS_DIR is filled with packed valid headers.
Without atheris (or with FACECAST_FUZZ_NO_ATHERIS=1) it runs in the plain random-mutation
mode of fuzz_decode.py (see there and tests/fuzz/README.md).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # fuzz_decode's runner, when imported from elsewhere

import fuzz_decode  # noqa: E402  the runner; importing it instruments facecast (shm_layout too) under atheris
from facecast.protocol import shm_layout  # noqa: E402

RingFormatError, RingHeader, RingLayout = shm_layout.RingFormatError, shm_layout.RingHeader, shm_layout.RingLayout


def TestOneInput(data: bytes) -> None:  # noqa: N802 (libFuzzer's name)
    if not data:
        return
    mode, buf = data[0] % 4, data[1:]
    total: int | None = None
    if mode == 1:
        total = len(buf)
    elif mode == 2:
        total = int.from_bytes(buf[-8:], "little")
    elif mode == 3:
        try:
            total = shm_layout.parse_header(buf).layout.total_bytes
        except RingFormatError:
            return
    try:
        header = shm_layout.parse_header(buf if data[0] & 4 else memoryview(buf), total)
    except RingFormatError:
        return
    assert isinstance(header, RingHeader)
    lay = header.layout
    assert shm_layout.MIN_SLOTS <= lay.slot_count <= shm_layout.MAX_SLOTS and lay.width > 0 and lay.height > 0
    assert lay.stride * lay.height <= lay.slot_bytes < lay.stride * lay.height + shm_layout.ALIGN
    assert lay.pixels_offset(lay.slot_count - 1) + lay.slot_bytes == lay.total_bytes
    assert lay.slot_entry_offset(lay.slot_count) <= lay.data_offset
    assert total is None or lay.total_bytes <= total
    assert not header.write_count or header.latest_slot < lay.slot_count
    assert lay.pack_header(header.write_count, header.latest_slot, header.state)[:56] == bytes(buf[:56])


def seeds() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    layouts = [RingLayout(256, 256, "rgba8", 3), RingLayout(1, 1, "rgb8", 2), RingLayout(2048, 2048, "bgra8", 16),
               RingLayout(17, 3, "rgb8", 5), RingLayout(640, 480, "rgba8", 4)]
    for i, lay in enumerate(layouts):
        raw = lay.pack_header(write_count=i * 7, latest_slot=i % lay.slot_count,
                              state=shm_layout.STATE_CLOSED if i == 2 else shm_layout.STATE_LIVE)
        slots = b"".join(shm_layout.SLOT.pack(2 * k, k, 1.5, 2.5) for k in range(lay.slot_count))
        for mode in range(4):
            out[f"{lay.width}x{lay.height}_{lay.pixel_format}_{lay.slot_count}_mode{mode}"] = bytes([mode]) + raw + slots
    return out


if __name__ == "__main__":
    sys.exit(fuzz_decode.main(TestOneInput, seeds()))
