"""Point arrays on the wire: raw little-endian float32 bytes plus a shape.

Wire form (a msgpack map)::

    {"dtype": "f32", "shape": [478, 3], "data": <bin 478*3*4 bytes>}

Landmark arrays add ``"format": "mediapipe478" | "ibug68"``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from facecast.protocol.errors import ErrorCode, ProtocolError, shown

WIRE_DTYPE = "f32"
MAX_ARRAY_ELEMENTS = 1 << 20
MAX_ARRAY_DIMS = 32  # numpy 1.x's limit (2.x allows 64)


def pack_array(values: np.ndarray, **extra: Any) -> dict[str, Any]:
    """numpy array -> wire map (float32 little-endian, C order)."""
    arr = np.ascontiguousarray(values, dtype="<f4")
    out: dict[str, Any] = dict(extra)
    out.update({"dtype": WIRE_DTYPE, "shape": list(arr.shape), "data": arr.tobytes()})
    return out


def unpack_array(field: str, wire: Any, expected_shape: tuple[int, ...] | None = None) -> np.ndarray:
    """Wire map -> float32 array (a copy). Raises ProtocolError BAD_ARRAY / NON_FINITE."""
    if not isinstance(wire, Mapping):
        raise ProtocolError(ErrorCode.BAD_ARRAY, f"{field}: expected a map with dtype/shape/data")
    dtype, shape, data = wire.get("dtype"), wire.get("shape"), wire.get("data")
    if dtype != WIRE_DTYPE:
        raise ProtocolError(ErrorCode.BAD_ARRAY, f"{field}: dtype must be {WIRE_DTYPE!r}, got {shown(dtype)}")
    if (
        not isinstance(shape, (list, tuple))
        or not shape
        or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
    ):
        raise ProtocolError(ErrorCode.BAD_ARRAY, f"{field}: shape must be a non-empty list of non-negative ints")
    if len(shape) > MAX_ARRAY_DIMS:
        raise ProtocolError(ErrorCode.BAD_ARRAY, f"{field}: {len(shape)} dimensions (max {MAX_ARRAY_DIMS})")
    count = 1
    for n in shape:
        count *= n
        if count > MAX_ARRAY_ELEMENTS or n > MAX_ARRAY_ELEMENTS:  # a zero elsewhere keeps count 0
            raise ProtocolError(ErrorCode.BAD_ARRAY, f"{field}: too many elements (max {MAX_ARRAY_ELEMENTS})")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ProtocolError(ErrorCode.BAD_ARRAY, f"{field}: data must be raw bytes (msgpack bin)")
    if len(data) != count * 4:
        raise ProtocolError(
            ErrorCode.BAD_ARRAY,
            f"{field}: data has {len(data)} bytes, shape {list(shape)} needs {count * 4}",
        )
    if expected_shape is not None and tuple(shape) != expected_shape:
        raise ProtocolError(
            ErrorCode.BAD_ARRAY, f"{field}: shape {list(shape)}, expected {list(expected_shape)}"
        )
    arr = np.frombuffer(bytes(data), dtype="<f4").reshape(shape).astype(np.float32)
    if not np.isfinite(arr).all():
        raise ProtocolError(ErrorCode.NON_FINITE, f"{field}: contains NaN or infinity")
    return arr
