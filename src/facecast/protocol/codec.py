"""msgpack encoding and strict decoding of protocol v1 messages."""

from __future__ import annotations

from typing import Any

import msgpack

from facecast.protocol.bounded_unpack import REPLY_BOUNDS, BoundsExceeded, DecodeBounds, unpack_bounded
from facecast.protocol.errors import ErrorCode, ProtocolError, shown
from facecast.protocol.fields import MAX_STRING
from facecast.protocol.formats import PROTOCOL_VERSION, SUPPORTED_VERSIONS
from facecast.protocol.messages import _TYPES, Message

DEFAULT_MAX_BYTES = 4 << 20


class DecodeError(ProtocolError):
    """A ProtocolError that also says what could be read of the offending message."""

    def __init__(self, err: ProtocolError, msg_type: str | None, seq: int | None) -> None:
        super().__init__(err.code, err.detail)
        self.msg_type = msg_type
        self.seq = seq
        self.over_bounds = isinstance(err, BoundsExceeded)  # a decode bomb, not just bad input


def encode(message: Message) -> bytes:
    """Message -> msgpack bytes (a map with v, type and the message's fields)."""
    body = message.body()
    body["v"] = PROTOCOL_VERSION
    body["type"] = message.TYPE
    return msgpack.packb(body, use_bin_type=True)


def _bin_header(n: int) -> bytes:
    if n < 1 << 8:
        return b"\xc4" + n.to_bytes(1, "big")
    if n < 1 << 16:
        return b"\xc5" + n.to_bytes(2, "big")
    return b"\xc6" + n.to_bytes(4, "big")


def encode_with_blob(message: Message, field: str, nbytes: int,
                     reuse: bytearray | None = None) -> tuple[bytearray, memoryview]:
    """Encode ``message`` with its bytes field ``field`` left as a hole of ``nbytes`` for
    the caller to fill: returns the payload and a view of the hole. The same msgpack map
    as ``encode`` (``field`` placed last), made so that large pixels are written once,
    straight into the reply, instead of being copied by the encoder. ``reuse``: a payload
    returned before, written over when it has the same size (its earlier contents must
    no longer be needed)."""
    body = message.body()
    body.pop(field, None)
    body["v"] = PROTOCOL_VERSION
    body["type"] = message.TYPE
    head = msgpack.packb(body, use_bin_type=True)
    if not 0x80 <= head[0] < 0x8F:  # a fixmap of <= 14 entries: one more fits the same header
        raise ValueError(f"{message.TYPE} has too many fields for encode_with_blob")
    key = msgpack.packb(field, use_bin_type=True)
    prefix = bytes([head[0] + 1]) + head[1:] + key + _bin_header(nbytes)
    size = len(prefix) + nbytes
    payload = reuse if reuse is not None and len(reuse) == size else bytearray(size)
    payload[: len(prefix)] = prefix
    return payload, memoryview(payload)[len(prefix):]


def _unpack_map(raw: bytes | bytearray | memoryview, max_bytes: int, bounds: DecodeBounds) -> dict[str, Any]:
    if len(raw) > max_bytes:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"message of {len(raw)} bytes exceeds the limit of {max_bytes}")
    obj = unpack_bounded(raw, bounds)
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.MALFORMED, f"top level must be a map, got {type(obj).__name__}")
    return obj


def decode(raw: bytes | bytearray | memoryview, max_bytes: int = DEFAULT_MAX_BYTES,
           bounds: DecodeBounds = REPLY_BOUNDS) -> Message:
    """msgpack bytes -> Message. Raises DecodeError (a ProtocolError) with a code and,
    where readable, the message's type and seq so the error reply can refer to them.
    ``bounds``: how complex the message may be (bounded_unpack.py); the default fits what
    the daemon sends, a daemon reading requests passes REQUEST_BOUNDS."""
    msg_type: str | None = None
    seq: int | None = None
    try:
        obj = _unpack_map(raw, max_bytes, bounds)
        t, s = obj.get("type"), obj.get("seq")
        # only a type and seq that an error reply can carry back (read_str's and read_int's limits)
        msg_type = t if isinstance(t, str) and len(t) <= MAX_STRING else None
        seq = s if isinstance(s, int) and not isinstance(s, bool) and 0 <= s < (1 << 63) else None
        version = obj.get("v")
        if not isinstance(version, int) or isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
            raise ProtocolError(
                ErrorCode.UNSUPPORTED_VERSION, f"protocol version {shown(version)} not supported; supported: {list(SUPPORTED_VERSIONS)}"
            )
        cls = _TYPES.get(msg_type) if msg_type is not None else None
        if cls is None:
            raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {shown(t)}; known: {sorted(_TYPES)}")
        return cls.from_body(obj)
    except DecodeError:
        raise
    except ProtocolError as err:
        raise DecodeError(err, msg_type, seq) from None
