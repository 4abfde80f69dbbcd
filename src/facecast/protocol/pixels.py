"""Frame pixel formats: RGBA8 arrays <-> the bytes a frame message carries."""

from __future__ import annotations

import cv2
import numpy as np

from facecast.protocol.formats import RAW_PIXEL_FORMATS


def encode_pixels(rgba: np.ndarray, pixel_format: str, jpeg_quality: int = 90) -> bytes:
    """H x W x 4 uint8 RGBA -> bytes in ``pixel_format`` (raw formats are row-major, no padding)."""
    if pixel_format == "rgba8":
        return np.ascontiguousarray(rgba).tobytes()
    if pixel_format == "rgb8":
        return np.ascontiguousarray(rgba[..., :3]).tobytes()
    if pixel_format == "bgra8":
        return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA).tobytes()
    if pixel_format == "jpeg":
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    elif pixel_format == "png":
        ok, buf = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    else:
        raise ValueError(f"unknown pixel format {pixel_format!r}")
    if not ok:
        raise ValueError(f"could not encode frame as {pixel_format}")
    return buf.tobytes()


def decode_pixels(data: bytes, pixel_format: str, width: int, height: int) -> np.ndarray:
    """Frame bytes -> H x W x C uint8 array in the frame's own channel order
    (rgba8/rgb8/bgra8 as sent; jpeg decodes to RGB, png to RGBA)."""
    if pixel_format in RAW_PIXEL_FORMATS:
        channels = RAW_PIXEL_FORMATS[pixel_format]
        expected = width * height * channels
        if len(data) != expected:
            raise ValueError(f"{pixel_format} frame of {width}x{height} needs {expected} bytes, got {len(data)}")
        return np.frombuffer(data, dtype=np.uint8).reshape(height, width, channels)
    img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"could not decode {pixel_format} frame")
    if pixel_format == "jpeg":
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
