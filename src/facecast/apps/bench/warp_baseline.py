"""FROZEN BASELINE for `facecast bench warp`: the warp renderer's per-frame path as it was
at commit 58e170f (before the issue 13 speed work), kept here ONLY so that the benchmark
can print today's speed as a ratio against it in the same run, on the same machine load.

Nothing outside ``facecast.apps.bench`` may import this module; it is not a renderer (it
registers nothing). Character preparation (meshes, per-size caches) is shared with
``facecast.render.warp``; only the per-frame functions are frozen copies: rasterizing
triangle ids (one ``cv2.fillConvexPoly`` per triangle), per-triangle affines, sampling maps
from six ``np.take`` over int32 ids, ``cv2.remap`` and the mouth fill. Do not edit it to
follow the renderer: its point is to stay what the renderer was. (One adaptation: the
pixel grid it read from the renderer's per-size cache is cached here, ``_grid``.)
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from facecast.render.base import RenderRequest
from facecast.render.cost_bounds import Deadline, check_coverage, clip_to_frame
from facecast.render.warp import (
    MOUTH_FULL_AT, MOUTH_MAX_ALPHA, RING_FOLLOW, RING_MARGIN, TEETH_ALPHA, TEETH_COLOUR,
    MouthModel, WarpCharacter, _Mesh, _Sized, _to_px,
)

_SHIFT = 4
_MIN_AREA = 1e-3
_DEADLINE_EVERY = 64
_BLUR_SIGMA_MAX = 4.0


def _open_ratio(loop_pts: np.ndarray) -> float:
    """Inner-lip polygon area over squared corner distance (0 closed, ~0.4 gaping)."""
    x, y = loop_pts[:, 0].astype(np.float64), loop_pts[:, 1].astype(np.float64)
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    k = len(loop_pts) // 2
    width2 = float(np.sum((loop_pts[k] - loop_pts[0]) ** 2))
    return area / width2 if width2 > 1e-12 else 0.0


def fill_mouth(out: np.ndarray, mouth: MouthModel, lm_px: np.ndarray) -> None:
    """Paint a soft dark cavity (and a faint upper-teeth band) into ``out`` in place.

    lm_px: driven landmarks in output pixels. Does nothing unless the inner lips open
    wider than in the neutral photo; opacity grows with the extra opening.
    """
    poly = lm_px[mouth.loop]
    extra = _open_ratio(poly) - mouth.neutral_ratio
    alpha = MOUTH_MAX_ALPHA * min(1.0, max(0.0, (extra - 0.005) / MOUTH_FULL_AT))
    if alpha <= 0.0:
        return
    h, w = out.shape[:2]
    k = len(poly) // 2
    width = float(np.linalg.norm(poly[k] - poly[0]))
    soft = max(0.7, 0.035 * width)
    pad = int(np.ceil(3 * soft)) + 2
    x0, y0 = np.floor(poly.min(0)).astype(int) - pad
    x1, y1 = np.ceil(poly.max(0)).astype(int) + pad
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    # Cost is bounded by the region (at most the frame), not by the mouth's size: a blur
    # wider than _BLUR_SIGMA_MAX is done on a mask reduced by ``step``, then enlarged.
    step = max(1, int(soft // _BLUR_SIGMA_MAX))
    rw, rh = -(-(x1 - x0) // step), -(-(y1 - y0) // step)
    origin = np.array([x0, y0], np.float32)
    centre = poly.mean(0)
    # Full-scale pixel p is reduced pixel (p + 0.5) / step - 0.5 (cv2.resize's convention).
    def reduced(pts: np.ndarray) -> np.ndarray:
        return np.round(((pts + 0.5) / step - 0.5) * (1 << _SHIFT)).astype(np.int32)

    inner = reduced(centre + (poly - centre) * 0.94 - origin)  # stay off the lips
    mask = np.zeros((rh, rw), np.float32)
    cv2.fillPoly(mask, [inner], 1.0, cv2.LINE_AA, _SHIFT)
    # Teeth: a band under the upper lip, as tall as a fraction of the mouth width.
    upper = lm_px[mouth.upper] - origin
    band = min(0.09 * width, 0.3 * float(np.ptp(poly[:, 1])))
    teeth_poly = reduced(np.concatenate([upper, upper[::-1] + [0.0, band]]))
    teeth = np.zeros_like(mask)
    cv2.fillPoly(teeth, [teeth_poly], TEETH_ALPHA, cv2.LINE_AA, _SHIFT)
    mask = cv2.GaussianBlur(mask, (0, 0), soft / step)
    teeth = cv2.GaussianBlur(teeth, (0, 0), 0.6 * soft / step) * mask
    if step > 1:
        size = (x1 - x0, y1 - y0)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR)
        teeth = cv2.resize(teeth, size, interpolation=cv2.INTER_LINEAR)
    # Cavity darker towards its middle: shade by the blurred mask itself.
    roi = out[y0:y1, x0:x1, :3].astype(np.float32)
    cavity = mouth.cavity * (1.25 - 0.5 * mask[..., None])
    fill = cavity * (1 - teeth[..., None]) + TEETH_COLOUR * teeth[..., None]
    a = (alpha * mask)[..., None]
    out[y0:y1, x0:x1, :3] = np.clip(roi * (1 - a) + fill * a, 0, 255).astype(np.uint8)


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[complex, complex]:
    """Least-squares similarity dst ~ a * src + b, points as complex numbers."""
    s = src[:, 0] + 1j * src[:, 1]
    d = dst[:, 0] + 1j * dst[:, 1]
    sm, dm = s.mean(), d.mean()
    den = float(np.sum(np.abs(s - sm) ** 2))
    a = complex(np.sum((d - dm) * np.conj(s - sm)) / den) if den > 1e-12 else 1.0 + 0j
    return a, complex(dm - a * sm)


def render_one(req: RenderRequest, deadline: Deadline | None = None) -> np.ndarray:
    """Render one already-validated request: H x W x 4 uint8 RGBA.

    Its cost is bounded by the frame, whatever the pose (render/cost_bounds.py): raises
    ``PoseRefused`` for a pose whose mesh would cover too much, or past ``deadline``.
    """
    deadline = deadline or Deadline(None)
    ch: WarpCharacter = req.character
    mesh = ch.meshes[req.landmark_format]
    w, h = int(req.width), int(req.height)
    sized = ch.sized(w, h)
    lm = np.array(req.landmarks, np.float32)
    lm[:, :2] = clip_to_frame(lm[:, :2])
    z = lm[:, 2] if lm.shape[1] == 3 else np.zeros(len(lm), np.float32)

    # Driven vertices: landmarks, ring moved by the head's similarity, fixed border.
    scale = np.array([w, h], np.float32)
    a, b = _similarity(mesh.neutral_stable * scale, lm[mesh.stable, :2] * scale)
    ring_d = _drive_ring(mesh, lm, a, b, scale)
    lo, hi = RING_MARGIN / 2, 1 - RING_MARGIN / 2
    drv_norm = np.concatenate([lm[mesh.used, :2], np.clip(ring_d, lo, hi), mesh.border_norm])
    drv = _to_px(drv_norm.astype(np.float32), w, h)
    src = sized.src_px[mesh.fmt]

    n_lm = len(mesh.used)
    vz = np.full(len(drv), float(z[mesh.used].max()) + 1.0, np.float32)
    vz[:n_lm] = z[mesh.used]
    ids = _raster_ids(drv, vz, mesh.triangles, w, h, deadline)
    coeff = _affines(drv, src, mesh.triangles)
    map_x, map_y = _maps(coeff, ids, sized)
    deadline.check("sampling maps built")
    out = cv2.remap(sized.rgba, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    deadline.check("frame warped")
    fill_mouth(out, mesh.mouth, lm[:, :2] * scale - 0.5)
    return out


def _drive_ring(mesh: _Mesh, lm: np.ndarray, a: complex, b: complex, scale: np.ndarray) -> np.ndarray:
    """Driven ring (normalized): the head's similarity, plus part of its oval point's own
    motion (so the band between face edge and ring neither folds nor squeezes on turns)."""
    def rigid(norm: np.ndarray) -> np.ndarray:
        px = norm * scale
        c = a * (px[:, 0] + 1j * px[:, 1]) + b
        return np.stack([c.real, c.imag], 1) / scale

    residual = lm[mesh.ring_anchor, :2] - rigid(mesh.ring_anchor_neutral)
    return rigid(mesh.ring_norm) + RING_FOLLOW * residual


def _raster_ids(drv: np.ndarray, vz: np.ndarray, tri: np.ndarray, w: int, h: int,
                deadline: Deadline) -> np.ndarray:
    """H x W int32 triangle id of the driven mesh at each pixel (T where none).

    Raises PoseRefused, before writing a pixel, when the triangles would cover more than
    MAX_COVERAGE frames, and between triangles once ``deadline`` has passed.
    """
    t = len(tri)
    corners = drv[tri]  # T x 3 x 2
    area = check_coverage(corners, w, h)
    ids = np.full((h, w), t, np.int32)
    order = np.argsort(-vz[tri].mean(1), kind="stable")  # far (large z) first
    order = order[area[order] > _MIN_AREA / 2]
    fixed = np.round(corners * (1 << _SHIFT)).astype(np.int32)
    fill = cv2.fillConvexPoly
    for n, k in enumerate(order.tolist()):
        if n % _DEADLINE_EVERY == 0:
            deadline.check("rasterizing triangles")
        fill(ids, fixed[k], k, cv2.LINE_8, _SHIFT)
    return ids


def _affines(drv: np.ndarray, src: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """(T+1) x 6 float32 affine driven -> source per triangle; the last row is identity.

    Row k maps driven pixel (x, y) to source (c0*x + c1*y + c2, c3*x + c4*y + c5).
    """
    d, s = drv[tri].astype(np.float64), src[tri].astype(np.float64)  # T x 3 x 2
    e1, e2 = d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]
    f1, f2 = s[:, 1] - s[:, 0], s[:, 2] - s[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    det = np.where(np.abs(det) < 1e-9, 1e-9, det)
    # Inverse of E = [e1 e2] (columns), then J = F @ E^-1.
    i00, i01 = e2[:, 1] / det, -e2[:, 0] / det
    i10, i11 = -e1[:, 1] / det, e1[:, 0] / det
    j00 = f1[:, 0] * i00 + f2[:, 0] * i10
    j01 = f1[:, 0] * i01 + f2[:, 0] * i11
    j10 = f1[:, 1] * i00 + f2[:, 1] * i10
    j11 = f1[:, 1] * i01 + f2[:, 1] * i11
    c2 = s[:, 0, 0] - j00 * d[:, 0, 0] - j01 * d[:, 0, 1]
    c5 = s[:, 0, 1] - j10 * d[:, 0, 0] - j11 * d[:, 0, 1]
    coeff = np.empty((len(tri) + 1, 6), np.float32)
    coeff[:-1] = np.stack([j00, j01, c2, j10, j11, c5], 1)
    coeff[-1] = (1, 0, 0, 0, 1, 0)
    return coeff


@functools.lru_cache(maxsize=8)
def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """The pixel grid the renderer cached per size then (its cache now holds another layout)."""
    gy, gx = np.mgrid[0:height, 0:width].astype(np.float32)
    return gx.ravel(), gy.ravel()


def _maps(coeff: np.ndarray, ids: np.ndarray, sized: _Sized) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel source coordinates from per-triangle affines: two H x W float32 maps."""
    flat = ids.ravel()
    gx, gy = _grid(ids.shape[1], ids.shape[0])
    c = [np.take(coeff[:, k], flat) for k in range(6)]
    map_x = c[0] * gx
    map_x += c[1] * gy
    map_x += c[2]
    map_y = c[3] * gx
    map_y += c[4] * gy
    map_y += c[5]
    return map_x.reshape(ids.shape), map_y.reshape(ids.shape)
