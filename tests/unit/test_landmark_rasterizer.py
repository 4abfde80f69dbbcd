"""The landmark rasterizer: formats, sizes, colours, anti-aliasing, batching, and a real
face's landmarks against an independent drawing (OpenCV polylines)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from facecast.model.networks.rasterizer import PART_COLOURS, LandmarkRasterizer, part_segments
from facecast.core.topology import parts, to_ibug68


@pytest.fixture(scope="module")
def rasterizer() -> LandmarkRasterizer:
    return LandmarkRasterizer()


@pytest.fixture(scope="module")
def neutral478(default_store) -> np.ndarray:
    """The built-in character's neutral landmarks (a real face, detected by MediaPipe)."""
    return np.asarray(default_store.load("default").neutral, dtype=np.float32)


def _random_faces(b: int, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.2 + 0.6 * torch.rand(b, n, 3, generator=g)


@pytest.mark.parametrize("fmt,n", [("mediapipe478", 478), ("ibug68", 68)])
@pytest.mark.parametrize("size", [16, 37, 100])
def test_formats_and_sizes(rasterizer: LandmarkRasterizer, fmt: str, n: int, size: int):
    img = rasterizer(_random_faces(2, n), fmt, size)
    assert img.shape == (2, 3, size, size) and img.dtype == torch.float32
    assert img.min() >= 0 and img.max() <= 1
    assert (img.amax(1) > 0.5).float().mean() > 0.02  # something is drawn
    # z is ignored: (B, N, 2) points draw the same image
    torch.testing.assert_close(rasterizer(_random_faces(2, n)[..., :2], fmt, size), img)


def test_bad_input(rasterizer: LandmarkRasterizer):
    with pytest.raises(ValueError, match="unknown landmark format"):
        rasterizer(_random_faces(1, 68), "dlib5", 32)
    with pytest.raises(ValueError, match=r"\(B, 478, 2 or 3\)"):
        rasterizer(_random_faces(1, 68), "mediapipe478", 32)
    pts = _random_faces(1, 68)
    pts[0, 5] = float("nan")
    pts[0, 9, 0] = float("inf")
    img = rasterizer(pts, "ibug68", 32)  # non-finite points are off-canvas, not NaN pixels
    assert torch.isfinite(img).all() and img.min() >= 0 and img.max() <= 1


def test_parts_have_distinct_colours(rasterizer: LandmarkRasterizer, neutral478: np.ndarray):
    for fmt, points in (("mediapipe478", neutral478), ("ibug68", to_ibug68(neutral478))):
        names = list(parts(fmt))
        colours = [PART_COLOURS[name] for name in names]
        assert len(set(colours)) == len(names), fmt
        img = rasterizer(torch.tensor(points)[None], fmt, 256)[0]
        pixels = img.permute(1, 2, 0).reshape(-1, 3)
        for name, colour in zip(names, colours):
            # every part shows fully covered pixels of exactly its own colour
            exact = ((pixels - torch.tensor(colour)).abs().amax(1) < 1e-6).sum()
            assert exact >= 3, f"{fmt} {name} not drawn in its colour"


def test_anti_aliased_edges(rasterizer: LandmarkRasterizer, neutral478: np.ndarray):
    img = rasterizer(torch.tensor(neutral478)[None], "mediapipe478", 128)[0]
    coverage = img.amax(0)
    partial = ((coverage > 0.05) & (coverage < 0.95)).sum()
    full = (coverage >= 0.95).sum()
    assert partial > 0.3 * full  # edges fade over a pixel instead of stepping 0 -> 1


def test_batched_equals_one_by_one(rasterizer: LandmarkRasterizer):
    pts = _random_faces(5, 478, seed=3)
    batched = rasterizer(pts, "mediapipe478", 48)
    alone = torch.cat([rasterizer(pts[i:i + 1], "mediapipe478", 48) for i in range(5)])
    torch.testing.assert_close(batched, alone, atol=1e-6, rtol=0)
    # a small element budget forces chunking over the batch: same image
    small = LandmarkRasterizer(max_elements=1000)
    torch.testing.assert_close(small(pts, "mediapipe478", 48), batched, atol=1e-6, rtol=0)


@pytest.mark.parametrize("fmt", ["mediapipe478", "ibug68"])
def test_real_face_matches_an_independent_drawing(rasterizer: LandmarkRasterizer, neutral478: np.ndarray, fmt: str):
    size = 256
    points = neutral478 if fmt == "mediapipe478" else to_ibug68(neutral478)
    img = rasterizer(torch.tensor(points)[None], fmt, size)[0]
    drawn = (img.amax(0) > 0.5).numpy()

    # OpenCV's polylines over the same parts; cv2 puts pixel centres at integer
    # coordinates, ours at i + 0.5, hence the -0.5. Sub-pixel precision via shift=4.
    reference = np.zeros((size, size), np.uint8)
    for _, pairs in part_segments(fmt):
        for i, j in pairs:
            a = np.round((points[i, :2] * size - 0.5) * 16).astype(np.int32)
            b = np.round((points[j, :2] * size - 0.5) * 16).astype(np.int32)
            cv2.line(reference, tuple(int(v) for v in a), tuple(int(v) for v in b), 255, 1, cv2.LINE_8, shift=4)
    to_reference = cv2.distanceTransform((reference == 0).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    to_drawn = cv2.distanceTransform((~drawn).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    assert drawn.sum() > 0.5 * (reference > 0).sum()
    # every drawn pixel lies on (within 2 px of) the reference polylines, and vice versa
    assert to_reference[drawn].max() <= 2.0
    assert to_drawn[reference > 0].max() <= 1.5
    # every landmark of a part is drawn: a covered pixel within 1 px of the point
    used = sorted({i for p in parts(fmt).values() for i in p.indices})
    px = np.clip(np.floor(points[used, :2] * size).astype(int), 0, size - 1)
    assert (to_drawn[px[:, 1], px[:, 0]] <= 1.0).all()


@pytest.mark.gpu
def test_runs_on_the_points_device():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    pts = _random_faces(3, 478)
    cpu = LandmarkRasterizer()(pts, "mediapipe478", 64)
    gpu = LandmarkRasterizer()(pts.cuda(), "mediapipe478", 64)
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-5, rtol=0)
