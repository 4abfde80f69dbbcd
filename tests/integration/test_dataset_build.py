"""`facecast dataset build` on real shared videos: one file per usable video, head crops
with landmarks on the face, mattes on the head; unusable inputs skipped and reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from facecast.apps.cli import main
from facecast.training.dataset_build import BuildOptions, build_dataset, stable_crop_box
from facecast.training.dataset_format import (
    MANIFEST_FILE, DatasetError, dataset_files, load_video_record, read_manifest,
)
from facecast.core.topology import parts

SIZE = 64
MAX_FRAMES = 12
EVERY = 2


def _noise_video(path: Path, frames: int = 24, size: int = 128) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (size, size))
    assert writer.isOpened()
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    writer.release()
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, shared_videos: Path, model_dir: Path):
    src = tmp_path_factory.mktemp("videos")
    for name in ("d0.mp4", "d12.mp4"):
        shutil.copy(shared_videos / name, src / name)
    (src / "notes.mp4").write_text("this is a text file, not a video\n")
    _noise_video(src / "noise.mp4")
    out = tmp_path_factory.mktemp("dataset")
    report = build_dataset(src, out, BuildOptions(size=SIZE, max_frames=MAX_FRAMES, every=EVERY), progress=False)
    return src, out, report


def test_usable_videos_become_one_file_each_and_bad_ones_are_reported(built):
    _src, out, report = built
    assert [Path(v.source).name for v in report.usable] == ["d0.mp4", "d12.mp4"]
    skipped = {Path(v.source).name: v.reason for v in report.skipped}
    assert set(skipped) == {"noise.mp4", "notes.mp4"}
    assert "could not decode" in skipped["notes.mp4"]
    assert "0 frame(s) with a face" in skipped["noise.mp4"]
    manifest = read_manifest(out)
    assert [v["file"] for v in manifest["videos"]] == ["d0.npz", "d12.npz"]
    assert {Path(s["source"]).name for s in manifest["skipped"]} == {"noise.mp4", "notes.mp4"}
    assert manifest["size"] == SIZE and manifest["options"]["every"] == EVERY
    assert [p.name for p in dataset_files(out)] == ["d0.npz", "d12.npz"]
    assert sorted(p.name for p in out.iterdir()) == ["d0.npz", "d12.npz", MANIFEST_FILE]


def test_records_hold_face_crops_with_landmarks_and_mattes_on_the_head(built):
    _src, out, _report = built
    oval = list(parts("mediapipe478")["face_oval"].indices)
    for path in dataset_files(out):
        rec = load_video_record(path)
        assert rec.frames.shape == (MAX_FRAMES, SIZE, SIZE, 3) and rec.frames.dtype == np.uint8
        assert rec.landmarks.shape == (MAX_FRAMES, 478, 3) and rec.landmarks.dtype == np.float32
        assert rec.mattes is not None and rec.mattes.shape == (MAX_FRAMES, SIZE, SIZE)
        assert np.all(rec.frame_indices % EVERY == 0) and np.all(np.diff(rec.frame_indices) > 0)
        assert rec.fps == 25.0 and rec.crop_box[2] > 0
        # Frames are real pictures, not constant or empty.
        assert rec.frames.std() > 20
        # Landmarks land on the face: inside the crop, centred, face about half the crop.
        xy = rec.landmarks[..., :2]
        assert xy.min() > 0.0 and xy.max() < 1.0
        centre = xy.mean(axis=(0, 1))
        assert np.all(np.abs(centre - 0.5) < 0.15), centre
        extent = xy.max(axis=1) - xy.min(axis=1)  # (T, 2)
        assert np.all((extent > 0.3) & (extent < 0.7)), extent
        # The matte covers the face (inside the oval) and leaves the crop's top corners out.
        for t in (0, MAX_FRAMES - 1):
            inside = (xy[t].mean(axis=0) * 0.5 + xy[t, oval].mean(axis=0) * 0.5) * SIZE
            assert rec.mattes[t, int(inside[1]), int(inside[0])] > 200
            assert rec.mattes[t, :4, :4].mean() < 30 and rec.mattes[t, :4, -4:].mean() < 30


def test_landmarks_are_renormalised_to_the_crop(built, shared_videos: Path):
    """Mapped back through the crop box, stored landmarks match a fresh detection on
    the source frame."""
    from facecast.capture.landmarks import LandmarkDetector, read_video_frames

    _src, out, _report = built
    rec = load_video_record(out / "d0.npz")
    x0, y0, side = rec.crop_box
    index = int(rec.frame_indices[3])
    [(_i, _t, rgb)] = read_video_frames(shared_videos / "d0.mp4", [index])
    with LandmarkDetector() as det:
        [face] = det.detect(rgb, max_faces=1)
    stored_px = rec.landmarks[3, :, :2] * side + np.array([x0, y0])
    err = np.abs(stored_px - face.pixel_points()).mean()
    assert err < 0.02 * rgb.shape[1], err  # image vs video mode differ by a few pixels at most


def test_stable_crop_box_follows_a_moving_head():
    still = np.array([[100, 50, 200]] * 5)
    assert stable_crop_box(still) == (100, 50, 200)
    moving = np.array([[100 + 10 * i, 50, 200] for i in range(10)])
    x0, y0, side = stable_crop_box(moving)
    centres = moving[:, 0] + 100
    assert side > 200 and x0 < centres.min() and x0 + side > centres.max()
    assert side <= 300  # capped at 1.5 x the median side


def test_cli_reports_skipped_inputs_and_fails_without_usable_video(tmp_path: Path, capsys, model_dir: Path):
    src = tmp_path / "videos"
    src.mkdir()
    (src / "broken.mp4").write_bytes(b"\x00not a video")
    rc = main(["dataset", "build", str(src), str(tmp_path / "out"), "--size", "32"])
    out = capsys.readouterr().out
    assert rc == 2
    assert "skipped  broken.mp4" in out and "0 usable, 1 skipped" in out
    manifest = json.loads((tmp_path / "out" / MANIFEST_FILE).read_text())
    assert manifest["videos"] == [] and manifest["skipped"][0]["source"].endswith("broken.mp4")
    with pytest.raises(DatasetError, match="holds no usable video"):
        dataset_files(tmp_path / "out")
    assert main(["dataset", "build", str(tmp_path / "missing"), str(tmp_path / "out2")]) == 2
    assert main(["dataset", "build", str(src), str(tmp_path / "out3"), "--every", "0"]) == 2
