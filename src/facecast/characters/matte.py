"""Head matte of a character's reference image: face, hair and a little neck.

Computed once at enrollment (the warp renderer then warps it with the face into the
output alpha channel, so OBS can composite the head over a scene).

Method: seed ``cv2.grabCut`` from the MediaPipe landmarks, in a head-aligned frame
(``up`` = chin -> forehead, so a tilted head gets tilted seeds):

- definite foreground: the face oval slightly shrunk (eyes, brows, nose and mouth lie
  inside it) and a cap over the top of the forehead, where the skull always is;
- probable foreground: an ellipse above and around the oval (hair, ears) and a band
  below the chin (neck); the cap and the ellipse move towards the back of a turned head;
- definite background: everything outside an envelope around the head (shoulders,
  clothes, far background) and a strip along the image border, except where the head
  itself is cut by the frame above the face centre;
- probable background: the rest.

GrabCut works in CIELAB (it tells dark hair from a dark background better than RGB) with
a fixed RNG seed, so a photo always gets the same matte.

GrabCut runs at a reduced working size for speed; its binary result is cleaned (the
component holding the face, holes filled), faded out down the neck, upscaled and
feathered with a guided filter guided by the full-resolution image, so hair edges follow
the photo and come out soft.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from facecast.core import topology as topo

log = logging.getLogger(__name__)

__all__ = ["head_matte", "MATTE_WORK_SIZE"]

MATTE_WORK_SIZE = 192  # grabCut runs on the image resized to this (longer) side
GRABCUT_ITERATIONS = 4
GRABCUT_SEED = 0x5EED  # OpenCV RNG seed for grabCut's k-means (deterministic mattes)
FACE_SHRINK = 0.95  # definite-foreground oval, shrunk towards the face centre
# Definite-foreground scalp cap over the forehead top (face units, see below), moved
# back by SCALP_BACK x the nose's offset from the face centre when the head is turned.
SCALP_UP = 0.2
SCALP_SIDE = 0.38
SCALP_BACK = 1.0
# Hair ellipse in face units (H = forehead-to-chin height, W = cheek-to-cheek width),
# in head coordinates: centre raised by HAIR_LIFT * H, semi-axes HAIR_UP * H and
# HAIR_SIDE * W.
HAIR_LIFT = 0.12
HAIR_UP = 0.78
HAIR_SIDE = 0.8
HAIR_BACK = 0.6  # ellipse moved back by this x the nose's offset from the face centre
# Neck band: from inside the jaw down to NECK_DOWN * H below the chin, NECK_HALF * W wide
# each side; faded out over the last NECK_FADE * H.
NECK_DOWN = 0.36
NECK_HALF = 0.3
NECK_FADE = 0.25
ENVELOPE_GROW = 1.3  # definite background beyond the hair ellipse grown by this factor
BORDER_FRAC = 0.015  # border strip (definite background) and alpha fade-out at the frame
FEATHER_FRAC = 1.0 / 64  # guided-filter radius as a fraction of the image side
FEATHER_EPS = 2e-3  # guided-filter regularisation (image in [0, 1])
ERODE_FRAC = 1.0 / 256  # binary matte eroded by this before feathering (halo control)


def head_matte(rgb: np.ndarray, landmarks478: np.ndarray) -> np.ndarray:
    """Soft head matte of ``rgb``: H x W uint8, 255 = head, 0 = background.

    rgb: H x W x 3 uint8 RGB image. landmarks478: 478 x 2 or 478 x 3 MediaPipe landmarks,
    x and y normalized to the image. Includes face, hair, ears and a short neck that
    fades out; excludes shoulders, clothes and background.
    """
    img = np.asarray(rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"head_matte needs an H x W x 3 uint8 image, got {img.shape} {img.dtype}")
    lm = np.asarray(landmarks478, np.float64)
    if lm.ndim != 2 or lm.shape[0] != 478 or lm.shape[1] not in (2, 3):
        raise ValueError(f"head_matte needs 478 x 2|3 landmarks, got {lm.shape}")
    if not np.all(np.isfinite(lm[:, :2])):
        raise ValueError("head_matte: landmarks contain NaN or infinite values")
    h, w = img.shape[:2]
    scale = min(1.0, MATTE_WORK_SIZE / max(h, w))
    sw, sh = max(8, int(round(w * scale))), max(8, int(round(h * scale)))
    small = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1.0 else img
    pts_small = lm[:, :2] * np.array([sw, sh], np.float64)

    seeds = _seed_mask(pts_small, sw, sh)
    hard = _grabcut(small, seeds)
    hard = _clean(hard, seeds)
    fade = _neck_fade(pts_small, sw, sh)

    # Full resolution: erode a touch (background halo), feather along image edges.
    soft = cv2.resize(hard.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    radius = max(1, int(round(ERODE_FRAC * max(h, w))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    soft = cv2.erode(soft, kernel)
    guide = img.astype(np.float32) / 255.0
    alpha = _guided_filter(guide, soft, max(2, int(round(FEATHER_FRAC * max(h, w)))), FEATHER_EPS)
    alpha *= cv2.resize(fade, (w, h), interpolation=cv2.INTER_LINEAR)

    # The shrunk face oval is opaque whatever the filter did.
    pts = lm[:, :2] * np.array([w, h], np.float64)
    inner = np.zeros((h, w), np.uint8)
    cv2.fillPoly(inner, [_shrunk_oval(pts, FACE_SHRINK)], 1)
    alpha = np.where(inner > 0, 1.0, alpha)
    alpha *= _border_weight(h, w)  # fades out where the head meets the frame
    return np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------ geometry
def _head_frame(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """Face centre, unit up and right vectors, face height and width (pixels)."""
    oval = pts[list(topo.MP_FACE_OVAL)]
    centre = oval.mean(0)
    up = pts[10] - pts[topo.MP_CHIN_TIP]
    height = float(np.linalg.norm(up))
    up = up / max(height, 1e-6)
    right = np.array([-up[1], up[0]])  # image x-axis for an upright face (y down)
    if right[0] < 0:
        right = -right
    side = oval - centre
    width = float(np.ptp(side @ right))
    return centre, up, right, max(height, 1.0), max(width, 1.0)


def _shrunk_oval(pts: np.ndarray, factor: float) -> np.ndarray:
    oval = pts[list(topo.MP_FACE_OVAL)]
    centre = oval.mean(0)
    return np.round(centre + (oval - centre) * factor).astype(np.int32)


def _yaw_shift(pts: np.ndarray, centre: np.ndarray, right: np.ndarray) -> float:
    """Nose tip's offset from the face centre along ``right`` (pixels): > 0 when the head
    turns towards image right, so the back of the skull lies to the image left."""
    return float((pts[topo.MP_NOSE_TIP] - centre) @ right)


def _scalp_cap(pts: np.ndarray, centre: np.ndarray, up: np.ndarray, right: np.ndarray,
               hgt: float, wid: float) -> np.ndarray:
    """Ellipse over the top of the forehead, shifted towards the back of a turned head:
    the skull always extends there, whatever the hair."""
    top = centre + 0.5 * hgt * up - SCALP_BACK * _yaw_shift(pts, centre, right) * right
    return _ellipse(top, up, SCALP_UP * hgt, SCALP_SIDE * wid)


def _ellipse(centre: np.ndarray, up: np.ndarray, semi_up: float, semi_side: float) -> np.ndarray:
    """Polygon of an ellipse whose ``semi_up`` axis lies along ``up``."""
    right = np.array([-up[1], up[0]])
    t = np.linspace(0.0, 2.0 * np.pi, 72, endpoint=False)
    poly = centre + np.outer(np.cos(t) * semi_up, up) + np.outer(np.sin(t) * semi_side, right)
    return np.round(poly).astype(np.int32)


def _neck_poly(centre: np.ndarray, up: np.ndarray, right: np.ndarray, hgt: float, wid: float,
               grow: float = 1.0) -> np.ndarray:
    top = centre - 0.2 * hgt * up
    bottom = centre - (0.5 + NECK_DOWN * grow) * hgt * up
    half = NECK_HALF * grow * wid * right
    return np.round(np.stack([top - half, top + half, bottom + half, bottom - half])).astype(np.int32)


def _seed_mask(pts: np.ndarray, w: int, h: int) -> np.ndarray:
    """GrabCut seed mask (GC_BGD / GC_PR_BGD / GC_PR_FGD / GC_FGD) at working size."""
    centre, up, right, hgt, wid = _head_frame(pts)
    hair_c = centre + HAIR_LIFT * hgt * up - HAIR_BACK * _yaw_shift(pts, centre, right) * right
    mask = np.full((h, w), cv2.GC_BGD, np.uint8)
    # Envelope: a grown hair ellipse and neck band; outside it stays definite background.
    g = ENVELOPE_GROW
    cv2.fillPoly(mask, [_ellipse(hair_c, up, g * HAIR_UP * hgt, g * HAIR_SIDE * wid)], cv2.GC_PR_BGD)
    cv2.fillPoly(mask, [_neck_poly(centre, up, right, hgt, wid, g)], cv2.GC_PR_BGD)
    envelope = (mask == cv2.GC_PR_BGD).astype(np.uint8)
    hair = np.zeros((h, w), np.uint8)
    cv2.fillPoly(hair, [_ellipse(hair_c, up, HAIR_UP * hgt, HAIR_SIDE * wid)], 1)
    mask[hair > 0] = cv2.GC_PR_FGD
    cv2.fillPoly(mask, [_neck_poly(centre, up, right, hgt, wid)], cv2.GC_PR_FGD)
    cv2.fillPoly(mask, [_shrunk_oval(pts, FACE_SHRINK)], cv2.GC_FGD)
    cv2.fillPoly(mask, [_scalp_cap(pts, centre, up, right, hgt, wid)], cv2.GC_FGD)
    for part in (topo.MP_RIGHT_EYE, topo.MP_LEFT_EYE, topo.MP_OUTER_LIPS, topo.MP_NOSE_BASE):
        cv2.fillPoly(mask, [np.round(pts[list(part)]).astype(np.int32)], cv2.GC_FGD)
    # The border strip is background too, except where the head's envelope crosses it above the face centre: a
    # head cut by the frame would otherwise teach the background model its hair colour.
    strip = _border_weight(h, w) < 1.0
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    above = (gx - centre[0]) * up[0] + (gy - centre[1]) * up[1] > 0
    mask[strip & ~((envelope > 0) & above)] = cv2.GC_BGD
    return mask


def _border_weight(h: int, w: int) -> np.ndarray:
    """H x W float32: 0 on the image edge, rising to 1 at BORDER_FRAC of the side inwards."""
    ramp = max(1.0, BORDER_FRAC * max(h, w))
    ys = np.minimum(np.arange(h), np.arange(h)[::-1]).astype(np.float32)
    xs = np.minimum(np.arange(w), np.arange(w)[::-1]).astype(np.float32)
    dist = np.minimum(ys[:, None], xs[None, :])
    return np.clip(dist / ramp, 0.0, 1.0)


def _neck_fade(pts: np.ndarray, w: int, h: int) -> np.ndarray:
    """H x W float32 weight: 1 above the lower neck, ramping to 0 at the neck's end."""
    centre, up, _right, hgt, _wid = _head_frame(pts)
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    along = (gx - centre[0]) * up[0] + (gy - centre[1]) * up[1]  # height above the centre
    end = -(0.5 + NECK_DOWN) * hgt
    start = end + NECK_FADE * hgt
    return np.clip((along - end) / max(start - end, 1e-6), 0.0, 1.0).astype(np.float32)


# ------------------------------------------------------------------------- segmentation
def _grabcut(small_rgb: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Binary (0/1 uint8) grabCut foreground; falls back to the seeds if it cannot run."""
    mask = seeds.copy()
    has_fg = bool(np.any((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)))
    has_bg = bool(np.any((mask == cv2.GC_BGD) | (mask == cv2.GC_PR_BGD)))
    if has_fg and has_bg:
        bgd = np.zeros((1, 65), np.float64)
        fgd = np.zeros((1, 65), np.float64)
        # CIELAB separates dark hair from dark backgrounds better than RGB, and makes
        # the result less sensitive to the iteration count.
        lab = cv2.cvtColor(small_rgb, cv2.COLOR_RGB2LAB)
        # grabCut seeds its colour models with k-means++ from OpenCV's per-thread RNG:
        # reseed it so the same photo always gets the same matte.
        cv2.setRNGSeed(GRABCUT_SEED)
        try:
            cv2.grabCut(lab, mask, None, bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
        except cv2.error as exc:  # degenerate colour models (e.g. a flat image)
            log.warning("head_matte: grabCut failed (%s); using the landmark seeds", exc)
            mask = seeds.copy()
    return ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)


def _clean(hard: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Keep the component holding the face, fill its holes, smooth its outline a little."""
    hard = np.where(seeds == cv2.GC_FGD, 1, hard).astype(np.uint8)
    hard[seeds == cv2.GC_BGD] = 0
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    hard = cv2.morphologyEx(hard, cv2.MORPH_OPEN, k)
    hard = np.where(seeds == cv2.GC_FGD, 1, hard).astype(np.uint8)
    count, labels = cv2.connectedComponents(hard, connectivity=4)
    if count > 2:
        face_labels = labels[seeds == cv2.GC_FGD]
        keep = np.bincount(face_labels[face_labels > 0], minlength=count).argmax()
        hard = (labels == keep).astype(np.uint8)
    hard = cv2.morphologyEx(hard, cv2.MORPH_CLOSE, k)
    return _fill_holes(hard)


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Set every 0-region not connected to the image border to 1."""
    h, w = mask.shape
    padded = np.zeros((h + 2, w + 2), np.uint8)
    padded[1:-1, 1:-1] = mask
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 1)
    holes = flood[1:-1, 1:-1] == 0
    out = mask.copy()
    out[holes] = 1
    return out


def _guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-aware smoothing of ``src`` by ``guide`` (cv2.ximgproc, or a gray fallback)."""
    ximgproc = getattr(cv2, "ximgproc", None)
    if ximgproc is not None and hasattr(ximgproc, "guidedFilter"):
        return ximgproc.guidedFilter(guide, src, radius, eps)
    gray = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY)  # He et al.'s gray-guide filter
    size = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, size, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(gray), box(src)
    var_i = box(gray * gray) - mean_i * mean_i
    cov_ip = box(gray * src) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box(a) * gray + box(b)
