"""Hostile payloads for the decode bench and the hardening tests: valid msgpack maps
under a size limit that try to make decoding expensive (issue 12 #4).

Each is a valid message with one more entry, so nothing but the decoder's own bounds can
refuse it early. Containers are filled up to 65535 items (protocol v1 allowed 65536),
nested up to 1000 deep (msgpack's C unpacker stops at 1024).
"""

from __future__ import annotations

from typing import Callable

import msgpack

_PING = msgpack.packb({"v": 1, "type": "ping"})
_DEPTH = 1000
_WIDE = 65535


def _array(n: int) -> bytes:
    if n < 16:
        return bytes([0x90 + n])
    if n < 1 << 16:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


def _map(n: int) -> bytes:
    return bytes([0x80 + n]) if n < 16 else b"\xde" + n.to_bytes(2, "big")


def _bin(n: int) -> bytes:
    return b"\xc6" + n.to_bytes(4, "big")


def _with(base: bytes, key: str, value: bytes) -> bytes:
    """The encoded map ``base`` (a fixmap) with ``key: value`` added (``value``: encoded)."""
    if not 0x80 <= base[0] < 0x8F:
        raise ValueError("base must be a msgpack fixmap of at most 14 entries")
    return bytes([base[0] + 1]) + base[1:] + msgpack.packb(key) + value


def _fill(base: bytes, unit: bytes, max_bytes: int) -> bytes:
    """``base`` with "x": an array of as many ``unit``s as fit in ``max_bytes``, in arrays
    of at most ``_WIDE``."""
    room = max_bytes - len(_with(base, "x", b"")) - 16
    per = min(_WIDE, room // len(unit))
    inner = _array(per) + unit * per
    outer = max(1, room // len(inner))
    return _with(base, "x", _array(outer) + inner * outer)


def _deep(width: int, item: bytes) -> bytes:
    """[item × width, [item × width, [... _DEPTH levels ...]]]."""
    return (_array(width + 1) + item * width) * _DEPTH + _array(0)


def _deep_maps(width: int, item: bytes) -> bytes:
    """{"k0": item, ... "k<width-1>": item, "z": {... _DEPTH levels ...}}."""
    level = _map(width + 1) + b"".join(msgpack.packb(f"k{i}") + item for i in range(width)) + msgpack.packb("z")
    return level * _DEPTH + _map(0)


def decode_bombs(max_bytes: int, base: bytes = _PING) -> dict[str, bytes]:
    """name -> payload of at most ``max_bytes``: ``base`` (an encoded message; a ping by
    default) with one more entry, or (names starting "v:") a ping whose `v` is the bomb."""
    uint16 = b"\xcd\x03\xe8"  # 1000: an int Python does not cache
    keys = b"".join(msgpack.packb(f"k{i}") + b"\xc0" for i in range(4095))
    makers: dict[str, Callable[[], bytes]] = {
        "empty arrays (63 per array)": lambda: _fill(base, _array(63) + _array(0) * 63, max_bytes),
        "empty maps (63 per array)": lambda: _fill(base, _array(63) + _map(0) * 63, max_bytes),
        "nils": lambda: _fill(base, b"\xc0", max_bytes),
        "ints": lambda: _fill(base, uint16, max_bytes),
        "maps of 4095 keys": lambda: _fill(base, _map(4095) + keys, max_bytes),
        "chains 1000 deep": lambda: _fill(base, b"\x91" * _DEPTH + _array(0), max_bytes),
        "1000 deep, 15 ints per level": lambda: _with(base, "x", _deep(15, uint16)),
        "1000 deep, 31 ints per level": lambda: _with(base, "x", _deep(31, uint16)),
        "1000 deep, 63 ints per level": lambda: _with(base, "x", _deep(63, uint16)),
        "1000 deep, 255 ints per level": lambda: _with(base, "x", _deep(255, uint16)),
        "1000 deep maps, 15 ints per level": lambda: _with(base, "x", _deep_maps(15, uint16)),
        "v: 1000 deep": lambda: _with_v(b"\x91" * _DEPTH + _array(0)),
        "v: 3 MiB bin": lambda: _with_v(_bin(3 << 20) + bytes(3 << 20)),
    }
    bombs = {name: make() for name, make in makers.items()}
    return {name: raw for name, raw in bombs.items() if len(raw) <= max_bytes}


def _with_v(value: bytes) -> bytes:
    """{"type": "ping", "v": value}."""
    return _map(2) + msgpack.packb("type") + msgpack.packb("ping") + msgpack.packb("v") + value
