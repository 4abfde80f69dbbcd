"""The ``warp`` renderer: piecewise-affine warp of the reference photo, no trained weights.

The character's reference image is warped from its neutral landmarks to the driven ones
over a triangulation (Delaunay of the neutral points) of the landmarks plus two kinds of
anchors: fixed points on the image border, and a ring around the face (the face oval
pushed outwards) that follows the head's rigid motion, so hair and neck move with the
head while the frame border stays put.

Per frame: rasterize triangle ids of the *driven* mesh (far triangles first, by mean z),
compute every triangle's affine driven -> source at once, build the sampling maps and
``cv2.remap`` the cached RGBA reference. When the mouth opens wider than in the photo
the inner-lip polygon is filled with a soft dark cavity (``MouthModel``).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np
from scipy.spatial import ConvexHull, Delaunay

from facecast.core import topology as topo
from facecast.characters.assets import CharacterAssets
from facecast.render.base import (
    PoseRefused,
    RenderRequest,
    Renderer,
    check_request,
    register_renderer,
)
from facecast.render.cost_bounds import Deadline, budget_seconds, check_coverage, clip_to_frame

log = logging.getLogger(__name__)

RING_PUSH = 1.3  # face-oval points pushed out from the face centre by this factor
RING_FOLLOW = 0.75  # share of its face-edge point's non-rigid motion a ring point follows
RING_MARGIN = 0.02  # keep ring points this far (normalized) inside the image
BORDER_STEPS = 8  # border anchors per image side
SIZE_CACHE_LEN = 8  # cached output sizes per character
_SHIFT = 4  # fixed-point bits for subpixel triangle rasterization
_MIN_AREA = 1e-3  # driven triangles with less area (px^2) are not rasterized
_DEADLINE_EVERY = 64  # triangles rasterized between two checks of the pose's deadline
_BLUR_SIGMA_MAX = 4.0  # mouth masks needing a wider blur are blurred at a reduced scale


MOUTH_FULL_AT = 0.05  # extra opening (inner-lip area / width^2) at which the fill is opaque
MOUTH_MAX_ALPHA = 1.0
TEETH_COLOUR = np.array([205, 198, 186], np.float32)
TEETH_ALPHA = 0.8


@dataclass(frozen=True)
class MouthModel:
    """Where the inner lips are in a format, and how open they are in the photo."""

    loop: np.ndarray  # inner-lip outline: left corner, upper edge, right corner, lower edge
    upper: np.ndarray  # left corner .. upper edge .. right corner
    neutral_ratio: float  # inner-lip area / mouth width^2 in the neutral photo
    cavity: np.ndarray  # RGB float32 colour of the mouth's depth

    @staticmethod
    def build(pts: np.ndarray, loop: Sequence[int], cavity: np.ndarray) -> "MouthModel":
        loop_a = np.asarray(loop, np.int64)
        k = len(loop_a) // 2  # loops run corner, upper edge, corner, lower edge
        return MouthModel(loop_a, loop_a[: k + 1], _open_ratio(pts[loop_a]), cavity)


def _open_ratio(loop_pts: np.ndarray) -> float:
    """Inner-lip polygon area over squared corner distance (0 closed, ~0.4 gaping)."""
    x, y = loop_pts[:, 0].astype(np.float64), loop_pts[:, 1].astype(np.float64)
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    k = len(loop_pts) // 2
    width2 = float(np.sum((loop_pts[k] - loop_pts[0]) ** 2))
    return area / width2 if width2 > 1e-12 else 0.0


def _cavity_colour(image: np.ndarray, neutral478: np.ndarray) -> np.ndarray:
    """Mouth-cavity colour: the photo's lip colour, darkened."""
    size = image.shape[0]
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(neutral478[list(topo.MP_OUTER_LIPS), :2] * size).astype(np.int32)], 255)
    cv2.fillPoly(mask, [np.round(neutral478[list(topo.MP_INNER_LIPS), :2] * size).astype(np.int32)], 0)
    lips = image[mask > 0]
    lip = lips.mean(0) if len(lips) else np.array([150, 70, 70])
    return (np.asarray(lip, np.float32) * np.array([0.28, 0.16, 0.17], np.float32)).astype(np.float32)


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


@dataclass(frozen=True)
class _Mesh:
    """Triangulation of one landmark format over a character's neutral pose."""

    fmt: str
    n_points: int  # landmarks per frame in this format
    used: np.ndarray  # L landmark indices that are mesh vertices
    src_norm: np.ndarray  # M x 2 neutral vertex positions: L used + R ring + B border
    ring_norm: np.ndarray  # R x 2 ring positions in the neutral pose
    ring_anchor: np.ndarray  # R landmark indices (this format) each ring point follows
    ring_anchor_neutral: np.ndarray  # R x 2 neutral positions of ``ring_anchor``
    border_norm: np.ndarray  # B x 2
    triangles: np.ndarray  # T x 3 int32 vertex ids
    stable: np.ndarray  # landmark indices moving rigidly with the skull
    neutral_stable: np.ndarray  # S x 2 normalized neutral positions of ``stable``
    mouth: MouthModel


@dataclass
class _Sized:
    """Per output size: resized RGBA reference, pixel grid, source vertices per format."""

    rgba: np.ndarray  # H x W x 4 uint8
    grid_x: np.ndarray  # H*W float32
    grid_y: np.ndarray  # H*W float32
    src_px: dict[str, np.ndarray]  # fmt -> M x 2 float32 pixel positions


@dataclass
class WarpCharacter:
    """Handle returned by ``WarpRenderer.prepare``."""

    name: str
    image: np.ndarray  # S x S x 4 uint8 RGBA (alpha = matte or 255)
    meshes: dict[str, _Mesh]
    _sizes: OrderedDict[tuple[int, int], _Sized] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sized(self, width: int, height: int) -> _Sized:
        key = (width, height)
        with self._lock:
            hit = self._sizes.get(key)
            if hit is not None:
                self._sizes.move_to_end(key)
                return hit
        made = _make_sized(self, width, height)
        with self._lock:
            self._sizes[key] = made
            while len(self._sizes) > SIZE_CACHE_LEN:
                self._sizes.popitem(last=False)
        return made


def _to_px(norm: np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalized [0, 1] coordinates -> pixel coordinates (pixel centres at integers)."""
    return (norm * np.array([width, height], np.float32) - 0.5).astype(np.float32)


def _make_sized(ch: WarpCharacter, width: int, height: int) -> _Sized:
    size = ch.image.shape[0]
    shrink = width * height < size * size
    interp = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    rgba = ch.image if (width, height) == (size, size) else cv2.resize(ch.image, (width, height), interpolation=interp)
    gy, gx = np.mgrid[0:height, 0:width].astype(np.float32)
    src = {fmt: _to_px(m.src_norm, width, height) for fmt, m in ch.meshes.items()}
    return _Sized(np.ascontiguousarray(rgba), gx.ravel(), gy.ravel(), src)


def _border_points(steps: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)[:-1]
    one, zero = np.ones_like(t), np.zeros_like(t)
    sides = [(t, zero), (one, t), (1 - t, one), (zero, 1 - t)]
    return np.concatenate([np.stack(s, 1) for s in sides]).astype(np.float32)


def _ring_points(neutral478: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Face oval pushed out from the face centre, kept inside the image.

    Returns R x 2 ring positions and the R MediaPipe oval indices they were pushed from.
    """
    centre = neutral478[topo.MP_FACE_CENTER, :2]
    ring, origin = [], []
    lo, hi = RING_MARGIN, 1.0 - RING_MARGIN
    for idx in topo.MP_FACE_OVAL:
        d = neutral478[idx, :2] - centre
        with np.errstate(divide="ignore", invalid="ignore"):
            limits = np.concatenate([(hi - centre) / d, (lo - centre) / d])
        s = min(RING_PUSH, float(np.min(limits[limits > 0], initial=np.inf)))
        if s >= 1.08:  # else the ring would hug the oval: leave that side to the border
            ring.append(centre + s * d)
            origin.append(idx)
    return np.asarray(ring, np.float32).reshape(-1, 2), np.asarray(origin, np.int64)


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[complex, complex]:
    """Least-squares similarity dst ~ a * src + b, points as complex numbers."""
    s = src[:, 0] + 1j * src[:, 1]
    d = dst[:, 0] + 1j * dst[:, 1]
    sm, dm = s.mean(), d.mean()
    den = float(np.sum(np.abs(s - sm) ** 2))
    a = complex(np.sum((d - dm) * np.conj(s - sm)) / den) if den > 1e-12 else 1.0 + 0j
    return a, complex(dm - a * sm)


# Holes of each format's face mesh (eyes, mouth): (corner, upper edge, lower edge, corner).
_HOLES: dict[str, tuple[tuple[int, tuple[int, ...], tuple[int, ...], int], ...]] = {
    "mediapipe478": (
        (33, topo.MP_RIGHT_UPPER_LID, topo.MP_RIGHT_LOWER_LID, 133),
        (263, topo.MP_LEFT_UPPER_LID, topo.MP_LEFT_LOWER_LID, 362),
        (78, topo.MP_UPPER_INNER_LIP, topo.MP_LOWER_INNER_LIP, 308),
    ),
    "ibug68": (
        (36, topo.IB_RIGHT_UPPER_LID, topo.IB_RIGHT_LOWER_LID, 39),
        (42, topo.IB_LEFT_UPPER_LID, topo.IB_LEFT_LOWER_LID, 45),
        (60, topo.IB_UPPER_INNER_LIP, topo.IB_LOWER_INNER_LIP, 64),
    ),
}


def _strip(first: int, upper: Sequence[int], lower: Sequence[int], last: int) -> list[tuple[int, int, int]]:
    """Triangles bridging two equally long edges that meet at two corners (eye, mouth)."""
    tris = [(first, upper[0], lower[0])]
    for i in range(len(upper) - 1):
        tris += [(upper[i], upper[i + 1], lower[i]), (lower[i], upper[i + 1], lower[i + 1])]
    tris.append((upper[-1], last, lower[-1]))
    return tris


def _stitch(a: Sequence[int], b: Sequence[int], pts: np.ndarray) -> list[tuple[int, int, int]]:
    """Triangles between two polylines with matching ends, walked by relative arc length."""

    def params(chain: Sequence[int]) -> np.ndarray:
        seg = np.linalg.norm(np.diff(pts[list(chain)], axis=0), axis=1)
        cum = np.concatenate([[0.0], np.cumsum(seg)])
        return cum / max(float(cum[-1]), 1e-12)

    ta, tb = params(a), params(b)
    i = j = 0
    tris = []
    while i < len(a) - 1 or j < len(b) - 1:
        if i < len(a) - 1 and (j == len(b) - 1 or ta[i + 1] <= tb[j + 1]):
            tris.append((a[i], a[i + 1], b[j]))
            i += 1
        else:
            tris.append((a[i], b[j + 1], b[j]))
            j += 1
    return tris


def _inside(poly: np.ndarray, points: np.ndarray) -> np.ndarray:
    contour = poly.astype(np.float32).reshape(-1, 1, 2)
    return np.array([cv2.pointPolygonTest(contour, (float(x), float(y)), False) > 0 for x, y in points])


def _face_triangles(fmt: str, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Triangles over the face landmarks (holes bridged) and the face outline, in order."""
    holes = _HOLES[fmt]
    strips = [t for first, up, lo, last in holes for t in _strip(first, up, lo, last)]
    if fmt == "mediapipe478":
        base = topo.mp_triangles()
        outline = np.asarray(topo.MP_FACE_OVAL, np.int64)
    else:
        # Delaunay without the inner lips, lips and mouth stitched explicitly: the lips are
        # too thin for Delaunay to keep the inner-lip edges.
        keep = np.setdiff1d(np.arange(len(pts)), topo.IB_INNER_LIPS)
        base = keep[Delaunay(pts[keep].astype(np.float64)).simplices]
        centroids = pts[base].mean(1)
        cut = _inside(pts[list(topo.IB_OUTER_LIPS)], centroids)
        for first, up, lo, last in holes[:2]:
            cut |= _inside(pts[[first, *up, last, *lo[::-1]]], centroids)
        lips = _stitch((48, 49, 50, 51, 52, 53, 54), (60, 61, 62, 63, 64), pts)
        lips += _stitch((48, 59, 58, 57, 56, 55, 54), (60, 67, 66, 65, 64), pts)
        base = np.concatenate([base[~cut], np.asarray(lips)])
        outline = ConvexHull(pts.astype(np.float64)).vertices.astype(np.int64)
    return np.concatenate([base, np.asarray(strips)]).astype(np.int32), outline


def _build_mesh(fmt: str, neutral478: np.ndarray, cavity: np.ndarray) -> _Mesh:
    """Face triangles, plus Delaunay of (face outline, ring, border) outside the outline."""
    if fmt == "mediapipe478":
        pts, used = neutral478[:, :2], np.arange(468)  # iris points excluded: they fold on blinks
        stable, lips = topo.MP_STABLE, topo.MP_INNER_LIPS
    else:
        pts, used = topo.to_ibug68(neutral478)[:, :2], np.arange(68)
        stable, lips = topo.IB_STABLE, topo.IB_INNER_LIPS
    ring, origin = _ring_points(neutral478)
    if fmt == "mediapipe478":
        anchor = origin
    else:  # follow the nearest jaw point, or the rigid nose top for forehead points
        cand = np.asarray(topo.IB_JAW + (27,), np.int64)
        dist = np.linalg.norm(ring[:, None] - pts[cand][None], axis=2)
        anchor = cand[np.argmin(dist, 1)]
    border = _border_points(BORDER_STEPS)
    src = np.concatenate([pts[used], ring, border]).astype(np.float32)

    face, outline = _face_triangles(fmt, pts[used])
    outer_ids = np.concatenate([outline, len(used) + np.arange(len(ring) + len(border))])
    outer = outer_ids[Delaunay(src[outer_ids].astype(np.float64)).simplices]
    outer = outer[~_inside(src[outline], src[outer].mean(1))]
    tri = np.concatenate([face, outer]).astype(np.int32)

    corners = src[tri].astype(np.float64)
    e1, e2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    cover = float(np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]).sum() / 2)
    if abs(cover - 1.0) > 1e-3:
        log.warning("warp: %s mesh covers %.4f of the image (overlaps or gaps)", fmt, cover)
    stable_idx = np.asarray(stable, np.int64)
    mouth = MouthModel.build(pts, lips, cavity)
    return _Mesh(
        fmt, topo.point_count(fmt), used, src, ring, anchor, pts[anchor].astype(np.float32),
        border, tri, stable_idx, pts[stable_idx].astype(np.float32), mouth,
    )  # fmt: skip


def validate_request(req: RenderRequest) -> None:
    """Raise ValueError describing what is wrong with one request."""
    check_request(req, WarpCharacter)


@register_renderer("warp", config_keys=("pose_budget_ms",))
class WarpRenderer(Renderer):
    """Piecewise-affine warp renderer (see module docstring).

    threads: render requests of a batch on this many threads (cv2 releases the GIL).
    pose_budget_ms: time one pose may take per megapixel of output (0 = no budget); a pose
    past it, or one whose mesh would cover too much (render/cost_bounds.py), comes back as
    a ``PoseRefused`` in place of its frame.
    """

    name = "warp"

    def __init__(self, threads: int = 1, pose_budget_ms: float = 0.0) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="warp") if threads > 1 else None
        self.pose_budget_ms = float(pose_budget_ms)

    def prepare(self, assets: CharacterAssets) -> WarpCharacter:
        img, neutral = np.asarray(assets.image), np.asarray(assets.neutral, np.float32)
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] != img.shape[1] or img.dtype != np.uint8:
            raise ValueError(f"character image must be S x S x 3 uint8, got {img.shape} {img.dtype}")
        if neutral.shape != (478, 3) or not np.all(np.isfinite(neutral)):
            raise ValueError(f"character neutral must be 478 x 3 finite, got {neutral.shape}")
        alpha = np.full(img.shape[:2], 255, np.uint8)
        if assets.matte is not None:
            matte = np.asarray(assets.matte)
            if matte.shape != img.shape[:2]:
                raise ValueError(f"matte shape {matte.shape} != image {img.shape[:2]}")
            alpha = matte.astype(np.uint8)
        rgba = np.ascontiguousarray(np.dstack([img, alpha]))
        cavity = _cavity_colour(img, neutral)
        meshes = {fmt: _build_mesh(fmt, neutral, cavity) for fmt in topo.FORMATS}
        ch = WarpCharacter(assets.name, rgba, meshes)
        log.info(
            "warp: prepared %s (%s triangles)", assets.name,
            ", ".join(f"{f}: {len(m.triangles)}" for f, m in meshes.items()),
        )  # fmt: skip
        return ch

    def render(self, batch: Sequence[RenderRequest]) -> list[np.ndarray | PoseRefused]:
        """Render every request in order; ValueError names the first malformed request.

        Requests are all validated before any work, so a malformed one (which the daemon
        should have rejected already) fails the batch without partial work. A pose refused
        on cost (see the class docstring) gets its ``PoseRefused`` in place of a frame.
        """
        for i, req in enumerate(batch):
            try:
                validate_request(req)
            except ValueError as exc:
                raise ValueError(f"request {i}: {exc}") from None
        if self._pool is not None and len(batch) > 1:
            return list(self._pool.map(self._bounded, batch))
        return [self._bounded(req) for req in batch]

    def _bounded(self, req: RenderRequest) -> np.ndarray | PoseRefused:
        deadline = Deadline(budget_seconds(self.pose_budget_ms, int(req.width), int(req.height)))
        try:
            return render_one(req, deadline)
        except PoseRefused as exc:
            return exc

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


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


def _maps(coeff: np.ndarray, ids: np.ndarray, sized: _Sized) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel source coordinates from per-triangle affines: two H x W float32 maps."""
    flat = ids.ravel()
    gx, gy = sized.grid_x, sized.grid_y
    c = [np.take(coeff[:, k], flat) for k in range(6)]
    map_x = c[0] * gx
    map_x += c[1] * gy
    map_x += c[2]
    map_y = c[3] * gx
    map_y += c[4] * gy
    map_y += c[5]
    return map_x.reshape(ids.shape), map_y.reshape(ids.shape)


def landmark_formats() -> tuple[str, ...]:
    """The landmark formats this renderer accepts."""
    return tuple(topo.FORMATS)


