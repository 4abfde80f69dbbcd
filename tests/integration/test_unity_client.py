"""The Unity client's engine-independent C# parts (unity_client/Runtime, minus Runtime/Unity)
built with Mono and run against the real daemon: every golden protocol fixture, then hello,
bind, a recorded landmark track inline (rgba8) and through the shared-memory ring (bgra8).

Needs `mcs`/`mono` (Debian: mono-devel) and libzmq (Debian: libzmq5); skips, saying which is
missing, where they are not installed. CI installs both, so it always runs there.
"""

from __future__ import annotations

import ctypes.util
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from facecast.client import Client
from facecast.tracking.procedural import procedural_performance

ROOT = Path(__file__).resolve().parents[2]
UNITY = ROOT / "unity_client"
FIXTURES = ROOT / "tests" / "fixtures" / "protocol"
LIBZMQ_SO5 = Path("/usr/lib/x86_64-linux-gnu/libzmq.so.5")


def _missing_tools() -> str | None:
    missing = [tool for tool in ("mcs", "mono") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not on PATH (apt-get install mono-devel)"
    if not LIBZMQ_SO5.exists() and ctypes.util.find_library("zmq") is None:
        return f"libzmq not found ({LIBZMQ_SO5} missing, ctypes.util.find_library('zmq') is None; apt-get install libzmq5)"
    return None


pytestmark = pytest.mark.skipif(_missing_tools() is not None, reason=_missing_tools() or "")

SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)


@pytest.fixture(scope="module")
def console_tests(tmp_path_factory: pytest.TempPathFactory) -> Path:
    exe = tmp_path_factory.mktemp("unity-client") / "facecast_tests.exe"
    build = subprocess.run(["sh", str(UNITY / "Tests" / "Console" / "build.sh"), str(exe)],
                           capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, f"mcs failed:\n{build.stdout}\n{build.stderr}"
    return exe


def _run(exe: Path, *args: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess, int, int]:
    proc = subprocess.run(["mono", "--debug", str(exe), "--fixtures", str(FIXTURES), *args],
                          capture_output=True, text=True, timeout=timeout)
    found = SUMMARY.findall(proc.stdout)
    assert found, f"no summary line (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    passed, failed = map(int, found[-1])
    return proc, passed, failed


def test_csharp_codec_decodes_every_golden_fixture(console_tests: Path):
    proc, passed, failed = _run(console_tests)
    assert proc.returncode == 0 and failed == 0, proc.stdout + proc.stderr
    assert passed >= 200  # every valid and invalid fixture, field by field


def test_csharp_client_against_the_daemon(console_tests: Path, default_daemon, tmp_path: Path):
    with Client(default_daemon.endpoint) as client:
        neutral = client.bind("default").neutral
    track = procedural_performance(neutral, seconds=2.0, fps=25.0).astype("<f4")  # T x 478 x 3
    assert track.shape == (50, 478, 3) and np.isfinite(track).all()
    track_path = tmp_path / "track.f32"
    track_path.write_bytes(np.ascontiguousarray(track).tobytes())
    proc, passed, failed = _run(console_tests, "--endpoint", default_daemon.endpoint, "--character", "default",
                                "--track", str(track_path))
    assert proc.returncode == 0 and failed == 0, proc.stdout + proc.stderr
    assert passed >= 300, proc.stdout
