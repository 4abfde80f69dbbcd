"""Typed field readers for decoding wire maps; each raises ProtocolError with a code."""

from __future__ import annotations

import math
from typing import Any, Mapping

from facecast.protocol.errors import ErrorCode, ProtocolError, shown

MAX_STRING = 256
_MISSING = object()


def _get(d: Mapping[str, Any], key: str, required: bool) -> Any:
    value = d.get(key, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise ProtocolError(ErrorCode.INVALID_FIELD, f"missing field {key!r}")
        return _MISSING
    return value


def read_str(
    d: Mapping[str, Any], key: str, default: str | None = None, *, choices: tuple[str, ...] | None = None
) -> str:
    value = _get(d, key, default is None)
    if value is _MISSING:
        return default  # type: ignore[return-value]
    if not isinstance(value, str) or len(value) > MAX_STRING:
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"{key!r} must be a string of at most {MAX_STRING} chars")
    if choices is not None and value not in choices:
        raise ProtocolError(ErrorCode.UNSUPPORTED, f"{key!r}={value!r} not supported; one of {list(choices)}")
    return value


def read_opt_str(d: Mapping[str, Any], key: str) -> str | None:
    value = _get(d, key, False)
    return None if value is _MISSING else read_str(d, key)


def read_int(
    d: Mapping[str, Any], key: str, default: int | None = None, *, lo: int = 0, hi: int = (1 << 63) - 1
) -> int:
    value = _get(d, key, default is None)
    if value is _MISSING:
        return default  # type: ignore[return-value]
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"{key!r} must be an integer in [{lo}, {hi}], got {shown(value)}")
    return value


def read_opt_int(d: Mapping[str, Any], key: str) -> int | None:
    value = _get(d, key, False)
    return None if value is _MISSING else read_int(d, key)


def read_float(d: Mapping[str, Any], key: str, default: float | None = None) -> float:
    value = _get(d, key, default is None)
    if value is _MISSING:
        return default  # type: ignore[return-value]
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"{key!r} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ProtocolError(ErrorCode.NON_FINITE, f"{key!r} must be finite")
    return float(value)


def read_bool(d: Mapping[str, Any], key: str, default: bool | None = None) -> bool:
    value = _get(d, key, default is None)
    if value is _MISSING:
        return default  # type: ignore[return-value]
    if not isinstance(value, bool):
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"{key!r} must be true or false, got {shown(value)}")
    return value


def read_bytes(d: Mapping[str, Any], key: str) -> bytes:
    value = _get(d, key, True)
    if not isinstance(value, (bytes, bytearray)):
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"{key!r} must be raw bytes (msgpack bin)")
    return bytes(value)


def read_map(d: Mapping[str, Any], key: str, default: dict | None = None) -> dict:
    value = _get(d, key, default is None)
    if value is _MISSING:
        return dict(default or {})
    if not isinstance(value, dict):
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"{key!r} must be a map")
    return value


def read_float_map(d: Mapping[str, Any], key: str, default: dict | None = None) -> dict[str, float]:
    """A map of finite numbers, returned with string keys and float values."""
    value = read_map(d, key, default)
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in value.values()):
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"{key!r} values must be finite numbers")
    return {str(k): float(v) for k, v in value.items()}


_ITEM_NOUNS = {int: "integers", str: "strings"}


def read_list(d: Mapping[str, Any], key: str, default: list | None = None, *, items: type | None = None) -> list:
    """A list; with ``items`` (int or str) every element must be of that type (bool is no int)."""
    value = _get(d, key, default is None)
    if value is _MISSING:
        return list(default or [])
    if not isinstance(value, (list, tuple)):
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"{key!r} must be a list")
    if items is not None and not all(isinstance(x, items) and not isinstance(x, bool) for x in value):
        raise ProtocolError(ErrorCode.INVALID_FIELD, f"{key!r} must be a list of {_ITEM_NOUNS[items]}")
    return list(value)
