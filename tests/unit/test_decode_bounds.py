"""Issue 12 #4: msgpack decode bombs. A message under max_message_bytes could cost the
daemon's I/O thread seconds and hundreds of MiB (4.1 million empty arrays), or crash it (a
1000-deep list as `v`). Decoding is now bounded in items, depth, container and string
sizes; these tests bound the cost in memory, never in time (`facecast bench hostile`
measures the time)."""

from __future__ import annotations

import tracemalloc

import msgpack
import numpy as np
import pytest

from facecast.apps.bench.bombs import decode_bombs
from facecast.protocol import DEFAULT_MAX_BYTES, DecodeError, ErrorCode, Hello, Ping, Pose, decode, encode
from facecast.protocol.bounded_unpack import REPLY_BOUNDS, REQUEST_BOUNDS

BOMBS = decode_bombs(DEFAULT_MAX_BYTES)


@pytest.mark.parametrize("bounds", [REQUEST_BOUNDS, REPLY_BOUNDS], ids=["request", "reply"])
@pytest.mark.parametrize("name", sorted(BOMBS))
def test_every_bomb_is_refused_with_a_clear_error_and_little_memory(name: str, bounds) -> None:
    raw = BOMBS[name]
    tracemalloc.start()
    try:
        with pytest.raises(DecodeError) as info:
            decode(raw, DEFAULT_MAX_BYTES, bounds)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = info.value
    if name.startswith("v: 3 MiB"):  # a huge value where `v` should be: its type and size, not its repr
        assert err.code is ErrorCode.UNSUPPORTED_VERSION and "3145728 bytes" in err.detail
    else:
        assert err.code is ErrorCode.MALFORMED and err.detail.startswith("too complex"), err.detail
    assert len(str(err)) < 300
    slack = (4 << 20) if bounds is REQUEST_BOUNDS else (16 << 20)  # before: up to 279 MiB
    assert peak < len(raw) + slack, f"{name}: {peak / 2**20:.1f} MiB at the peak"


def _nested(depth: int) -> object:
    value: object = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_request_bounds_fit_the_protocol_and_refuse_one_more() -> None:
    """The top-level map is depth 1; a pose's shape list is at depth 3. Unknown fields
    are still ignored within the bounds."""
    b = REQUEST_BOUNDS
    pose = msgpack.unpackb(encode(Pose(seq=1, landmarks=np.zeros((478, 3), np.float32))), raw=False)
    pose["future"] = _nested(b.max_depth - 1)
    assert isinstance(decode(msgpack.packb(pose), bounds=b), Pose)
    pose["future"] = _nested(b.max_depth)
    with pytest.raises(DecodeError, match="deeper"):
        decode(msgpack.packb(pose), bounds=b)
    for field, ok, bad in [("list", [0] * b.max_array_len, [0] * (b.max_array_len + 1)),
                           ("map", {f"k{i}": 0 for i in range(b.max_map_len)},
                            {f"k{i}": 0 for i in range(b.max_map_len + 1)}),
                           ("str", "é" * (b.max_str_bytes // 2), "é" * (b.max_str_bytes // 2 + 1))]:
        assert isinstance(decode(msgpack.packb({"v": 1, "type": "hello", field: ok}), bounds=b), Hello)
        with pytest.raises(DecodeError) as info:
            decode(msgpack.packb({"v": 1, "type": "hello", field: bad}), bounds=b)
        assert info.value.code is ErrorCode.MALFORMED and "too complex" in info.value.detail, field
    many = {"v": 1, "type": "ping", "x": [[0] * 30 for _ in range(b.max_items // 30 + 1)][: b.max_array_len]}
    with pytest.raises(DecodeError, match="items"):
        decode(msgpack.packb(many), bounds=b)
    assert isinstance(decode(encode(Ping(seq=1)), bounds=b), Ping)


def test_error_details_never_repr_a_huge_or_deep_value() -> None:
    for value, expect in [(bytes(1 << 20), "1048576 bytes"), (_nested(900), "list"), ("x" * 5000, "5000")]:
        with pytest.raises(DecodeError) as info:
            decode(msgpack.packb({"v": 1, "type": "pose", "seq": value}), bounds=REPLY_BOUNDS)
        assert info.value.code in (ErrorCode.INVALID_FIELD, ErrorCode.MALFORMED)
        assert len(info.value.detail) < 300 and (expect in info.value.detail or "too complex" in info.value.detail)


def test_golden_fixtures_decode_the_same_within_the_request_bounds() -> None:
    """Every valid request fixture fits the daemon's bounds, and every invalid one gets
    the code the index promises: the bounds change nothing for a message of the protocol."""
    import json
    from pathlib import Path

    from facecast.server.handlers import REQUEST_TYPES

    root = Path(__file__).resolve().parents[1] / "fixtures" / "protocol"
    index = json.loads((root / "index.json").read_text())
    requests = {cls.TYPE for cls in REQUEST_TYPES}
    checked = 0
    for entry in index["valid"]:
        if entry["type"] in requests:
            assert decode((root / entry["file"]).read_bytes(), bounds=REQUEST_BOUNDS).TYPE == entry["type"]
            checked += 1
    for entry in index["invalid"]:
        with pytest.raises(DecodeError) as info:
            decode((root / entry["file"]).read_bytes(), bounds=REQUEST_BOUNDS)
        assert int(info.value.code) == entry["error_code"], entry["file"]
        checked += 1
    assert checked > 20
