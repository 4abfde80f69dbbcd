"""Character store: enrollment from stills and video, validation, atomic layout."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pytest

from facecast.capture.landmarks import LandmarkDetector, UnreadableMedia, read_image
from facecast.characters.assets import CharacterAssets
from facecast.characters.store import (
    CROP_SIZE,
    Character,
    CharacterExists,
    CharacterStore,
    InvalidCharacterName,
    MultipleFaces,
    NoFaceFound,
    UnknownCharacter,
    validate_name,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
CHARACTERS = sorted((SHARED / "data" / "characters").glob("*.jpg"))


def _model_dir() -> Path:
    env = os.environ.get("FACECAST_MODEL_DIR")
    model_dir = Path(env) if env else SHARED / "models"
    if not (model_dir / "face_landmarker.task").is_file():
        pytest.skip(f"face_landmarker.task not found in {model_dir} (set FACECAST_MODEL_DIR)")
    return model_dir


def _shared(rel: str) -> Path:
    path = SHARED / rel
    if not path.exists():
        pytest.skip(f"shared test media {path} is absent")
    return path


def _stills() -> list[Path]:
    if not CHARACTERS:
        pytest.skip(f"no character stills under {SHARED / 'data' / 'characters'}")
    return CHARACTERS


@pytest.fixture(scope="module")
def detector() -> Iterator[LandmarkDetector]:
    with LandmarkDetector(_model_dir() / "face_landmarker.task") as det:
        yield det


@pytest.fixture
def store(tmp_path: Path) -> CharacterStore:
    return CharacterStore(tmp_path / "characters")


@pytest.fixture
def model_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """For code paths that build their own detector: the test model, never a download."""
    monkeypatch.setenv("FACECAST_MODEL_DIR", str(_model_dir()))
    monkeypatch.setenv("FACECAST_OFFLINE", "1")


def _check_character(ch: Character, name: str, shots: int) -> None:
    assert ch.name == name
    assert ch.image.shape == (CROP_SIZE, CROP_SIZE, 3) and ch.image.dtype == np.uint8
    assert ch.neutral.shape == (478, 3) and ch.neutral.dtype == np.float32
    assert ch.shots.shape == (shots, 478, 3)
    assert ch.blendshapes.shape == (shots, 52)
    assert len(ch.shot_images) == shots
    np.testing.assert_array_equal(ch.neutral, ch.shots[0])
    # The face fills roughly the middle half of the crop, leaving room for hair and neck.
    lo, hi = ch.neutral[:, :2].min(axis=0), ch.neutral[:, :2].max(axis=0)
    extent = float((hi - lo).max())
    assert 0.35 < extent < 0.65, extent
    centre = (lo + hi) / 2
    assert abs(centre[0] - 0.5) < 0.1 and 0.5 < centre[1] < 0.65, centre
    m = ch.manifest
    assert m["name"] == name and m["format_version"] == 1 and m["shots"] == shots
    assert m["image_size"] == [CROP_SIZE, CROP_SIZE]
    assert m["landmark_format"] == "mediapipe478"
    assert len(m["crop_box"]) == 4 and m["crop_box"][2] == m["crop_box"][3] > 0
    assert m["created"]


def test_enroll_shared_stills(store: CharacterStore, detector: LandmarkDetector) -> None:
    stills = _stills()
    for path in stills:
        ch = store.enroll(path.stem, [path], detector=detector)
        _check_character(ch, path.stem, 1)
        assert ch.manifest["sources"] == [str(path)]
        assert not (store.root / path.stem / "shots").exists()
    assert store.names() == sorted(p.stem for p in stills)

    fresh = CharacterStore(store.root)  # no cache: read back from disk
    for path in stills:
        again = fresh.load(path.stem)
        _check_character(again, path.stem, 1)
        original = store.load(path.stem)
        np.testing.assert_array_equal(again.image, original.image)
        np.testing.assert_allclose(again.neutral, original.neutral)
        on_disk = json.loads((store.root / path.stem / "manifest.json").read_text())
        assert on_disk == again.manifest
    assert fresh.load(stills[0].stem) is fresh.load(stills[0].stem)  # cached

    assets = fresh.load(stills[0].stem).assets()
    assert isinstance(assets, CharacterAssets)
    assert assets.image.shape == (CROP_SIZE, CROP_SIZE, 3) and assets.neutral.shape == (478, 3)
    assert not (list(store.root.glob(".tmp-*")) or list(store.root.glob(".old-*")))


def test_landmarks_follow_the_crop(store: CharacterStore, detector: LandmarkDetector) -> None:
    """Re-detecting on the saved crop gives about the stored (transformed) landmarks."""
    path = _stills()[0]
    ch = store.enroll("again", [path], detector=detector)
    faces = detector.detect(ch.image, max_faces=1)
    assert faces
    err = np.abs(faces[0].points[:, :2] - ch.neutral[:, :2]).mean()
    assert err < 0.02, err


BAD_NAMES = [
    "../x", "a/b", "", "..", ".hidden", "a..b", "x" * 65, "a\\b", "NUL", "é", "a b", "end.",
]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_bad_names_rejected(store: CharacterStore, bad: str) -> None:
    with pytest.raises(InvalidCharacterName):
        validate_name(bad)
    with pytest.raises(InvalidCharacterName):
        store.load(bad)
    with pytest.raises(InvalidCharacterName):
        store.enroll(bad, [np.zeros((8, 8, 3), np.uint8)])
    assert not store.root.exists() or list(store.root.iterdir()) == []


def test_good_names_accepted() -> None:
    for good in ["a", "Mona_Lisa-2.v1", "0", "x" * 64]:
        assert validate_name(good) == good


def test_unknown_character_lists_known(store: CharacterStore, detector: LandmarkDetector) -> None:
    with pytest.raises(UnknownCharacter, match="none"):
        store.load("ghost")
    store.enroll("someone", [_stills()[0]], detector=detector)
    with pytest.raises(UnknownCharacter, match="someone"):
        store.load("ghost")
    assert store.exists("someone") and not store.exists("ghost")


def test_no_face(store: CharacterStore, detector: LandmarkDetector, tmp_path: Path) -> None:
    gray = tmp_path / "gray.png"
    cv2.imwrite(str(gray), np.full((300, 300, 3), 128, np.uint8))
    with pytest.raises(NoFaceFound, match="gray.png"):
        store.enroll("gray", [gray], detector=detector)
    assert store.names() == []
    assert not store.root.exists() or list(store.root.iterdir()) == []


def test_multiple_faces(store: CharacterStore, detector: LandmarkDetector) -> None:
    stills = _stills()
    CharacterStore(store.root / "scratch").enroll("a", [stills[0]], detector=detector)
    left = CharacterStore(store.root / "scratch").load("a").image
    ch_b = CharacterStore(store.root / "scratch").enroll("b", [stills[-1]], detector=detector)
    pair = np.concatenate([left, ch_b.image], axis=1)
    with pytest.raises(MultipleFaces, match="2 faces") as info:
        store.enroll("pair", [pair], detector=detector)
    assert "array 0" in str(info.value)
    assert not store.exists("pair")


def test_unreadable_source(
    store: CharacterStore,
    detector: LandmarkDetector,
    tmp_path: Path,
) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"nope")
    with pytest.raises(UnreadableMedia, match="broken.jpg"):
        store.enroll("broken", [bad], detector=detector)


def test_overwrite(store: CharacterStore, detector: LandmarkDetector) -> None:
    stills = _stills()
    first = store.enroll("who", [stills[0]], detector=detector)
    with pytest.raises(CharacterExists):
        store.enroll("who", [stills[1]], detector=detector)
    second = store.enroll("who", [stills[1]], detector=detector, overwrite=True)
    assert second.manifest["sources"] == [str(stills[1])]
    assert not np.array_equal(first.image, second.image)
    assert store.load("who") is second
    assert store.names() == ["who"]


def test_multi_shot_stills(store: CharacterStore, detector: LandmarkDetector) -> None:
    stills = _stills()[:3]
    ch = store.enroll("trio", stills, detector=detector)
    _check_character(ch, "trio", len(stills))
    expected = ["reference.png", "shots/001.png", "shots/002.png"][: len(stills)]
    assert ch.manifest["shot_files"] == expected
    np.testing.assert_array_equal(read_image(store.root / "trio" / "reference.png"), ch.image)


def test_ensure_default(store: CharacterStore, model_env: None) -> None:
    first = store.ensure_default()
    _check_character(first, "default", 1)
    assert first.manifest["sources"] == ["skimage.data.astronaut()"]
    created = first.manifest["created"]
    mtime = (store.root / "default" / "manifest.json").stat().st_mtime_ns
    assert store.ensure_default() is first
    again = CharacterStore(store.root).ensure_default()
    assert again.manifest["created"] == created
    assert (store.root / "default" / "manifest.json").stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(again.image, first.image)
    assert store.names() == ["default"]


def test_enroll_from_video(store: CharacterStore, detector: LandmarkDetector) -> None:
    video = _shared("data/videos/d3.mp4")
    ch = store.enroll("d3", [video], detector=detector, video_shots=4)
    assert ch.num_shots == 4
    assert ch.shots.shape == (4, 478, 3)
    frames = [s["frame_index"] for s in ch.manifest["shot_sources"]]
    assert frames == sorted(frames) and len(set(frames)) == 4
    assert frames[-1] - frames[0] > 200  # spread across the 354-frame clip
    shot_files = sorted(p.name for p in (store.root / "d3" / "shots").iterdir())
    assert shot_files == ["001.png", "002.png", "003.png"]
    reloaded = CharacterStore(store.root).load("d3")
    assert len(reloaded.shot_images) == 4
    np.testing.assert_allclose(reloaded.shots, ch.shots)
    for pts in reloaded.shots:
        assert 0.0 <= pts[:, :2].min() and pts[:, :2].max() <= 1.0
