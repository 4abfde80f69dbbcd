"""`facecast bench bridge` end to end on a few frames: both pairs measured against real
servers (echo processes and the daemon), ratios computed from the rows, and the daemon's
profile written and summarised. Figures are printed by the command, never asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from facecast.apps.bench.bridge import bench_bridge, format_bridge, profile_summary
from facecast.config import AppConfig, StoreConfig


def test_bridge_measures_both_pairs_and_profiles_the_daemon(default_store, tmp_path: Path):
    cfg = AppConfig(store=StoreConfig(root=str(default_store.root)))
    prof = tmp_path / "daemon.prof"
    rows = bench_bridge(cfg, frames=60, size=64, clients=2, rounds=2, profile=prof)
    by = {r["path"]: r for r in rows}
    assert list(by) == ["raw pyzmq echo", "facecast daemon (copy renderer)", "ratio daemon / raw",
                        "raw echo, notice-size reply", "daemon, shm output (notice)", "ratio shm daemon / raw"]
    raw, dae = by["raw pyzmq echo"], by["facecast daemon (copy renderer)"]
    for key in ("p50_ms", "fps_2_clients", "cpu_us_per_frame"):
        assert dae[key] > 0 and raw[key] >= 0
    assert by["ratio daemon / raw"]["p50_ms"] == pytest.approx(dae["p50_ms"] / raw["p50_ms"])
    assert rows[0]["reply_bytes"] > 64 * 64 * 4 > rows[0]["notice_bytes"]
    assert "ratio shm daemon / raw" in format_bridge(rows)
    assert "facecast/server/" in profile_summary(prof)  # the daemon's own request path was profiled
