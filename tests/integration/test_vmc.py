"""`facecast vmc` as a real subprocess: real UDP OSC packets from a python-osc client reach
it, go to the real daemon as blendshape poses, and change the frames it writes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from pythonosc.udp_client import SimpleUDPClient

from facecast.core import topology as topo
from facecast.client import Client
from facecast.capture.vmc import ADDRESS_BLEND_APPLY, ADDRESS_BLEND_VAL, ADDRESS_BONE_POS

SIZE = 128


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(path: Path, text: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        assert proc.poll() is None, f"facecast vmc exited with {proc.returncode}:\n{path.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} within {timeout}s:\n{path.read_text()}"
        time.sleep(0.05)


def _send_for(osc: SimpleUDPClient, seconds: float, values: dict[str, float], head_quat: tuple = (0, 0, 0, 1)) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for name, value in values.items():
            osc.send_message(ADDRESS_BLEND_VAL, [name, float(value)])
        osc.send_message(ADDRESS_BONE_POS, ["Head", 0.0, 1.5, 0.0, *map(float, head_quat)])
        osc.send_message(ADDRESS_BLEND_APPLY, [])
        time.sleep(1 / 30)


def test_osc_packets_drive_the_rendered_frames(default_daemon, tmp_path: Path) -> None:
    port = _free_udp_port()
    video = tmp_path / "vmc.avi"
    log_path = tmp_path / "vmc.log"
    out_path = tmp_path / "vmc.out"
    cmd = [sys.executable, "-m", "facecast.apps.cli", "vmc", "--port", str(port), "--connect", default_daemon.endpoint,
           "--character", "default", "--size", str(SIZE), "--output", str(video), "--report-s", "0.5"]
    with open(log_path, "wb") as log_file, open(out_path, "wb") as out_file:
        proc = subprocess.Popen(cmd, stdout=out_file, stderr=log_file)
    try:
        _wait_for(log_path, "listening for VMC", proc)
        osc = SimpleUDPClient("127.0.0.1", port)
        _send_for(osc, 1.5, {"jawOpen": 0.0, "EyeBlinkLeft": 0.0, "Wink_Special": 1.0})
        _send_for(osc, 1.5, {"JawOpen": 1.0, "eyeBlink_L": 1.0})
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    log, out = log_path.read_text(errors="replace"), out_path.read_text(errors="replace")
    assert rc == 0, f"facecast vmc exited with {rc}:\n{log}\n{out}"
    assert "frames/s back" in out, out
    assert "Wink_Special x" in log, log  # unknown names are reported with counts

    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr.astype(np.int16))
    cap.release()
    assert len(frames) >= 40, f"only {len(frames)} frames written\n{out}"

    with Client(default_daemon.endpoint) as client:
        bound = client.bind("default", width=SIZE, height=SIZE)
        neutral_bgr = cv2.cvtColor(client.render(bound.neutral).image, cv2.COLOR_RGBA2BGR).astype(np.int16)
    lips = bound.neutral[list(topo.MP_OUTER_LIPS), :2] * SIZE
    (x0, y0), (x1, y1) = lips.min(axis=0).astype(int), lips.max(axis=0).astype(int)
    mouth = (slice(y0 - 4, y1 + 12), slice(x0 - 4, x1 + 4))

    first, last = frames[len(frames) // 8], frames[-1]
    # The first phase (all weights 0, head straight) is the neutral face, up to MJPG loss.
    assert np.abs(first - neutral_bgr).mean() < 4.0
    # The second (jaw open, left eye shut) changed the mouth well beyond compression noise.
    moved = np.abs(last - first)[mouth].mean()
    still = np.abs(frames[len(frames) // 8 + 3] - first)[mouth].mean()
    assert moved > 10.0 and moved > 4 * still, (moved, still)
