"""Hostile payloads for the decode bench and the hardening tests: valid msgpack maps
under a size limit that try to make decoding expensive (issue 12 #4).

Each is a ``ping`` map with one more entry, so nothing but the decoder's own bounds can
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


def _ping_with(key: str, value: bytes) -> bytes:
    """The ping map with ``key: value`` added (``value``: encoded msgpack)."""
    return bytes([_PING[0] + 1]) + _PING[1:] + msgpack.packb(key) + value


def _fill(key: str, unit: bytes, max_bytes: int) -> bytes:
    """A ping with ``key``: an array of as many ``unit``s as fit in ``max_bytes``, in
    arrays of at most ``_WIDE``."""
    room = max_bytes - len(_ping_with(key, b"")) - 16
    per = min(_WIDE, room // len(unit))
    inner = _array(per) + unit * per
    outer = max(1, room // len(inner))
    return _ping_with(key, _array(outer) + inner * outer)


def _deep(width: int, item: bytes) -> bytes:
    """[item × width, [item × width, [... _DEPTH levels ...]]]."""
    return (_array(width + 1) + item * width) * _DEPTH + _array(0)


def decode_bombs(max_bytes: int) -> dict[str, bytes]:
    """name -> payload of at most ``max_bytes``."""
    uint16 = b"\xcd\x03\xe8"  # 1000: an int Python does not cache
    keys = b"".join(msgpack.packb(f"k{i}") + b"\xc0" for i in range(4095))
    makers: dict[str, Callable[[], bytes]] = {
        "empty arrays (63 per array)": lambda: _fill("x", _array(63) + _array(0) * 63, max_bytes),
        "empty maps (63 per array)": lambda: _fill("x", _array(63) + _map(0) * 63, max_bytes),
        "nils": lambda: _fill("x", b"\xc0", max_bytes),
        "ints": lambda: _fill("x", uint16, max_bytes),
        "maps of 4095 keys": lambda: _fill("x", _map(4095) + keys, max_bytes),
        "chains 1000 deep": lambda: _fill("x", b"\x91" * _DEPTH + _array(0), max_bytes),
        "1000 deep, 15 ints per level": lambda: _ping_with("x", _deep(15, uint16)),
        "1000 deep, 63 ints per level": lambda: _ping_with("x", _deep(63, uint16)),
        "1000 deep, 255 ints per level": lambda: _ping_with("x", _deep(255, uint16)),
        "v: 1000 deep": lambda: _with_v(b"\x91" * _DEPTH + _array(0)),
        "v: 3 MiB bin": lambda: _with_v(_bin(3 << 20) + bytes(3 << 20)),
    }
    bombs = {name: make() for name, make in makers.items()}
    return {name: raw for name, raw in bombs.items() if len(raw) <= max_bytes}


def _with_v(value: bytes) -> bytes:
    """{"type": "ping", "v": value}."""
    return _map(2) + msgpack.packb("type") + msgpack.packb("ping") + msgpack.packb("v") + value
