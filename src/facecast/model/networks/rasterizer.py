"""Landmark rasterizer: face landmarks -> colour-coded landmark image (pure torch).

Each facial part of ``facecast.core.topology`` (the project's one definition of the parts of
mediapipe478 and ibug68) is drawn as a polyline in its own colour, anti-aliased by the
exact distance of every pixel centre to the part's segments: coverage is 1 within half the
line width and falls linearly to 0 over one pixel. Parts are composited in drawing order
(later parts over earlier ones), so every pixel value stays in [0, 1].

Cost: one distance per (segment, pixel) inside the part's bounding box (the union over the
batch, plus the line width), evaluated part by part and in batch chunks of at most
``max_elements`` so memory stays bounded at large batches and sizes.
"""

from __future__ import annotations

import torch
from torch import nn

from facecast.core.topology import FORMATS, parts

__all__ = ["LandmarkRasterizer", "PART_COLOURS", "part_segments"]

# RGB in [0, 1] per part name (names of both formats). Within one format every part has a
# different colour; jaw (ibug68) and face_oval (mediapipe478) play the same role.
PART_COLOURS: dict[str, tuple[float, float, float]] = {
    "jaw": (0.0, 1.0, 0.0),
    "face_oval": (0.0, 1.0, 0.0),
    "right_eyebrow": (1.0, 0.5, 0.0),
    "left_eyebrow": (1.0, 0.85, 0.25),
    "nose": (0.0, 0.25, 1.0),
    "nose_base": (0.0, 0.85, 1.0),
    "right_eye": (1.0, 0.0, 0.0),
    "left_eye": (0.6, 0.0, 0.15),
    "right_iris": (1.0, 1.0, 1.0),
    "left_iris": (0.55, 0.55, 0.55),
    "outer_lips": (0.55, 0.0, 1.0),
    "inner_lips": (1.0, 0.4, 0.75),
}


def part_segments(fmt: str) -> list[tuple[str, list[tuple[int, int]]]]:
    """(part name, [(start index, end index), ...]) per part of ``fmt``, in drawing order."""
    out = []
    for name, part in parts(fmt).items():
        idx = list(part.indices)
        pairs = list(zip(idx[:-1], idx[1:]))
        if part.closed and len(idx) > 2:
            pairs.append((idx[-1], idx[0]))
        out.append((name, pairs))
    return out


class LandmarkRasterizer(nn.Module):
    """``forward(points (B, N, 2|3), fmt, size) -> (B, 3, size, size)`` float32 in [0, 1].

    Points are normalised to the image (x right, y down, both in [0, 1]); z is ignored;
    non-finite points are treated as off-canvas. No trainable parameters: the segment
    tables and colours are non-persistent buffers, so checkpoints do not carry them.
    """

    def __init__(self, line_width: float = 2.0, max_elements: int = 1 << 25) -> None:
        super().__init__()
        self.line_width = line_width  # pixels at 256², scaled with the output size (>= 1 px)
        self.max_elements = max_elements
        self.part_names: dict[str, list[str]] = {}
        self.part_sizes: dict[str, list[int]] = {}
        for fmt in FORMATS:
            named = part_segments(fmt)
            self.part_names[fmt] = [name for name, _ in named]
            self.part_sizes[fmt] = [len(pairs) for _, pairs in named]
            segments = torch.tensor([pair for _, pairs in named for pair in pairs], dtype=torch.long)
            colours = torch.tensor([PART_COLOURS[name] for name, _ in named], dtype=torch.float32)
            self.register_buffer(f"_{fmt}_segments", segments, persistent=False)  # (S, 2)
            self.register_buffer(f"_{fmt}_colours", colours, persistent=False)  # (P, 3)

    def line_width_px(self, size: int) -> float:
        """Line width in pixels at output side ``size``."""
        return max(1.0, self.line_width * size / 256.0)

    def forward(self, points: torch.Tensor, fmt: str, size: int) -> torch.Tensor:
        if fmt not in FORMATS:
            raise ValueError(f"unknown landmark format {fmt!r}; known: {', '.join(FORMATS)}")
        if points.ndim != 3 or points.shape[1] != FORMATS[fmt] or points.shape[2] not in (2, 3):
            raise ValueError(f"{fmt} points must be (B, {FORMATS[fmt]}, 2 or 3), got {tuple(points.shape)}")
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        device = points.device
        segments = getattr(self, f"_{fmt}_segments").to(device)
        colours = getattr(self, f"_{fmt}_colours").to(device)
        # (B, N, 2) in pixel units; pixel i covers [i, i + 1), its centre is i + 0.5
        pts = torch.nan_to_num(points[..., :2].float(), nan=-1e4, posinf=-1e4, neginf=-1e4) * size
        b = pts.shape[0]
        image = torch.zeros(b, 3, size, size, device=device)
        centres = torch.arange(size, device=device, dtype=torch.float32) + 0.5  # (size,)
        half_width = self.line_width_px(size) / 2
        boxes = self._part_boxes(pts, segments, fmt, size, half_width)
        start = 0
        for part, count in enumerate(self.part_sizes[fmt]):
            seg = segments[start:start + count]
            start += count
            x0, y0, x1, y1 = boxes[part]
            if x0 >= x1 or y0 >= y1:
                continue  # the part is off the canvas
            chunk = max(1, self.max_elements // max(1, count * (x1 - x0) * (y1 - y0)))
            for lo in range(0, b, chunk):
                dist = self._distance(pts[lo:lo + chunk], seg, centres[x0:x1], centres[y0:y1])  # (b', h, w)
                cover = (half_width + 0.5 - dist).clamp(0.0, 1.0).unsqueeze(1)  # (b', 1, h, w)
                colour = colours[part].view(1, 3, 1, 1)
                region = image[lo:lo + chunk, :, y0:y1, x0:x1]
                image[lo:lo + chunk, :, y0:y1, x0:x1] = region * (1 - cover) + colour * cover
        return image  # (B, 3, size, size)

    def _part_boxes(self, pts: torch.Tensor, segments: torch.Tensor, fmt: str, size: int,
                    half_width: float) -> list[tuple[int, int, int, int]]:
        """Pixel box (x0, y0, x1, y1), end exclusive, that holds each part's strokes in every
        image of the batch; only these pixels are evaluated (one device sync per call)."""
        ends = pts[:, segments.flatten()]  # (B, 2S, 2)
        lows, highs, start = [], [], 0
        for count in self.part_sizes[fmt]:
            part = ends[:, 2 * start:2 * (start + count)]
            lows.append(part.amin(dim=(0, 1)))
            highs.append(part.amax(dim=(0, 1)))
            start += count
        margin = half_width + 1.0
        box = torch.cat([torch.stack(lows) - margin, torch.stack(highs) + margin], dim=1)  # (P, 4)
        box = box.clamp(0, size).cpu()
        return [(int(x0), int(y0), int(x1) + 1 if x1 < size else size, int(y1) + 1 if y1 < size else size)
                for x0, y0, x1, y1 in box.floor().tolist()]

    @staticmethod
    def _distance(pts: torch.Tensor, seg: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        """Distance (pixels) from every pixel centre (xs × ys) to the nearest of the segments."""
        # pts (B, N, 2), seg (S, 2) -> a, ab: (B, S, 1, 1) per coordinate
        a = pts[:, seg[:, 0]]  # (B, S, 2)
        ab = pts[:, seg[:, 1]] - a  # (B, S, 2)
        inv_len2 = 1.0 / (ab * ab).sum(-1).clamp_min(1e-12)  # (B, S)
        ax, ay = a[..., 0, None, None], a[..., 1, None, None]
        abx, aby = ab[..., 0, None, None], ab[..., 1, None, None]
        px = xs.view(1, 1, 1, -1) - ax  # (B, S, 1, w)
        py = ys.view(1, 1, -1, 1) - ay  # (B, S, h, 1)
        # projection parameter of each pixel on each segment, clamped to the segment
        t = ((px * abx + py * aby) * inv_len2[..., None, None]).clamp(0.0, 1.0)  # (B, S, h, w)
        d2 = (px - t * abx).square() + (py - t * aby).square()  # (B, S, h, w)
        return d2.amin(dim=1).sqrt()  # (B, h, w)
