"""`facecast bench npc` end to end, briefly: a real daemon per NPC count, NPC sessions that
only receive, a table and JSON. No figure is judged by its size (the machine is shared);
only that the figures are consistent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def test_bench_npc_prints_a_table_and_consistent_json(default_store, tmp_path: Path) -> None:
    out = tmp_path / "npc.json"
    proc = subprocess.run([sys.executable, "-m", "facecast.apps.cli", "bench", "npc", "--npcs", "1,2", "--fps", "15",
                           "--seconds", "2", "--size", "64", "--store", str(default_store.root), "--json", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "NPCs served at 15 fps" in proc.stdout
    result = json.loads(out.read_text())
    assert "bench npc --npcs 1,2" in result["command"] and result["machine"]["cpus"] >= 1
    rows = result["rows"]
    assert [r["npcs"] for r in rows] == [1, 2]
    for r in rows:
        assert r["errors"] == 0 and r["frames"] > 0 and r["fps_target"] == 15
        assert 0 < r["fps_min"] <= r["fps_median"] and abs(r["fps_total"] * r["seconds"] - r["frames"]) < 1e-6
        assert r["fps_median"] <= 15 * 1.2  # the daemon paces NPC frames: never much above the target
        assert r["full_rate"] == (r["fps_min"] >= 0.95 * 15)
        assert 0 <= r["latency_p50_ms"] <= r["latency_p99_ms"]
