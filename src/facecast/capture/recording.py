"""Pose recordings (``facecast record`` writes them, ``facecast replay`` sends them).

A recording is the tracker's raw per-frame output — what MediaPipe saw, before smoothing
and retargeting — so a replay runs the same pipeline and sends the same poses as the live
tracker did, onto any character and with any ``[tracker]`` settings.

File format, version 1 (docs/tracker.md): a sequence of msgpack maps, written one after
the other (a crash loses at most the frame being written):

1. a header: ``{"format": "facecast-recording", "version": 1, "created": ISO-8601,
   "source": str, "image_size": [w, h], "fps": float, "landmark_format": "mediapipe478",
   "blendshape_names": [52 str], "head": "yaw, pitch, roll in radians ...",
   "facecast": version}``;
2. one map per frame: ``{"i": frame index, "t": seconds since the first frame}`` plus,
   when a face was found, ``"landmarks"`` (478 x 3), ``"blendshapes"`` (52), ``"head"``
   (3: yaw, pitch, roll) and ``"transform"`` (4 x 4, MediaPipe's facial transformation
   matrix), each a point array as on the wire (``{"dtype": "f32", "shape": [...],
   "data": <bin>}``, little-endian float32). A frame without a face has none of them.

Readers ignore unknown keys; a newer ``version`` is refused with a message.
"""

from __future__ import annotations

import datetime as _dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import msgpack
import numpy as np

from facecast import __version__
from facecast.protocol.arrays import pack_array, unpack_array
from facecast.protocol.errors import ProtocolError
from facecast.tracking.head_pose import head_pose_from_transform
from facecast.tracking.face import BLENDSHAPE_NAMES, LANDMARK_FORMAT, NUM_LANDMARKS, FaceLandmarks

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "RecordedFrame",
    "Recording",
    "RecordingError",
    "RecordingWriter",
    "iter_recording",
    "read_recording",
]

log = logging.getLogger(__name__)

FORMAT_NAME = "facecast-recording"
FORMAT_VERSION = 1
SUFFIX = ".fcrec"
HEAD_DESCRIPTION = "yaw, pitch, roll in radians (facecast.tracking.head_pose; the protocol's pose.head)"
_MAX_BUFFER = 64 << 20


class RecordingError(ValueError):
    """A recording file that cannot be read (not one, damaged, or from a newer facecast)."""


@dataclass(frozen=True)
class RecordedFrame:
    index: int
    timestamp_s: float  # seconds since the recording's first frame
    face: FaceLandmarks | None


@dataclass
class Recording:
    header: dict[str, Any]
    frames: list[RecordedFrame] = field(default_factory=list)

    @property
    def image_size(self) -> tuple[int, int]:
        w, h = self.header["image_size"]
        return int(w), int(h)

    @property
    def duration_s(self) -> float:
        return self.frames[-1].timestamp_s if self.frames else 0.0


class RecordingWriter:
    """Writes a recording frame by frame; use as a context manager (or call ``close``)."""

    def __init__(self, path: str | Path, source: str, image_size: tuple[int, int], fps: float = 0.0) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            raise FileNotFoundError(f"cannot write recording {self.path}: folder {self.path.parent} does not exist")
        self._file: BinaryIO | None = open(self.path, "wb")
        self._packer = msgpack.Packer(use_bin_type=True)
        self._t0: float | None = None
        self.frames = 0
        self.faces = 0
        self._write({
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "source": source,
            "image_size": [int(image_size[0]), int(image_size[1])],
            "fps": float(fps),
            "landmark_format": LANDMARK_FORMAT,
            "blendshape_names": list(BLENDSHAPE_NAMES),
            "head": HEAD_DESCRIPTION,
            "facecast": __version__,
        })

    def _write(self, obj: dict[str, Any]) -> None:
        if self._file is None:
            raise ValueError(f"recording {self.path} is closed")
        self._file.write(self._packer.pack(obj))

    def write(self, index: int, timestamp_s: float, face: FaceLandmarks | None) -> None:
        """Append one frame (``timestamp_s`` on any clock; stored relative to the first)."""
        if self._t0 is None:
            self._t0 = float(timestamp_s)
        record: dict[str, Any] = {"i": int(index), "t": float(timestamp_s) - self._t0}
        if face is not None:
            record["landmarks"] = pack_array(face.points, format=LANDMARK_FORMAT)
            record["blendshapes"] = pack_array(face.blendshapes)
            if face.transform is not None:
                record["transform"] = pack_array(face.transform)
                record["head"] = pack_array(head_pose_from_transform(face.transform).as_array())
            self.faces += 1
        self._write(record)
        self.frames += 1
        if self.frames % 30 == 0:
            self._file.flush()  # type: ignore[union-attr]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_header(path: Path, header: Any) -> dict[str, Any]:
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise RecordingError(f"{path} is not a facecast recording (made by `facecast record`)")
    version = header.get("version")
    if not isinstance(version, int) or version < 1:
        raise RecordingError(f"{path}: invalid recording version {version!r}")
    if version > FORMAT_VERSION:
        raise RecordingError(f"{path}: recording format version {version} is newer than this facecast reads "
                             f"({FORMAT_VERSION}); upgrade facecast")
    size = header.get("image_size")
    if not (isinstance(size, list) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise RecordingError(f"{path}: header has no valid image_size")
    return header


def _frame(path: Path, record: Any, size: tuple[int, int]) -> RecordedFrame:
    if not isinstance(record, dict) or not isinstance(record.get("i"), int) or \
            not isinstance(record.get("t"), (int, float)):
        raise RecordingError(f"{path}: damaged frame record")
    face = None
    try:
        if record.get("landmarks") is not None:
            points = unpack_array("landmarks", record["landmarks"], (NUM_LANDMARKS, 3))
            blend = (unpack_array("blendshapes", record["blendshapes"], (len(BLENDSHAPE_NAMES),))
                     if record.get("blendshapes") is not None else np.zeros(len(BLENDSHAPE_NAMES), np.float32))
            transform = (unpack_array("transform", record["transform"], (4, 4))
                         if record.get("transform") is not None else None)
            face = FaceLandmarks(points=points, blendshapes=blend, transform=transform, image_size=size)
    except ProtocolError as exc:
        raise RecordingError(f"{path}: frame {record.get('i')}: {exc.detail}") from None
    return RecordedFrame(index=int(record["i"]), timestamp_s=float(record["t"]), face=face)


def iter_recording(path: str | Path) -> tuple[dict[str, Any], Iterator[RecordedFrame]]:
    """The header, and an iterator over the frames (read lazily)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no recording at {path}")
    handle = open(path, "rb")
    unpacker = msgpack.Unpacker(handle, raw=False, max_buffer_size=_MAX_BUFFER, strict_map_key=False)
    try:
        header = _check_header(path, next(unpacker))
    except StopIteration:
        handle.close()
        raise RecordingError(f"{path} is empty or not a facecast recording") from None
    except (msgpack.UnpackException, ValueError) as exc:
        handle.close()
        if isinstance(exc, RecordingError):
            raise
        raise RecordingError(f"{path} is not a facecast recording ({exc})") from None
    size = (int(header["image_size"][0]), int(header["image_size"][1]))

    def frames() -> Iterator[RecordedFrame]:
        try:
            while True:
                try:
                    record = next(unpacker)
                except StopIteration:
                    return
                except (msgpack.UnpackException, ValueError) as exc:
                    raise RecordingError(f"{path}: damaged after the frames already read ({exc})") from None
                yield _frame(path, record, size)
        finally:
            handle.close()

    return header, frames()


def read_recording(path: str | Path) -> Recording:
    """Read a whole recording (a truncated last frame, from a crash, is ignored)."""
    header, frames = iter_recording(path)
    rec = Recording(header=header, frames=list(frames))
    if not rec.frames:
        log.warning("%s holds no frames", path)
    return rec
