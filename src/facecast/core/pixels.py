"""Frame pixel formats: RGBA8 arrays <-> the bytes a frame message carries."""

from __future__ import annotations

import cv2
import numpy as np

from facecast.protocol.formats import ENCODED_PIXEL_FORMATS, RAW_PIXEL_FORMATS


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


def write_raw_pixels(rgba: np.ndarray, pixel_format: str, out: memoryview) -> None:
    """Write H x W x 4 uint8 RGBA into ``out`` in raw ``pixel_format`` (row-major, no
    padding): the one copy of the pixels into a frame reply (see encode_with_blob)."""
    channels = RAW_PIXEL_FORMATS.get(pixel_format)
    if channels is None:
        raise ValueError(f"{pixel_format!r} is not a raw pixel format")
    h, w = rgba.shape[:2]
    dst = np.frombuffer(out, np.uint8).reshape(h, w, channels)
    if pixel_format == "rgba8":
        np.copyto(dst, rgba)
    elif pixel_format == "rgb8":
        np.copyto(dst, rgba[..., :3])
    else:
        cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA, dst=dst)


def decode_pixels(data: bytes, pixel_format: str, width: int, height: int) -> np.ndarray:
    """Frame bytes -> H x W x C uint8 array in the frame's own channel order
    (rgba8/rgb8/bgra8 as sent; jpeg decodes to RGB, png to RGBA).

    Anything that is not a ``width`` x ``height`` image in ``pixel_format`` raises
    ValueError: wrong byte count, undecodable or empty jpeg/png data, an encoded image of
    another size, or an unknown format."""
    if width < 0 or height < 0:
        raise ValueError(f"frame size {width}x{height} is negative")
    if pixel_format in RAW_PIXEL_FORMATS:
        channels = RAW_PIXEL_FORMATS[pixel_format]
        expected = width * height * channels
        if len(data) != expected:
            raise ValueError(f"{pixel_format} frame of {width}x{height} needs {expected} bytes, got {len(data)}")
        return np.frombuffer(data, dtype=np.uint8).reshape(height, width, channels)
    if pixel_format not in ENCODED_PIXEL_FORMATS:
        raise ValueError(f"unknown pixel format {pixel_format!r}")
    if not len(data):
        raise ValueError(f"empty {pixel_format} frame")
    # jpeg: always 8-bit 3-channel BGR; png: as stored (grey, BGR, BGRA; 8 or 16 bit)
    flags = cv2.IMREAD_COLOR if pixel_format == "jpeg" else cv2.IMREAD_UNCHANGED
    try:
        img = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    except cv2.error as exc:  # OpenCV asserts on some inputs instead of returning None
        raise ValueError(f"could not decode {pixel_format} frame: {exc}") from None
    if img is None:
        raise ValueError(f"could not decode {pixel_format} frame")
    if img.shape[:2] != (height, width):
        raise ValueError(f"{pixel_format} frame is {img.shape[1]}x{img.shape[0]}, header says {width}x{height}")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        raise ValueError(f"{pixel_format} frame has unsupported sample type {img.dtype}")
    if pixel_format == "jpeg":
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    channels = 1 if img.ndim == 2 else img.shape[2]
    to_rgba = {1: cv2.COLOR_GRAY2RGBA, 3: cv2.COLOR_BGR2RGBA, 4: cv2.COLOR_BGRA2RGBA}.get(channels)
    if to_rgba is None:
        raise ValueError(f"png frame with {channels} channels")
    return cv2.cvtColor(img, to_rgba)
