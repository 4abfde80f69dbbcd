"""scripts/engine_memory.py runs (tiny config): both modes load, and the sharing mode
really shares (its child process asserts the engine's shares_weights)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "engine_memory.py"


def test_engine_memory_script_reports_both_modes() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--config", "tiny"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"engine copying \d+ MiB, sharing \d+ MiB", proc.stderr), proc.stderr[-3000:]
