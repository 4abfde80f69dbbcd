"""The README's client snippet runs as written against the real daemon."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_client_snippet_runs(default_daemon):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README lost its client example"
    code = blocks[0].replace("tcp://127.0.0.1:5555", default_daemon.endpoint)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("(256, 256, 4)") and " ms" in proc.stdout
