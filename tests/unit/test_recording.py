"""Pose recordings: the file format round-trips exactly and bad files give clear errors."""

from __future__ import annotations

from pathlib import Path

import msgpack
import numpy as np
import pytest

from facecast.capture.recording import (
    FORMAT_NAME,
    FORMAT_VERSION,
    RecordingError,
    RecordingWriter,
    iter_recording,
    read_recording,
)
from facecast.tracking.face import BLENDSHAPE_NAMES, FaceLandmarks
from facecast.tracking.head_pose import HeadPose, head_pose_from_transform

SIZE = (640, 480)


def _face(seed: int) -> FaceLandmarks:
    rng = np.random.default_rng(seed)
    rot = HeadPose(0.1 * seed, -0.05, 0.02).matrix()
    transform = np.eye(4, dtype=np.float32)
    transform[:3, :3] = np.diag([1, -1, -1]) @ rot @ np.diag([1, -1, -1])  # landmark axes -> MediaPipe's GL axes
    transform[:3, 3] = (1.0, -2.0, -40.0)
    return FaceLandmarks(points=rng.random((478, 3), dtype=np.float32),
                         blendshapes=rng.random(len(BLENDSHAPE_NAMES), dtype=np.float32),
                         transform=transform, image_size=SIZE)


def _write(path: Path, faces: list[FaceLandmarks | None], t0: float = 100.0) -> None:
    with RecordingWriter(path, "camera 0", SIZE, fps=30.0) as writer:
        for i, face in enumerate(faces):
            writer.write(i, t0 + i / 30.0, face)


def test_round_trip_is_exact(tmp_path: Path):
    faces = [_face(0), None, _face(2)]
    path = tmp_path / "take.fcrec"
    _write(path, faces)
    rec = read_recording(path)
    assert rec.header["format"] == FORMAT_NAME and rec.header["version"] == FORMAT_VERSION
    assert rec.image_size == SIZE and rec.header["fps"] == 30.0 and rec.header["source"] == "camera 0"
    assert rec.header["blendshape_names"] == list(BLENDSHAPE_NAMES)
    assert [f.index for f in rec.frames] == [0, 1, 2]
    np.testing.assert_allclose([f.timestamp_s for f in rec.frames], [0.0, 1 / 30, 2 / 30])  # from the first
    assert rec.frames[1].face is None
    for got, want in ((rec.frames[0].face, faces[0]), (rec.frames[2].face, faces[2])):
        np.testing.assert_array_equal(got.points, want.points)
        np.testing.assert_array_equal(got.blendshapes, want.blendshapes)
        np.testing.assert_array_equal(got.transform, want.transform)
        assert got.image_size == SIZE
    # The stored head angles are the transform's, in head_pose's convention.
    with open(path, "rb") as fh:
        records = list(msgpack.Unpacker(fh, raw=False))
    head = np.frombuffer(records[1]["head"]["data"], "<f4")
    np.testing.assert_allclose(head, head_pose_from_transform(faces[0].transform).as_array(), atol=1e-6)
    np.testing.assert_allclose(head, [0.0, -0.05, 0.02], atol=1e-5)


def test_a_truncated_recording_keeps_its_whole_frames(tmp_path: Path):
    path = tmp_path / "cut.fcrec"
    _write(path, [_face(i) for i in range(5)])
    data = path.read_bytes()
    path.write_bytes(data[:-100])  # a crash while writing the last frame
    rec = read_recording(path)
    assert [f.index for f in rec.frames] == [0, 1, 2, 3]


def test_bad_files_are_refused_clearly(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no recording"):
        read_recording(tmp_path / "missing.fcrec")
    not_one = tmp_path / "video.fcrec"
    not_one.write_bytes(b"\x00\x00\x00 ftypisom")
    with pytest.raises(RecordingError, match="not a facecast recording"):
        read_recording(not_one)
    other = tmp_path / "other.fcrec"
    other.write_bytes(msgpack.packb({"format": "something-else", "version": 1}))
    with pytest.raises(RecordingError, match="not a facecast recording"):
        read_recording(other)
    newer = tmp_path / "newer.fcrec"
    newer.write_bytes(msgpack.packb({"format": FORMAT_NAME, "version": FORMAT_VERSION + 1, "image_size": [4, 4]}))
    with pytest.raises(RecordingError, match="newer than this facecast reads"):
        read_recording(newer)
    bad_frame = tmp_path / "bad_frame.fcrec"
    bad_frame.write_bytes(
        msgpack.packb({"format": FORMAT_NAME, "version": 1, "image_size": [4, 4]})
        + msgpack.packb({"i": 0, "t": 0.0, "landmarks": {"dtype": "f32", "shape": [478, 3], "data": b"\0" * 8}})
    )
    header, frames = iter_recording(bad_frame)
    with pytest.raises(RecordingError, match="frame 0: landmarks"):
        list(frames)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        RecordingWriter(tmp_path / "no" / "dir" / "x.fcrec", "x", SIZE)
