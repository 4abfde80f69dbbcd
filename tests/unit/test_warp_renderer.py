"""The warp renderer on a real face: skimage's astronaut tracked with MediaPipe."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facecast.core import topology as topo
from facecast.characters.assets import CharacterAssets
from facecast.render.base import RenderRequest
from facecast.render.warp import WarpCharacter, WarpRenderer

@pytest.fixture(scope="module")
def astronaut(default_store) -> CharacterAssets:
    """The built-in default character (skimage's astronaut, tracked with MediaPipe)."""
    return default_store.load("default").assets()


@pytest.fixture(scope="module")
def renderer() -> WarpRenderer:
    r = WarpRenderer()
    yield r
    r.close()


@pytest.fixture(scope="module")
def handle(renderer: WarpRenderer, astronaut: CharacterAssets) -> WarpCharacter:
    return renderer.prepare(astronaut)


def _open_mouth(neutral: np.ndarray, amount: float) -> np.ndarray:
    driven = neutral.copy()
    for group in (topo.MP_LOWER_INNER_LIP, topo.MP_LOWER_OUTER_LIP, topo.MP_CHIN, topo.MP_JAW_LOWER):
        driven[list(group), 1] += amount
    return driven


def _box(points: np.ndarray, size: int, pad: float = 0.0) -> tuple[slice, slice]:
    lo = np.floor((points[:, :2].min(0) - pad) * size).astype(int).clip(0, size)
    hi = np.ceil((points[:, :2].max(0) + pad) * size).astype(int).clip(0, size)
    return slice(lo[1], hi[1]), slice(lo[0], hi[0])


def _render(r: WarpRenderer, h: WarpCharacter, lm: np.ndarray, fmt: str, w: int, hh: int) -> np.ndarray:
    return r.render([RenderRequest(h, lm.astype(np.float32), fmt, w, hh)])[0]


@pytest.mark.parametrize("size", [256, 512])
def test_identity_with_neutral(renderer, handle, astronaut, size: int) -> None:
    out = _render(renderer, handle, astronaut.neutral, "mediapipe478", size, size)
    ref = handle.sized(size, size).rgba
    assert np.abs(out[..., :3].astype(float) - ref[..., :3]).mean() < 2.0
    assert np.abs(out[..., 3].astype(float) - ref[..., 3]).mean() < 2.0  # the matte, unmoved


def test_mouth_open_moves_mouth_not_forehead(renderer, handle, astronaut) -> None:
    n = astronaut.neutral
    base = _render(renderer, handle, n, "mediapipe478", 256, 256)[..., :3].astype(float)
    out = _render(renderer, handle, _open_mouth(n, 0.04), "mediapipe478", 256, 256)[..., :3].astype(float)
    mouth = _box(n[list(topo.MP_OUTER_LIPS)], 256, pad=0.02)
    forehead = _box(n[[10, 109, 338, 151, 9, 107, 336]], 256)
    assert np.abs(out[mouth] - base[mouth]).mean() > 20
    assert np.abs(out[forehead] - base[forehead]).mean() < 1.0


def test_wide_open_mouth_is_dark_inside(renderer, handle, astronaut) -> None:
    n = astronaut.neutral
    driven = _open_mouth(n, 0.06)
    out = _render(renderer, handle, driven, "mediapipe478", 256, 256)[..., :3].astype(float)
    top, bottom = driven[13, 1], driven[14, 1]
    x0, x1 = driven[78, 0], driven[308, 0]
    ys = slice(int((top + 0.4 * (bottom - top)) * 256), int((top + 0.8 * (bottom - top)) * 256))
    xs = slice(int((x0 + 0.35 * (x1 - x0)) * 256), int((x0 + 0.65 * (x1 - x0)) * 256))
    assert out[ys, xs].mean() < 80, "mouth cavity should be dark"
    assert handle.sized(256, 256).rgba[ys, xs, :3].mean() > out[ys, xs].mean() + 40


def test_ibug68_driving(renderer, handle, astronaut) -> None:
    n68 = topo.to_ibug68(astronaut.neutral)
    same = _render(renderer, handle, n68, "ibug68", 256, 256)
    assert np.abs(same[..., :3].astype(float) - handle.sized(256, 256).rgba[..., :3]).mean() < 2.0
    opened = _render(renderer, handle, topo.to_ibug68(_open_mouth(astronaut.neutral, 0.04)), "ibug68", 256, 256)
    mouth = _box(astronaut.neutral[list(topo.MP_OUTER_LIPS)], 256, pad=0.02)
    assert np.abs(opened[mouth][..., :3].astype(float) - same[mouth][..., :3]).mean() > 20


@pytest.mark.parametrize("fmt,count", [("mediapipe478", 468), ("ibug68", 478), ("mediapipe478", 68)])
def test_wrong_point_count_raises(renderer, handle, fmt: str, count: int) -> None:
    with pytest.raises(ValueError, match="landmarks"):
        renderer.render([RenderRequest(handle, np.zeros((count, 3), np.float32), fmt, 64, 64)])


def test_bad_inputs_raise(renderer, handle, astronaut) -> None:
    bad = astronaut.neutral.copy()
    bad[5, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        renderer.render([RenderRequest(handle, bad, "mediapipe478", 64, 64)])
    with pytest.raises(ValueError, match="unknown landmark_format"):
        renderer.render([RenderRequest(handle, astronaut.neutral, "dlib5", 64, 64)])
    with pytest.raises(ValueError, match="character handle"):
        renderer.render([RenderRequest(object(), astronaut.neutral, "mediapipe478", 64, 64)])


@pytest.mark.parametrize("w,h", [(256, 256), (512, 512), (320, 240), (200, 400)])
def test_output_shape_and_dtype(renderer, handle, astronaut, w: int, h: int) -> None:
    out = _render(renderer, handle, _open_mouth(astronaut.neutral, 0.02), "mediapipe478", w, h)
    assert out.shape == (h, w, 4) and out.dtype == np.uint8
    assert out.flags["C_CONTIGUOUS"]


def test_matte_becomes_alpha(renderer, astronaut) -> None:
    matte = np.zeros(astronaut.image.shape[:2], np.uint8)
    matte[:, : matte.shape[1] // 2] = 255
    h = renderer.prepare(CharacterAssets("half", astronaut.image, astronaut.neutral, matte))
    out = _render(renderer, h, astronaut.neutral, "mediapipe478", 256, 256)
    assert out[:, :100, 3].min() == 255 and out[:, 160:, 3].max() == 0


def test_batch_of_mixed_characters_and_sizes_in_order(renderer, handle, astronaut) -> None:
    flipped_img = np.ascontiguousarray(astronaut.image[:, ::-1])
    flipped_lm = astronaut.neutral.copy()
    flipped_lm[:, 0] = 1.0 - flipped_lm[:, 0]
    other = renderer.prepare(CharacterAssets("mirror", flipped_img, flipped_lm))
    sizes = [(256, 256), (128, 128), (512, 512), (300, 200)]
    batch = [
        RenderRequest(handle if i % 2 == 0 else other, astronaut.neutral if i % 2 == 0 else flipped_lm,
                      "mediapipe478", w, h, tag=i)
        for i, (w, h) in enumerate(sizes)
    ]  # fmt: skip
    frames = renderer.render(batch)
    assert [f.shape[:2] for f in frames] == [(h, w) for w, h in sizes]
    # Frame 1 is the mirrored character: its left half looks like the original's right half.
    small = handle.sized(128, 128).rgba[..., :3].astype(float)
    assert np.abs(frames[1][..., :3].astype(float) - small[:, ::-1]).mean() < 3.0
    assert np.abs(frames[0][..., :3].astype(float) - handle.sized(256, 256).rgba[..., :3]).mean() < 2.0


def test_threaded_renderer_matches_serial(handle, astronaut) -> None:
    lm = _open_mouth(astronaut.neutral, 0.03)
    batch = [RenderRequest(handle, lm, "mediapipe478", s, s) for s in (128, 256, 128)]
    serial = WarpRenderer().render(batch)
    pooled = WarpRenderer(threads=2)
    try:
        threaded = pooled.render(batch)
    finally:
        pooled.close()
    for a, b in zip(serial, threaded):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fmt, w, h", [("mediapipe478", 256, 256), ("mediapipe478", 200, 120), ("ibug68", 96, 160)])
def test_raster_and_warp_stages_match_the_frozen_baseline(handle, fmt: str, w: int, h: int) -> None:
    """The speed work (loop without indexing, banded maps, packed gathers) changed how the
    stages compute, not what: for the same driven mesh, the same triangle ids and pixel for
    pixel the same warped frame as the render path before it (kept for `bench warp`).
    Compared stage by stage, so that changes to how the mesh is driven do not touch it."""
    from facecast.apps.bench import warp_baseline as old
    from facecast.render import warp
    from facecast.render.cost_bounds import Deadline

    mesh, sized = handle.meshes[fmt], handle.sized(w, h)
    src = sized.src_px[fmt]
    rng = np.random.default_rng(3)
    n_lm = len(mesh.used)
    for amount in (0.0, 1.5, 4.0):  # px of jitter on the landmarks: none, mild, folding
        drv = src.copy()
        drv[:n_lm] += rng.normal(0, amount, (n_lm, 2)).astype(np.float32)
        vz = rng.normal(0, 1, len(drv)).astype(np.float32)
        ids = warp._raster_ids(drv, vz, mesh.triangles, w, h, Deadline(None))
        assert np.array_equal(ids, old._raster_ids(drv, vz, mesh.triangles, w, h, Deadline(None)))
        new = warp._warp_bands(warp._affines(drv, src, mesh.triangles), ids, sized, Deadline(None))
        map_x, map_y = old._maps(old._affines(drv, src, mesh.triangles), ids, sized)
        before = cv2.remap(sized.rgba, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        assert np.array_equal(new, before)


def test_bench_warp_reports_both_paths(default_store) -> None:
    """`facecast bench warp`'s rows: figures for both paths on both clocks, and the pixel
    check (not their values: the bench prints speed, tests do not time)."""
    from facecast.apps.bench.warp import bench_warp, format_warp
    from facecast.config import AppConfig, StoreConfig

    cfg = AppConfig(store=StoreConfig(root=str(default_store.root)))
    rows = bench_warp(cfg, sizes=(64,), seconds=0.02, rounds=2)
    assert [r["size"] for r in rows] == [64] and rows[0]["max_pixel_difference"] == 0
    for clock in ("cpu", "wall"):
        assert len(rows[0][f"{clock}_current_fps_rounds"]) == 2 and rows[0][f"{clock}_baseline_fps"] > 0
    assert "baseline fps" in format_warp(rows) and "warp_baseline" in format_warp(rows)
