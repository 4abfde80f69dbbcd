"""plot_rows writes a real PNG: decoded here, of the promised size, with lines drawn."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from facecast.apps.bench.plot import FIGURE_DPI, PANEL_SIZE_IN, plot_rows

ROWS = [
    {"engine": "torch", "batch": b, "fps": 100.0 * b ** 0.8, "p99_ms": 2.0 + b} for b in (1, 4, 8, 16, 32)
] + [
    {"engine": "onnx", "batch": b, "fps": 120.0 * b ** 0.7, "p99_ms": 1.5 + b} for b in (1, 4, 8, 16, 32)
]


def _decode(path: Path) -> np.ndarray:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return iio.imread(path)


@pytest.mark.parametrize("columns", ["fps", ("fps", "p99_ms")])
def test_plot_rows_writes_a_png_of_the_expected_size_that_is_not_blank(tmp_path: Path, columns) -> None:
    path = plot_rows(ROWS, x="batch", y=columns, series="engine", title="test", path=tmp_path / "sub" / "p.png",
                     log_x=True)
    image = _decode(path)
    panels = 1 if isinstance(columns, str) else len(columns)
    width, height = PANEL_SIZE_IN
    assert image.shape[:2] == (round(height * FIGURE_DPI), round(width * FIGURE_DPI * panels))
    rgb = image[..., :3].astype(np.int32)
    background = np.array([255, 255, 255])
    inked = np.any(rgb != background, axis=-1).mean()
    assert 0.01 < inked < 0.5, f"{inked:.3f} of the pixels are not background"
    colours = {tuple(c) for c in rgb.reshape(-1, 3)[::7]}
    assert len(colours) > 10, "two coloured series, axes and text"


def test_plot_rows_refuses_rows_without_the_columns(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no row"):
        plot_rows([{"a": 1}], x="batch", y="fps", series="engine", title="t", path=tmp_path / "p.png")
    assert not (tmp_path / "p.png").exists()
