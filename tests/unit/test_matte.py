"""Head mattes: computed at enrollment, stored beside the reference, warped into alpha."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from facecast.capture.landmarks import LandmarkDetector
from facecast.characters.matte import head_matte
from facecast.characters.store import Character, CharacterStore
from facecast.core import topology as topo
from facecast.render.base import RenderRequest
from facecast.render.warp import WarpRenderer


@pytest.fixture(scope="module")
def default_character(default_store: CharacterStore) -> Character:
    """The built-in astronaut, with a matte (added if the store predates mattes)."""
    character = default_store.load("default")
    if character.matte is None:
        character = default_store.update_matte("default")
    return character


@pytest.fixture(scope="module")
def stills(full_store: CharacterStore, shared_characters: list[Path]) -> list[Character]:
    """Every shared still, enrolled under its file stem (see conftest's full_store)."""
    return [full_store.load(path.stem) for path in shared_characters]


def _geometry(ch: Character) -> dict[str, float | np.ndarray]:
    size = ch.image.shape[0]
    pts = ch.neutral[:, :2].astype(np.float64) * size
    oval = pts[list(topo.MP_FACE_OVAL)]
    return {
        "size": size,
        "pts": pts,
        "oval": oval,
        "centre": oval.mean(0),
        "height": float(np.linalg.norm(pts[10] - pts[topo.MP_CHIN_TIP])),
        "width": float(np.ptp(oval[:, 0])),
    }


def _check_matte(ch: Character) -> None:
    matte = ch.matte
    assert matte is not None, f"{ch.name}: no matte"
    g = _geometry(ch)
    size, pts, oval, centre = g["size"], g["pts"], g["oval"], g["centre"]
    hgt, wid = g["height"], g["width"]
    assert matte.dtype == np.uint8 and matte.shape == (size, size)

    # Opaque inside the (shrunk) face oval: no holes in the face.
    inner = np.zeros((size, size), np.uint8)
    cv2.fillPoly(inner, [np.round(centre + (oval - centre) * 0.9).astype(np.int32)], 1)
    assert matte[inner > 0].min() == 255, f"{ch.name}: hole in the face"

    # Transparent image corners.
    for corner in (matte[:16, :16], matte[:16, -16:], matte[-16:, :16], matte[-16:, -16:]):
        assert corner.max() == 0, f"{ch.name}: corner not transparent"

    # Hair (or scalp) right above the forehead is part of the head.
    top_x, top_y = pts[10]
    band = matte[int(top_y - 0.12 * hgt) : int(top_y - 0.02 * hgt),
                 int(top_x - 0.2 * wid) : int(top_x + 0.2 * wid)]  # fmt: skip
    assert band.size and (band > 128).mean() > 0.7, f"{ch.name}: hair above the forehead missing"

    # Background beside the head at eye height, far from the face, is transparent. On a
    # turned head only the side the face looks towards: behind it hangs hair or cloth.
    eye_y = int(pts[[468, 473], 1].mean())
    rows = slice(eye_y - 8, eye_y + 8)
    left = matte[rows, 10 : max(11, int(oval[:, 0].min() - 0.45 * wid))]
    right = matte[rows, int(oval[:, 0].max() + 0.45 * wid) : size - 10]
    yaw = float(pts[topo.MP_NOSE_TIP, 0] - centre[0]) / wid
    sides = [left, right] if abs(yaw) < 0.08 else [left if yaw < 0 else right]
    for side in sides:
        assert side.size and (side == 0).mean() > 0.8, f"{ch.name}: background beside the head"

    # A soft edge: intermediate values exist, and many of them.
    soft = (matte > 10) & (matte < 245)
    assert soft.mean() > 0.01, f"{ch.name}: hard matte edge"


def test_default_character_matte(default_character: Character) -> None:
    _check_matte(default_character)
    assert not default_character.matte.flags.writeable


def test_shared_still_mattes(stills: list[Character]) -> None:
    for ch in stills:
        _check_matte(ch)


def test_head_matte_is_quick(default_character: Character) -> None:
    image, neutral = np.asarray(default_character.image), np.asarray(default_character.neutral)
    head_matte(image, neutral)  # warm up
    start = time.perf_counter()
    matte = head_matte(image, neutral)
    elapsed = time.perf_counter() - start
    assert matte.shape == image.shape[:2]
    assert elapsed < 5.0, f"head_matte took {elapsed:.2f}s"  # ~0.3 s; generous for busy CI


def test_head_matte_validates_inputs(default_character: Character) -> None:
    image, neutral = default_character.image, default_character.neutral
    with pytest.raises(ValueError, match="uint8"):
        head_matte(image.astype(np.float32), neutral)
    with pytest.raises(ValueError, match="478"):
        head_matte(image, neutral[:68])
    bad = neutral.copy()
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        head_matte(image, bad)


# ------------------------------------------------------------------ warp renderer
@pytest.fixture(scope="module")
def warp() -> WarpRenderer:
    renderer = WarpRenderer()
    yield renderer
    renderer.close()


def _yaw_pose(neutral: np.ndarray, degrees: float) -> np.ndarray:
    """Landmarks of the head turned about a vertical axis through the face centre."""
    out = neutral.copy()
    centre = neutral[topo.MP_FACE_CENTER]
    t = np.deg2rad(degrees)
    dx, dz = neutral[:, 0] - centre[0], neutral[:, 2] - centre[2]
    out[:, 0] = centre[0] + dx * np.cos(t) + dz * np.sin(t)
    out[:, 2] = centre[2] - dx * np.sin(t) + dz * np.cos(t)
    return out


def _open_mouth(neutral: np.ndarray, amount: float) -> np.ndarray:
    out = neutral.copy()
    for group in (topo.MP_LOWER_INNER_LIP, topo.MP_LOWER_OUTER_LIP, topo.MP_CHIN, topo.MP_JAW_LOWER):
        out[list(group), 1] += amount
    return out


@pytest.mark.parametrize("size", [256, 512])
def test_warp_neutral_alpha_is_the_matte(warp: WarpRenderer, default_character: Character, size: int) -> None:
    handle = warp.prepare(default_character.assets())
    req = RenderRequest(handle, default_character.neutral, "mediapipe478", size, size)
    alpha = warp.render([req])[0][..., 3].astype(np.float64)
    want = cv2.resize(default_character.matte, (size, size), interpolation=cv2.INTER_AREA)
    diff = np.abs(alpha - want)
    assert diff.mean() < 1.0 and np.percentile(diff, 99.9) < 16


@pytest.mark.parametrize("yaw,mouth", [(20.0, 0.0), (-25.0, 0.04), (0.0, 0.05)])
def test_warp_posed_alpha(warp: WarpRenderer, default_character: Character, yaw: float, mouth: float) -> None:
    handle = warp.prepare(default_character.assets())
    driven = _open_mouth(_yaw_pose(default_character.neutral, yaw), mouth).astype(np.float32)
    size = 256
    alpha = warp.render([RenderRequest(handle, driven, "mediapipe478", size, size)])[0][..., 3]
    cx, cy = np.round(driven[topo.MP_FACE_CENTER, :2] * size).astype(int)
    assert alpha[cy - 4 : cy + 5, cx - 4 : cx + 5].min() == 255
    for corner in (alpha[:8, :8], alpha[:8, -8:], alpha[-8:, :8], alpha[-8:, -8:]):
        assert corner.max() == 0
    # The head keeps roughly its area (it turns, it does not vanish or flood the frame).
    ratio = (alpha > 128).mean() / (cv2.resize(default_character.matte, (size, size)) > 128).mean()
    assert 0.8 < ratio < 1.2


# ------------------------------------------------------------------ store round trip
@pytest.fixture(scope="module")
def detector(model_dir: Path) -> LandmarkDetector:
    with LandmarkDetector(model_dir / "face_landmarker.task") as det:
        yield det


def test_store_round_trip(tmp_path: Path, detector: LandmarkDetector, shared_characters: list[Path]) -> None:
    store = CharacterStore(tmp_path / "store")
    ch = store.enroll("someone", [shared_characters[0]], detector=detector)
    directory = store.root / "someone"
    assert (directory / "matte.png").is_file()
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["matte"] == "matte.png"
    assert ch.matte is not None and not ch.matte.flags.writeable
    on_disk = cv2.imread(str(directory / "matte.png"), cv2.IMREAD_UNCHANGED)
    assert on_disk.ndim == 2 and on_disk.dtype == np.uint8
    np.testing.assert_array_equal(on_disk, ch.matte)
    reloaded = CharacterStore(store.root).load("someone")
    np.testing.assert_array_equal(reloaded.matte, ch.matte)
    np.testing.assert_array_equal(reloaded.assets().matte, ch.matte)


def test_old_format_character_loads_without_matte(
    tmp_path: Path, detector: LandmarkDetector, shared_characters: list[Path]
) -> None:
    store = CharacterStore(tmp_path / "store")
    ch = store.enroll("old", [shared_characters[0]], detector=detector)
    directory = store.root / "old"
    (directory / "matte.png").unlink()
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    del manifest["matte"]
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")

    fresh = CharacterStore(store.root)
    old = fresh.load("old")
    assert old.matte is None and old.assets().matte is None
    np.testing.assert_array_equal(old.image, ch.image)

    # update_matte adds it back: same matte as at enrollment, cache refreshed, on disk.
    updated = fresh.update_matte("old")
    assert fresh.load("old") is updated
    np.testing.assert_array_equal(updated.matte, ch.matte)
    assert json.loads((directory / "manifest.json").read_text(encoding="utf-8"))["matte"] == "matte.png"
    assert sorted(p.name for p in directory.iterdir() if p.name.startswith(".")) == []
    np.testing.assert_array_equal(CharacterStore(store.root).load("old").matte, ch.matte)
