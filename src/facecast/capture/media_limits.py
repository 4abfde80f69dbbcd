"""How many pixels a still or a video frame may have before facecast decodes it.

A PNG of 1.7 MB can say 20000 x 20000 pixels: decoding it takes gigabytes. Enrollment
reads each source's size from its header (a still's through Pillow, which parses only the
header until asked for pixels; a video's from the container, before any frame is decoded)
and refuses sources over ``MAX_SOURCE_PIXELS`` with a message that says how to resize.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

MAX_SOURCE_PIXELS = 50_000_000  # a 40-megapixel photo (7300 x 5480) still enrolls
# An image file may hold at most this many bytes per allowed pixel (uncompressed 16-bit
# RGBA), plus room for metadata: a bound on what is read before decoding.
_BYTES_PER_PIXEL = 8
_METADATA_BYTES = 16 << 20

RESIZE_IMAGE_HINT = ("resize it first, e.g. `magick {src} -resize 4096x4096 smaller.png` (ImageMagick) or "
                     "`ffmpeg -i {src} -vf \"scale='min(4096,iw)':-1\" smaller.png`")
RESIZE_VIDEO_HINT = "scale it down first, e.g. `ffmpeg -i {src} -vf \"scale='min(1920,iw)':-2\" smaller.mp4`"


class SourceTooLarge(ValueError):
    """A source image or video frame has more pixels than facecast decodes."""


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.0f}" if pixels % 1_000_000 == 0 else f"{pixels / 1e6:.1f}"


def check_pixels(label: str, width: int, height: int, limit: int = MAX_SOURCE_PIXELS, *, video: bool = False) -> None:
    """Raise SourceTooLarge when ``width`` x ``height`` exceeds ``limit`` pixels."""
    if width * height <= limit:
        return
    per_frame = " per frame" if video else ""
    hint = (RESIZE_VIDEO_HINT if video else RESIZE_IMAGE_HINT).format(src=label)
    raise SourceTooLarge(
        f"{label}: {width}x{height} pixels{per_frame} ({_megapixels(width * height)} megapixels) is over facecast's "
        f"limit of {_megapixels(limit)} megapixels, so it was not decoded; {hint}")


def check_image_file(path: Path, limit: int = MAX_SOURCE_PIXELS) -> tuple[int, int]:
    """Width and height of the image file ``path`` from its header alone, checked against
    ``limit`` pixels (and its byte size against what that many pixels can take).

    Raises SourceTooLarge, or ValueError when Pillow does not recognise the file (its size
    cannot be known without decoding it), and OSError when it cannot be read.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:  # lazy: reads the header only
                width, height = im.size
    except Image.DecompressionBombError as exc:  # over Pillow's own bound, far over ours: no size given
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{_megapixels(int(found.group(1)))} megapixels" if found else "more than Pillow decodes"
        raise SourceTooLarge(f"{path}: {size} is over facecast's limit of {_megapixels(limit)} megapixels, so it "
                             f"was not decoded; {RESIZE_IMAGE_HINT.format(src=path)}") from None
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not an image format whose size can be read before decoding it "
                         "(PNG, JPEG, WebP, BMP, TIFF, ...); convert it to PNG or JPEG") from None
    check_pixels(str(path), width, height, limit)
    most = limit * _BYTES_PER_PIXEL + _METADATA_BYTES
    size = path.stat().st_size
    if size > most:
        raise SourceTooLarge(f"{path}: {size} bytes is more than an image of at most {_megapixels(limit)} "
                             f"megapixels needs ({most} bytes), so it was not read")
    return width, height
