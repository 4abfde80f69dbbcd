"""Enrollment refuses sources of too many pixels before decoding them (issue 12 #9): a
1.7 MB PNG that says 20000 x 20000 once took `facecast enroll` past 2.5 GB of memory."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facecast.capture.landmarks import LandmarkDetector
from facecast.capture.media_limits import MAX_SOURCE_PIXELS, SourceTooLarge
from facecast.characters.store import CharacterStore, NoFaceFound

REPO = Path(__file__).resolve().parents[2]

# Peak resident memory of `facecast enroll` refusing a source; a normal enrollment of a
# small photo peaks near 200 MB, decoding the 20000 x 20000 PNG took 2.5 GB.
PEAK_BOUND_BYTES = 700 << 20

_PEAK_WRAPPER = """
import atexit, runpy, sys
PEAK_FILE = sys.argv[1]
def _report():
    with open(PEAK_FILE, "w") as out:
        out.write(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
atexit.register(_report)
sys.argv = ["facecast"] + sys.argv[2:]
runpy.run_module("facecast.apps.cli", run_name="__main__")
"""


def gray_png_of_zeros(path: Path, width: int, height: int) -> Path:
    """A valid 8-bit gray PNG of ``width`` x ``height`` black pixels, small on disk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer = zlib.compressobj(1)
    rows = 500
    block = b"\0" * ((1 + width) * rows)
    idat = b"".join(packer.compress(block) for _ in range(height // rows))
    idat += packer.compress(b"\0" * ((1 + width) * (height % rows))) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def mjpeg_video_of_gray(path: Path, side: int, frames: int = 3) -> Path:
    """A motion-JPEG stream (FFmpeg reads it by its content) of ``frames`` gray frames."""
    buf = io.BytesIO()
    Image.new("L", (side, side), 90).save(buf, "JPEG", quality=50)
    path.write_bytes(buf.getvalue() * frames)
    return path


def _enroll_cli(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, int]:
    """`facecast enroll ARGS` in a subprocess; its output and its peak resident bytes."""
    if not Path("/proc/self/status").is_file():
        pytest.skip("peak memory is read from /proc (Linux)")
    peak_file = tmp_path / "peak"
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    done = subprocess.run([sys.executable, "-c", _PEAK_WRAPPER, str(peak_file), "enroll", *args],
                          capture_output=True, text=True, env=env, timeout=300)
    return done, int(peak_file.read_text()) * 1024


def test_enroll_refuses_a_huge_png_before_decoding_it(tmp_path: Path, model_dir: Path) -> None:
    bomb = gray_png_of_zeros(tmp_path / "bomb.png", 20000, 20000)
    assert bomb.stat().st_size < 2 << 20  # small on disk, 400 megapixels decoded
    store = tmp_path / "store"
    done, peak = _enroll_cli(tmp_path, "bomb", str(bomb), "--store", str(store))
    assert done.returncode == 2, done.stderr
    assert "400 megapixels" in done.stderr and f"limit of {MAX_SOURCE_PIXELS // 1_000_000} megapixels" in done.stderr
    assert "magick" in done.stderr and "ffmpeg" in done.stderr  # how to resize it
    assert peak < PEAK_BOUND_BYTES, f"peak resident memory {peak >> 20} MiB"
    assert CharacterStore(store).names() == []


def test_enroll_refuses_a_video_of_huge_frames_before_decoding_one(tmp_path: Path, model_dir: Path) -> None:
    video = mjpeg_video_of_gray(tmp_path / "bomb.avi", 10000)
    done, peak = _enroll_cli(tmp_path, "bomb", str(video), "--store", str(tmp_path / "store"))
    assert done.returncode == 2, done.stderr
    assert "10000x10000" in done.stderr and "ffmpeg" in done.stderr
    assert peak < PEAK_BOUND_BYTES, f"peak resident memory {peak >> 20} MiB"


def test_a_huge_array_source_is_refused(tmp_path: Path) -> None:
    huge = np.broadcast_to(np.zeros(3, np.uint8), (10000, 10000, 3))  # no memory behind it
    with pytest.raises(SourceTooLarge, match="10000x10000"):
        CharacterStore(tmp_path).enroll("huge", [huge], detector=object())  # type: ignore[arg-type]


def test_a_40_megapixel_photo_is_still_read(tmp_path: Path, model_dir: Path) -> None:
    photo = gray_png_of_zeros(tmp_path / "big.png", 7300, 5480)  # 40 MP, under the limit
    with LandmarkDetector(model_dir / "face_landmarker.task") as detector:
        with pytest.raises(NoFaceFound, match="big.png"):  # decoded and searched: no face in black
            CharacterStore(tmp_path / "store").enroll("big", [photo], detector=detector)
