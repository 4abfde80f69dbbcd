"""Numbered error codes of protocol v1 and the exception that carries them.

Codes are grouped: 1xx the message itself is bad, 2xx the message is valid but not
acceptable in the session's state, 5xx the daemon failed. Codes never change meaning;
new ones are only added.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(enum.IntEnum):
    MALFORMED = 100  # not msgpack, or not a map at the top level
    UNSUPPORTED_VERSION = 101  # `v` missing or not a version the daemon speaks
    UNKNOWN_TYPE = 102  # `type` missing or not a known message type
    INVALID_FIELD = 103  # a required field missing, or of the wrong type or range
    BAD_ARRAY = 104  # point array with wrong dtype, shape, byte length or format
    NON_FINITE = 105  # NaN or infinity in a point array or number
    TOO_LARGE = 106  # message larger than the daemon's max_message_bytes
    NOT_BOUND = 200  # pose (or other session message) before a successful bind
    UNKNOWN_CHARACTER = 201  # bind names a character the store does not have
    UNSUPPORTED = 202  # valid request for a feature this daemon does not offer
    SESSION_LIMIT = 203  # too many sessions
    RATE_LIMITED = 204  # more poses per second than the daemon's per-client limit
    KEY_REVOKED = 205  # the client's CurveZMQ key was removed from the daemon's allow-list
    RENDER_FAILED = 500  # the renderer failed for this pose
    INTERNAL = 501  # anything else that went wrong inside the daemon


class ProtocolError(Exception):
    """A message was rejected; ``code`` goes into the error reply."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(f"{code.name} ({int(code)}): {message}")
        self.code = code
        self.detail = message


_SCALARS = (type(None), bool, int, float)


def shown(value: Any, limit: int = 40) -> str:
    """A decoded value as an error message shows it: its repr when that is short, else its
    type and size. Never the repr of a large or nested value: a 4 MiB bin's takes 60 ms
    and a list nested 1000 deep's raises RecursionError."""
    if isinstance(value, _SCALARS) and not (isinstance(value, int) and value.bit_length() > 64):
        return repr(value)
    if isinstance(value, str):
        return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} chars)"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return repr(bytes(value)) if len(value) <= limit else f"<bin of {len(value)} bytes>"
    if isinstance(value, (list, tuple, dict)) and len(value) <= 8 \
            and all(isinstance(v, _SCALARS) for v in (value.values() if isinstance(value, dict) else value)) \
            and all(isinstance(k, str) and len(k) <= limit for k in (value if isinstance(value, dict) else ())):
        text = repr(value)
        if len(text) <= 2 * limit:
            return text
    size = f" of {len(value)}" if isinstance(value, (list, tuple, dict)) else ""
    return f"<{type(value).__name__}{size}>"
