"""PNG plots of benchmark rows (the dicts the benches print and write as JSON).

matplotlib with the Agg backend (no display needed), imported only when a plot is made.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

log = logging.getLogger(__name__)

FIGURE_DPI = 100
PANEL_SIZE_IN = (5.0, 3.6)  # width, height of one panel in inches


def plot_rows(rows: list[dict[str, Any]], x: str, y: str | Sequence[str], series: str, title: str, path: Path,
              log_x: bool = False, log_y: bool = False) -> Path:
    """Plot ``row[y]`` against ``row[x]``, one line per distinct ``row[series]``, into the
    PNG ``path`` (its folder is created); returns ``path``.

    ``y`` may name several columns: one panel each, side by side, sharing ``x``. Rows
    missing ``x`` or a ``y`` column (or holding None there) are left out of that panel.
    Raises ValueError when there is nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [y] if isinstance(y, str) else list(y)
    if not rows or not columns:
        raise ValueError("plot_rows: no rows or no y column to plot")
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[str(row.get(series, ""))].append(row)

    width, height = PANEL_SIZE_IN
    fig, axes = plt.subplots(1, len(columns), figsize=(width * len(columns), height), dpi=FIGURE_DPI,
                             squeeze=False)
    plotted = 0
    try:
        for ax, column in zip(axes[0], columns):
            for name, members in groups.items():
                points = sorted((float(r[x]), float(r[column])) for r in members
                                if r.get(x) is not None and r.get(column) is not None)
                if not points:
                    continue
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", label=name or None)
                plotted += len(points)
            if log_x:  # ticks at the measured x values, written plainly (1, 8, 32 rather than 10^0)
                ax.set_xscale("log")
                ticks = sorted({float(r[x]) for r in rows if r.get(x) is not None})
                ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
                ax.minorticks_off()
            if log_y:
                ax.set_yscale("log")
            ax.set_xlabel(x)
            ax.set_ylabel(column)
            ax.grid(True, which="both", alpha=0.3)
            if len(groups) > 1 or next(iter(groups)):
                ax.legend(title=series, fontsize="small")
        if plotted == 0:
            raise ValueError(f"plot_rows: no row has both {x!r} and any of {columns}")
        fig.suptitle(title)
        fig.tight_layout()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    log.info("plot written to %s", path)
    return path
