"""Landmark layouts: index ranges, part structure, iBUG-68 mapping."""

from __future__ import annotations

import numpy as np
import pytest

from facecast.core import topology as topo


@pytest.mark.parametrize("fmt,count", [("mediapipe478", 478), ("ibug68", 68)])
def test_parts_indices_in_range(fmt: str, count: int) -> None:
    assert topo.point_count(fmt) == count
    ps = topo.parts(fmt)
    assert {"right_eye", "left_eye", "outer_lips", "inner_lips", "nose"} <= set(ps)
    for part in ps.values():
        assert len(part.indices) >= 2
        assert all(0 <= i < count for i in part.indices), part.name
        assert len(set(part.indices)) == len(part.indices), part.name


def test_mediapipe_parts_cover_iris_and_oval() -> None:
    ps = topo.parts("mediapipe478")
    assert set(ps["right_iris"].indices) | set(ps["left_iris"].indices) == set(range(469, 478)) - {473}
    assert len(ps["face_oval"].indices) == 36 and ps["face_oval"].closed


def test_unknown_format_raises() -> None:
    with pytest.raises(ValueError, match="unknown landmark format"):
        topo.parts("dlib5")
    with pytest.raises(ValueError):
        topo.point_count("nope")


def test_ibug_mapping_shape_and_uniqueness() -> None:
    assert len(topo.MP478_TO_IBUG68) == 68
    assert len(set(topo.MP478_TO_IBUG68)) == 68
    assert all(0 <= i < 468 for i in topo.MP478_TO_IBUG68)
    covered = sorted(i for p in topo.parts("ibug68").values() for i in p.indices)
    assert covered == list(range(68))


def test_to_ibug68_selects_points() -> None:
    pts = np.arange(478 * 3, dtype=np.float32).reshape(478, 3)
    out = topo.to_ibug68(pts)
    assert out.shape == (68, 3)
    np.testing.assert_array_equal(out[8], pts[topo.MP478_TO_IBUG68[8]])
    batch = topo.to_ibug68(np.stack([pts, pts]))
    assert batch.shape == (2, 68, 3)
    with pytest.raises(ValueError):
        topo.to_ibug68(np.zeros((68, 3)))


def test_named_groups_are_disjoint_where_expected() -> None:
    assert not set(topo.MP_UPPER_INNER_LIP) & set(topo.MP_LOWER_INNER_LIP)
    assert not set(topo.MP_RIGHT_UPPER_LID) & set(topo.MP_RIGHT_LOWER_LID)
    assert not set(topo.MP_LEFT_UPPER_LID) & set(topo.MP_LEFT_LOWER_LID)
    assert not set(topo.MP_UPPER_OUTER_LIP) & set(topo.MP_LOWER_OUTER_LIP)
    assert len(topo.MP_UPPER_INNER_LIP) == len(topo.MP_LOWER_INNER_LIP)


def test_mp_triangles_form_a_manifold_mesh() -> None:
    tris = topo.mp_triangles()
    assert tris.shape == (852, 3) and tris.min() >= 0 and tris.max() < 468
    edges: dict[tuple[int, int], int] = {}
    for t in tris.tolist():
        for a, b in ((t[0], t[1]), (t[1], t[2]), (t[0], t[2])):
            key = (min(a, b), max(a, b))
            edges[key] = edges.get(key, 0) + 1
    assert max(edges.values()) == 2
    boundary = {v for e, n in edges.items() if n == 1 for v in e}
    assert set(topo.MP_FACE_OVAL) <= boundary and set(topo.MP_INNER_LIPS) <= boundary
