"""Property-based tests of the decoders that tests/unit/test_protocol.py does not cover:
the shared-memory ring header (`parse_header`, and `RingReader` on a real segment),
frame pixels (`decode_pixels`) and point arrays (`unpack_array`).

Each decoder is fed arbitrary and mutated input; it must return a well-formed value or
raise its one documented exception, never anything else.
"""

from __future__ import annotations

import os
import uuid
from multiprocessing import shared_memory

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from facecast.protocol import ErrorCode, ProtocolError, pack_array, unpack_array
from facecast.core.pixels import decode_pixels, encode_pixels
from facecast.protocol.arrays import MAX_ARRAY_ELEMENTS
from facecast.protocol.formats import PIXEL_FORMATS, RAW_PIXEL_FORMATS
from facecast.protocol.shm_layout import (
    HEADER_BYTES,
    MAX_SLOTS,
    MIN_SLOTS,
    PIXEL_FORMAT_CODES,
    STATE_CLOSED,
    STATE_LIVE,
    RingFormatError,
    RingHeader,
    RingLayout,
    parse_header,
)
from facecast.client.ring_reader import RingFrame, RingReader, RingReadError

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------------- strategies

layouts = st.builds(
    RingLayout,
    width=st.integers(1, 4096),
    height=st.integers(1, 4096),
    pixel_format=st.sampled_from(sorted(PIXEL_FORMAT_CODES)),
    slot_count=st.integers(MIN_SLOTS, MAX_SLOTS),
)


@st.composite
def packed_headers(draw: st.DrawFn) -> tuple[RingLayout, int, int, int, bytes]:
    layout = draw(layouts)
    write_count = draw(st.integers(0, 2**64 - 1))
    latest = draw(st.integers(0, layout.slot_count - 1))
    state = draw(st.sampled_from([STATE_LIVE, STATE_CLOSED]))
    return layout, write_count, latest, state, layout.pack_header(write_count, latest, state)


def _mutate(draw: st.DrawFn, raw: bytes) -> bytes:
    """Bit flips, byte overwrites, little-endian integer overwrites, truncation, extension."""
    buf = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "byte", "u32", "u64", "truncate", "extend"]))
        if kind == "truncate":
            del buf[draw(st.integers(0, len(buf))):]
        elif kind == "extend":
            buf += draw(st.binary(max_size=16))
        elif not buf:
            continue
        elif kind == "flip":
            i = draw(st.integers(0, len(buf) * 8 - 1))
            buf[i // 8] ^= 1 << (i % 8)
        elif kind == "byte":
            buf[draw(st.integers(0, len(buf) - 1))] = draw(st.integers(0, 255))
        else:
            size = 4 if kind == "u32" else 8
            pos = draw(st.integers(0, len(buf) - 1)) // 4 * 4  # fields are 4-byte aligned
            value = draw(st.sampled_from([0, 1, 2, 3, 15, 16, 17, 63, 64, 2**31, 2**size * 8 - 1])
                         | st.integers(0, 2 ** (size * 8) - 1))
            buf[pos:pos + size] = value.to_bytes(size, "little")[: len(buf) - pos]
    return bytes(buf)


@st.composite
def mutated_headers(draw: st.DrawFn) -> bytes:
    return _mutate(draw, draw(packed_headers())[4])


# ---------------------------------------------------------------------------- parse_header


def _check_header(buf: bytes, total_bytes: int | None) -> RingHeader | None:
    """parse_header's contract: a consistent RingHeader or RingFormatError."""
    try:
        header = parse_header(buf, total_bytes)
    except RingFormatError:
        return None
    assert isinstance(header, RingHeader)
    lay = header.layout
    assert MIN_SLOTS <= lay.slot_count <= MAX_SLOTS and lay.width >= 1 and lay.height >= 1
    assert lay.data_offset >= HEADER_BYTES and lay.data_offset % 64 == 0 and lay.slot_bytes % 64 == 0
    if total_bytes is not None:
        assert lay.total_bytes <= total_bytes
    if header.write_count:
        assert 0 <= header.latest_slot < lay.slot_count
    # what was parsed is exactly what was there (the reserved u64 at 56 is not read)
    assert lay.pack_header(header.write_count, header.latest_slot, header.state)[:56] == bytes(buf[:56])
    return header


@FAST
@given(st.binary(max_size=160), st.none() | st.integers(-1, 1 << 40))
def test_parse_header_arbitrary_bytes(buf: bytes, total_bytes: int | None) -> None:
    _check_header(buf, total_bytes)
    _check_header(memoryview(buf), total_bytes)


@FAST
@given(mutated_headers(), st.none() | st.integers(0, 1 << 36))
def test_parse_header_mutated_valid_headers(buf: bytes, total_bytes: int | None) -> None:
    _check_header(buf, total_bytes)


@FAST
@given(packed_headers())
def test_valid_layouts_round_trip(packed: tuple[RingLayout, int, int, int, bytes]) -> None:
    layout, write_count, latest, state, raw = packed
    assert len(raw) == HEADER_BYTES
    header = parse_header(raw, layout.total_bytes)
    assert header == RingHeader(layout, write_count, latest, state)
    assert parse_header(raw + b"\xff" * 32) == header  # what follows the header does not matter
    with pytest.raises(RingFormatError):
        parse_header(raw, layout.total_bytes - 1)  # the mapping is one byte short
    with pytest.raises(RingFormatError):
        parse_header(raw[: HEADER_BYTES - 1])


# ---------------------------------------------------------------------------- RingReader on real shm

SEGMENT_LAYOUT = RingLayout(16, 8, "rgba8", 3)


@pytest.fixture(scope="module")
def segment():
    # not named facecast-*: tests of the daemon check that no such segment outlives it
    shm = shared_memory.SharedMemory(name=f"fcprop-{os.getpid()}-{uuid.uuid4().hex[:8]}", create=True,
                                     size=SEGMENT_LAYOUT.total_bytes)
    try:
        yield shm
    finally:
        shm.close()
        shm.unlink()


def _exercise_reader(reader: RingReader, after_open: bytes | None, shm: shared_memory.SharedMemory) -> None:
    lay = reader.layout
    assert lay.total_bytes <= shm.size
    for slot in range(lay.slot_count):
        try:
            frame = reader.read(slot)
        except RingReadError:
            continue
        assert isinstance(frame, RingFrame) and frame.image.shape == (lay.height, lay.width, lay.channels)
    if after_open is not None:  # the header changes under an open reader
        shm.buf[: len(after_open)] = after_open
    try:
        latest = reader.read_latest()
    except (RingFormatError, RingReadError):
        return
    assert latest is None or latest.image.shape == (lay.height, lay.width, lay.channels)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_ring_reader_on_mutated_segment(segment: shared_memory.SharedMemory, data: st.DataObject) -> None:
    base = SEGMENT_LAYOUT.pack_header(data.draw(st.integers(0, 10)), data.draw(st.integers(0, 2)))

    def header64(raw: bytes) -> bytes:  # the mapping always has its first 64 bytes
        return raw[:HEADER_BYTES] + bytes(max(0, HEADER_BYTES - len(raw)))

    segment.buf[:HEADER_BYTES] = header64(_mutate(data.draw, base))
    segment.buf[HEADER_BYTES:HEADER_BYTES + 32 * 3] = data.draw(st.binary(min_size=32 * 3, max_size=32 * 3))
    after_open = None  # the header as it changes under an open reader: none, mutated or random
    kind = data.draw(st.sampled_from(["none", "mutated", "random"]))
    if kind == "mutated":
        after_open = header64(_mutate(data.draw, base))
    elif kind == "random":
        after_open = data.draw(st.binary(min_size=HEADER_BYTES, max_size=HEADER_BYTES))
    try:
        reader = RingReader(segment.name)
    except RingFormatError:
        return
    try:
        _exercise_reader(reader, after_open, segment)
    finally:
        reader.close()


def test_ring_reader_accepts_the_unmutated_segment(segment: shared_memory.SharedMemory) -> None:
    segment.buf[:HEADER_BYTES] = SEGMENT_LAYOUT.pack_header()
    segment.buf[HEADER_BYTES:HEADER_BYTES + 32 * 3] = bytes(32 * 3)
    with RingReader(segment.name) as reader:
        assert reader.layout == SEGMENT_LAYOUT
        assert reader.read_latest() is None  # nothing written yet


# ---------------------------------------------------------------------------- decode_pixels

CHANNELS = {**RAW_PIXEL_FORMATS, "jpeg": 3, "png": 4}


def _check_pixels(data: bytes, pixel_format: str, width: int, height: int) -> np.ndarray | None:
    try:
        img = decode_pixels(data, pixel_format, width, height)
    except ValueError:
        return None
    assert pixel_format in PIXEL_FORMATS
    assert img.dtype == np.uint8 and img.shape == (height, width, CHANNELS[pixel_format])
    return img


@FAST
@given(st.binary(max_size=300), st.sampled_from([*PIXEL_FORMATS, "yuv420", "", "RGBA8"]),
       st.integers(-3, 12), st.integers(-3, 12))
def test_decode_pixels_arbitrary(data: bytes, pixel_format: str, width: int, height: int) -> None:
    _check_pixels(data, pixel_format, width, height)


@FAST
@given(st.sampled_from(sorted(RAW_PIXEL_FORMATS)), st.integers(0, 9), st.integers(0, 9), st.integers(-2, 2))
def test_decode_pixels_raw_sizes(pixel_format: str, width: int, height: int, delta: int) -> None:
    n = width * height * RAW_PIXEL_FORMATS[pixel_format] + delta
    assume(n >= 0)
    img = _check_pixels(bytes(range(256)) * (n // 256) + bytes(n % 256), pixel_format, width, height)
    assert (img is not None) == (delta == 0)


@st.composite
def encoded_images(draw: st.DrawFn) -> tuple[str, int, int, bytes]:
    fmt = draw(st.sampled_from(["jpeg", "png"]))
    h, w = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(["rgba", "rgb", "gray", "gray16", "rgb16"]))
    rng = np.random.default_rng(seed)
    if kind == "rgba":  # what the daemon sends
        return fmt, w, h, encode_pixels(rng.integers(0, 256, (h, w, 4), dtype=np.uint8), fmt)
    # what another encoder might send: grey, 3-channel, 16-bit (PNG only)
    shape = (h, w) if kind.startswith("gray") else (h, w, 3)
    dtype = np.uint16 if kind.endswith("16") and fmt == "png" else np.uint8
    img = rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    ok, buf = cv2.imencode(".png" if fmt == "png" else ".jpg", img)
    assert ok
    return fmt, w, h, buf.tobytes()


@FAST
@given(encoded_images())
def test_decode_pixels_encoded_images(image: tuple[str, int, int, bytes]) -> None:
    fmt, w, h, data = image
    assert _check_pixels(data, fmt, w, h) is not None
    assert _check_pixels(data, fmt, w + 1, h) is None  # the header's size must match the image's
    assert _check_pixels(data, fmt, w, h + 1) is None


@FAST
@given(st.data())
def test_decode_pixels_mutated_encoded_images(data: st.DataObject) -> None:
    fmt, w, h, raw = data.draw(encoded_images())
    claimed_fmt = data.draw(st.sampled_from([fmt, fmt, "jpeg", "png"]))
    _check_pixels(_mutate(data.draw, raw), claimed_fmt, w, h)


# ---------------------------------------------------------------------------- unpack_array

_odd_values = (st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats()
               | st.text(max_size=8) | st.binary(max_size=16))
_shapes = st.lists(st.integers(-2, 5) | st.sampled_from([0, MAX_ARRAY_ELEMENTS, 2**31, 2**63, 2**64 - 1])
                   | st.booleans() | st.floats(0, 3) | st.text(max_size=2), min_size=0, max_size=6)


@st.composite
def array_maps(draw: st.DrawFn) -> object:
    """Mostly near-valid wire maps (dtype, shape, data with about the right length), some junk."""
    kind = draw(st.sampled_from(["near", "near", "near", "many_dims", "junk", "not_a_map"]))
    if kind == "not_a_map":
        return draw(_odd_values | st.lists(_odd_values, max_size=3))
    if kind == "junk":
        keys = st.sampled_from(["dtype", "shape", "data", "format"]) | st.text(max_size=4)
        return draw(st.dictionaries(keys, _odd_values | st.lists(_odd_values, max_size=3), max_size=5))
    if kind == "many_dims":
        shape = [1] * draw(st.integers(20, 80))
    else:
        shape = draw(_shapes)
    count = 1
    for n in shape:
        count *= n if isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 64 else 1
    values = draw(st.sampled_from([0.0, 1.5, -2.0, float("nan"), float("inf")]))
    data = np.full(max(count, 0), values, "<f4").tobytes() if draw(st.booleans()) else b""
    data = data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data + bytes(draw(st.integers(0, 5)))
    out = {"dtype": draw(st.sampled_from(["f32", "f32", "f64", "F32", 32])), "shape": shape,
           "data": draw(st.sampled_from([bytes, bytearray, memoryview, list]))(data)}
    for key in draw(st.sets(st.sampled_from(["dtype", "shape", "data"]), max_size=1)):
        del out[key]
    return out


@FAST
@given(array_maps(), st.none() | st.sampled_from([(478, 3), (68, 3), (52,), (3,), (0,), (1, 1)]))
def test_unpack_array_arbitrary_maps(wire: object, expected_shape: tuple[int, ...] | None) -> None:
    try:
        arr = unpack_array("field", wire, expected_shape)
    except ProtocolError as err:
        assert err.code in (ErrorCode.BAD_ARRAY, ErrorCode.NON_FINITE)
        assert err.detail.startswith("field")
        return
    assert isinstance(wire, dict)
    assert arr.dtype == np.float32 and list(arr.shape) == list(wire["shape"])
    assert expected_shape is None or arr.shape == expected_shape
    assert arr.size <= MAX_ARRAY_ELEMENTS and np.isfinite(arr).all()
    arr[...] = 0  # a private, writable copy


@FAST
@given(st.lists(st.integers(0, 6), min_size=1, max_size=4),
       st.floats(allow_nan=False, allow_infinity=False, width=32))
def test_pack_unpack_round_trip(shape: list[int], value: float) -> None:
    arr = np.full(shape, value, np.float32)
    out = unpack_array("a", pack_array(arr, format="x"))
    np.testing.assert_array_equal(out, arr)
    assert out.shape == arr.shape


@pytest.mark.parametrize("shape", [[1] * 70, [0, 2**64 - 1], [0, 2**63], [2**64 - 1, 0]])
def test_unpack_array_rejects_shapes_numpy_cannot_make(shape: list[int]) -> None:
    """Found by the property test above: numpy raised ValueError (not ProtocolError) for
    more dimensions than it supports and for a dimension >= 2**63 beside a zero."""
    with pytest.raises(ProtocolError) as info:
        unpack_array("x", {"dtype": "f32", "shape": shape, "data": b"" if 0 in shape else b"\0" * 4})
    assert info.value.code is ErrorCode.BAD_ARRAY


@pytest.mark.parametrize("case", ["empty_jpeg", "empty_png", "wrong_size_png", "unknown_format_png", "png16"])
def test_decode_pixels_regressions(case: str) -> None:
    """Found by the property tests above: cv2.error (not ValueError) on empty data, a PNG
    of another size accepted, a PNG accepted under an unknown format name, 16-bit PNG
    returned as uint16."""
    png = encode_pixels(np.zeros((4, 6, 4), np.uint8), "png")
    if case == "png16":
        ok, buf = cv2.imencode(".png", np.full((4, 6, 3), 1000, np.uint16))
        img = decode_pixels(buf.tobytes(), "png", 6, 4)
        assert img.dtype == np.uint8 and img.shape == (4, 6, 4)
        return
    data, fmt, w = {"empty_jpeg": (b"", "jpeg", 6), "empty_png": (b"", "png", 6),
                    "wrong_size_png": (png, "png", 7), "unknown_format_png": (png, "webp", 6)}[case]
    with pytest.raises(ValueError):
        decode_pixels(data, fmt, w, 4)
