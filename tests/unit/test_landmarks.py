"""MediaPipe FaceLandmarker wrapper on stills and videos (needs the real model file)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from facecast.capture.landmarks import (
    LandmarkDetector,
    UnreadableMedia,
    read_image,
    read_video_frames,
)
from facecast.tracking.face import BLENDSHAPE_NAMES, NUM_LANDMARKS, FaceLandmarks

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CHARACTERS = sorted((SHARED / "data" / "characters").glob("*.jpg"))


def _model_path() -> Path:
    env = os.environ.get("FACECAST_MODEL_DIR")
    path = (Path(env) if env else SHARED / "models") / "face_landmarker.task"
    if not path.is_file():
        pytest.skip(f"face_landmarker.task not found at {path} (set FACECAST_MODEL_DIR)")
    return path


def _shared(rel: str) -> Path:
    path = SHARED / rel
    if not path.exists():
        pytest.skip(f"shared test media {path} is absent")
    return path


@pytest.fixture(scope="module")
def detector() -> Iterator[LandmarkDetector]:
    with LandmarkDetector(_model_path()) as det:
        yield det


def _check_face(face: FaceLandmarks, size: tuple[int, int]) -> None:
    assert face.points.shape == (NUM_LANDMARKS, 3)
    assert face.points.dtype == np.float32
    assert face.blendshapes.shape == (len(BLENDSHAPE_NAMES),) == (52,)
    assert face.blendshapes.dtype == np.float32
    assert face.transform is not None and face.transform.shape == (4, 4)
    assert face.image_size == size
    assert np.all(face.points[:, :2] >= 0.0) and np.all(face.points[:, :2] <= 1.0)


def test_blendshape_names() -> None:
    assert len(BLENDSHAPE_NAMES) == 52 == len(set(BLENDSHAPE_NAMES))
    assert BLENDSHAPE_NAMES[0] == "_neutral"
    assert "jawOpen" in BLENDSHAPE_NAMES and "eyeBlinkLeft" in BLENDSHAPE_NAMES


def test_astronaut_one_face(detector: LandmarkDetector) -> None:
    rgb = skdata.astronaut()
    faces = detector.detect(rgb)
    assert len(faces) == 1
    _check_face(faces[0], (rgb.shape[1], rgb.shape[0]))
    # The face is in the upper middle of the picture.
    x0, y0, x1, y1 = faces[0].bbox()
    assert 100 < x0 < x1 < 350 and 30 < y0 < y1 < 300


def test_max_faces_one_and_back(detector: LandmarkDetector) -> None:
    rgb = skdata.astronaut()
    assert len(detector.detect(rgb, max_faces=1)) == 1
    assert len(detector.detect(rgb, max_faces=3)) == 1
    assert len(detector.detect(rgb, max_faces=1)) == 1


def test_blank_image_no_face(detector: LandmarkDetector) -> None:
    assert detector.detect(np.full((256, 256, 3), 128, np.uint8)) == []


@pytest.mark.parametrize("path", CHARACTERS or [None], ids=lambda p: p.name if p else "none")
def test_shared_characters_have_a_face(detector: LandmarkDetector, path: Path | None) -> None:
    if path is None:
        pytest.skip(f"no character stills under {SHARED / 'data' / 'characters'}")
    rgb = read_image(path)
    faces = detector.detect(rgb)
    assert len(faces) >= 1, f"no face in {path.name}"
    _check_face(faces[0], (rgb.shape[1], rgb.shape[0]))


def test_video_track(detector: LandmarkDetector) -> None:
    video = _shared("data/videos/d0.mp4")
    samples = list(detector.track_video(video, progress=False))
    assert len(samples) >= 70
    assert [s.frame_index for s in samples] == list(range(len(samples)))
    times = np.array([s.timestamp_s for s in samples])
    assert np.all(np.diff(times) > 0)
    assert times[0] == 0.0 and abs(times[-1] - (len(samples) - 1) / 25.0) < 0.05
    with_face = [s for s in samples if s.face is not None]
    assert len(with_face) >= 0.9 * len(samples)
    assert all(s.rgb is None for s in samples)
    _check_face(with_face[0].face, with_face[0].face.image_size)  # type: ignore[arg-type]
    # Tracked landmarks move smoothly between consecutive frames.
    pts = np.stack([s.face.points for s in with_face])  # type: ignore[union-attr]
    assert float(np.abs(np.diff(pts[:, :, :2], axis=0)).mean()) < 0.02


def test_video_track_max_frames_keep(detector: LandmarkDetector) -> None:
    video = _shared("data/videos/d0.mp4")
    samples = list(detector.track_video(video, max_frames=5, progress=False, keep_frames=True))
    assert len(samples) == 5
    assert all(s.rgb is not None and s.rgb.dtype == np.uint8 and s.rgb.ndim == 3 for s in samples)


def test_read_video_frames() -> None:
    video = _shared("data/videos/d0.mp4")
    frames = read_video_frames(video, [10, 0, 40, 10, 10_000])
    assert [f[0] for f in frames] == [0, 10, 40]
    assert frames[1][1] == pytest.approx(10 / 25.0)


def test_unreadable_video(detector: LandmarkDetector, tmp_path: Path) -> None:
    bogus = tmp_path / "broken.mp4"
    bogus.write_bytes(b"this is not a video")
    with pytest.raises(UnreadableMedia, match="broken.mp4"):
        list(detector.track_video(bogus, progress=False))
    with pytest.raises(UnreadableMedia, match="missing.mp4"):
        list(detector.track_video(tmp_path / "missing.mp4", progress=False))


def test_read_image_variants(tmp_path: Path) -> None:
    gray = np.tile(np.arange(64, dtype=np.uint8), (32, 1))
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    out = read_image(tmp_path / "gray.png")
    assert out.shape == (32, 64, 3) and out.dtype == np.uint8
    assert np.array_equal(out[:, :, 0], gray) and np.array_equal(out[:, :, 2], gray)

    bgra = np.zeros((8, 8, 4), np.uint8)
    bgra[..., 2] = 200  # red in BGR order
    bgra[:, :4, 3] = 255  # left half opaque, right half transparent
    cv2.imwrite(str(tmp_path / "alpha.png"), bgra)
    out = read_image(tmp_path / "alpha.png")
    assert out.shape == (8, 8, 3)
    assert tuple(out[0, 0]) == (200, 0, 0)
    assert tuple(out[0, 7]) == (255, 255, 255)

    img16 = np.full((4, 4, 3), 65535, np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), img16)
    assert read_image(tmp_path / "deep.png").max() == 255


def test_unreadable_image(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\x00\x01garbage")
    with pytest.raises(UnreadableMedia, match="bad.jpg"):
        read_image(bad)
    with pytest.raises(UnreadableMedia, match="nope.png"):
        read_image(tmp_path / "nope.png")


def test_closed_detector_refuses() -> None:
    det = LandmarkDetector(_model_path())
    det.close()
    det.close()
    with pytest.raises(RuntimeError, match="closed"):
        det.detect(skdata.astronaut())


def test_unclosed_detector_exits_quietly() -> None:
    """A detector (and a half-read video) left open must not print tracebacks at exit."""
    model = _model_path()
    video = _shared("data/videos/d0.mp4")
    script = (
        "from skimage import data\n"
        "from facecast.capture.landmarks import LandmarkDetector\n"
        f"det = LandmarkDetector({str(model)!r})\n"
        "assert len(det.detect(data.astronaut())) == 1\n"
        f"gen = det.track_video({str(video)!r}, progress=False)\n"
        "next(gen)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
