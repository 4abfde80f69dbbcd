"""No triangle of the warp renderer's driven mesh may flip, whatever the landmarks: random
noise, eyelids pushed through the cheeks, a mirrored mouth, the head thrown off the frame."""

from __future__ import annotations

import numpy as np
import pytest

from facecast.core import topology as topo
from facecast.core.fold_guard import flipped, signed_areas, unfold
from facecast.render import warp
from facecast.render.base import RenderRequest
from facecast.render.warp import WarpRenderer


@pytest.fixture(scope="module")
def assets(default_store):
    return default_store.load("default").assets()


@pytest.fixture(scope="module")
def renderer():
    r = WarpRenderer()
    yield r
    r.close()


@pytest.fixture(scope="module")
def handle(renderer, assets):
    return renderer.prepare(assets)


def _hostile_poses(neutral: np.ndarray) -> list[np.ndarray]:
    rng = np.random.default_rng(13)
    poses = [neutral + rng.normal(0.0, sigma, neutral.shape) for sigma in (0.003, 0.01, 0.02, 0.04) for _ in range(3)]
    lids = neutral.copy()  # upper lids pushed far below the lower ones (a driver neutral with closed eyes)
    for upper in (topo.MP_RIGHT_UPPER_LID, topo.MP_LEFT_UPPER_LID):
        lids[list(upper), 1] += 0.08
    poses.append(lids)
    mouth = neutral.copy()  # the mouth mirrored top to bottom
    lips = list(topo.MP_OUTER_LIPS) + list(topo.MP_INNER_LIPS)
    centre = mouth[lips, 1].mean()
    mouth[lips, 1] = 2 * centre - mouth[lips, 1]
    poses.append(mouth)
    mirrored = neutral.copy()
    mirrored[:, 0] = 1.0 - mirrored[:, 0]  # the whole face mirrored: every triangle flips
    poses.append(mirrored)
    shifted = neutral.copy()
    shifted[:, :2] = (shifted[:, :2] - 0.5) * 1.8 + [1.1, -0.1]  # big and thrown half off the frame
    poses.append(shifted)
    return [p.astype(np.float32) for p in poses]


def test_hostile_poses_never_flip_a_rendered_triangle(renderer, handle, assets, monkeypatch):
    mesh = handle.meshes["mediapipe478"]
    rest = signed_areas(mesh.src_norm, mesh.triangles)
    seen: list[np.ndarray] = []
    real = warp._raster_ids

    def spy(drv, vz, tri, w, h, deadline):  # the real rasterizer, recording what it is given
        seen.append(drv.copy())
        return real(drv, vz, tri, w, h, deadline)

    monkeypatch.setattr(warp, "_raster_ids", spy)
    poses = _hostile_poses(np.asarray(assets.neutral))
    face_tris = mesh.triangles[(mesh.triangles < len(mesh.used)).all(1)]
    raw_flips = [int(flipped(p[mesh.used, :2], signed_areas(mesh.src_norm, face_tris), face_tris).sum())
                 for p in poses]
    assert sum(f > 0 for f in raw_flips) >= len(poses) - 3  # the poses do fold the face as sent
    frames = renderer.render([RenderRequest(handle, p, "mediapipe478", 256, 256) for p in poses])
    refused = [str(f) for f in frames if not isinstance(f, np.ndarray)]
    assert not refused and len(seen) == len(poses), refused  # (poses covering too much are refused: cost_bounds)
    for drv, sent in zip(seen, raw_flips):
        norm = (drv + 0.5) / 256.0  # back to normalised, as src_norm
        assert not flipped(norm, rest, mesh.triangles).any(), f"{sent} flipped as sent"


def test_gentle_motion_is_left_alone(renderer, handle, assets):
    """A pose without fold-overs (the head moved) is returned as it is: the guard costs one
    check."""
    mesh = handle.meshes["mediapipe478"]
    rest = signed_areas(mesh.src_norm, mesh.triangles)
    lm = np.asarray(assets.neutral, np.float32) + np.float32(0.02)
    drv = np.concatenate([lm[mesh.used, :2], mesh.ring_norm + np.float32(0.02), mesh.border_norm])
    out = warp.unfold_driven(mesh, drv, 1.0 + 0j, 0j, np.array([256.0, 256.0]), (0.0, 1.0))
    assert out is drv and not flipped(drv, rest, mesh.triangles).any()


def test_unfold_pulls_only_what_folds():
    """Two triangles sharing an edge; one corner dragged across it: only the folded part moves."""
    rest_pts = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [3, 0], [3, 1]], np.float64)
    tris = np.array([[0, 1, 2], [1, 3, 2], [1, 4, 3], [4, 5, 3]])
    rest = signed_areas(rest_pts, tris)
    moved = rest_pts.copy()
    moved[2] = [1.5, 1.2]  # folds triangle 0 and 1 over
    assert flipped(moved, rest, tris).sum() >= 1
    out, first = unfold(moved, rest_pts, rest, tris)
    assert first >= 1 and not flipped(out, rest, tris).any()
    np.testing.assert_array_equal(out[[4, 5]], rest_pts[[4, 5]].astype(np.float32))  # untouched
    assert np.linalg.norm(out[2] - rest_pts[2]) < np.linalg.norm(moved[2] - rest_pts[2])
    assert out[2, 0] > 0.1  # pulled only part of the way, not snapped back
