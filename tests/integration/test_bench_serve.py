"""`facecast bench serve` end to end, briefly: it starts the real daemon per client count,
drives the clients, prints the table and writes JSON and a PNG. No figure is judged by
its size (the machine is shared); only that the figures are consistent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest


def test_bench_serve_writes_consistent_json_and_a_plot(default_store, tmp_path: Path) -> None:
    out_json, out_png = tmp_path / "serve.json", tmp_path / "plots" / "serve.png"
    cmd = [sys.executable, "-m", "facecast.apps.cli", "bench", "serve", "--clients", "1,2", "--fps", "15",
           "--seconds", "2", "--size", "64", "--renderer", "warp", "--store", str(default_store.root),
           "--json", str(out_json), "--plot", str(out_png)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "clients" in proc.stdout and "p99 ms" in proc.stdout

    result = json.loads(out_json.read_text())
    assert "bench serve --clients 1,2" in result["command"]
    assert result["machine"]["cpus"] >= 1 and result["machine"]["cpu"]
    assert result["serve_options"][:2] == ["--renderer", "warp"]
    rows = result["rows"]
    assert [r["clients"] for r in rows] == [1, 2]
    for row, run in zip(rows, result["runs"]):
        assert len(run["clients"]) == row["clients"]
        assert row["label"] == "warp 64²" and row["size"] == 64 and row["fps_target"] == 15
        assert row["errors"] == 0
        assert row["sent"] > 0 and row["frames"] > 0
        assert row["frames"] + row["superseded"] <= row["sent"]
        assert row["sent"] == sum(c["sent"] for c in run["clients"])
        assert row["frames"] == sum(c["frames"] for c in run["clients"])
        assert 0 < row["fps_min"] <= row["fps_median"] <= row["fps_max"]
        assert row["fps_total"] == pytest.approx(sum(c["fps"] for c in run["clients"]))
        assert 0 < row["latency_p50_ms"] <= row["latency_p99_ms"]
        assert 0.0 <= row["drop_rate"] <= 1.0
        sizes = {int(k): v for k, v in row["batch_sizes"].items()}
        assert sizes and max(sizes) <= row["clients"]
        rendered = sum(k * v for k, v in sizes.items())
        assert rendered >= row["frames"], "every frame the clients got was rendered in some batch"
        assert row["mean_batch"] == pytest.approx(rendered / sum(sizes.values()))

    image = iio.imread(out_png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 300
    assert np.any(image[..., :3] != 255, axis=-1).mean() > 0.01, "something is drawn"
