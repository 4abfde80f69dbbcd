"""What a benchmark ran on, written beside its figures (these machines are shared: the load
average says how busy the machine was)."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Any


def machine_description() -> dict[str, Any]:
    """CPU model and count, OS and Python (and the GPU when torch is already loaded)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    out: dict[str, Any] = {"cpu": cpu, "cpus": os.cpu_count(), "os": platform.platform(),
                           "python": platform.python_version()}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        out["gpu"] = torch.cuda.get_device_name(0)
    return out


def load_average() -> list[float] | None:
    """1/5/15-minute load average now (other work on the machine skews figures)."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None
