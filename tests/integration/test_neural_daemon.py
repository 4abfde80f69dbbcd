"""The neural renderer in the real daemon (`facecast serve --checkpoint`), driven by a real
ZeroMQ client; a tiny random-weight checkpoint (the ``tiny_checkpoint`` fixture)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from facecast.client import Client
from facecast.core import topology as topo
from tests.integration.daemon_process import start_daemon


def test_neural_daemon_serves_rgba_frames(default_store, tiny_checkpoint: Path, tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path, default_store.root, "--checkpoint", str(tiny_checkpoint), "--device", "cpu")
    try:
        with Client(daemon.endpoint, timeout_s=60) as client:
            assert client.hello().capabilities["renderer"] == "neural"
            bound = client.bind("default", width=96, height=80, pixel_format="rgba8")
            neutral = bound.neutral
            opened = neutral.copy()
            opened[list(topo.MP_LOWER_INNER_LIP + topo.MP_LOWER_OUTER_LIP + topo.MP_CHIN), 1] += 0.05
            first = client.render(neutral).image
            second = client.render(opened).image
            ibug = client.render(topo.to_ibug68(neutral), landmark_format="ibug68").image
        for frame in (first, second, ibug):
            assert frame.shape == (80, 96, 4) and frame.dtype == np.uint8
            assert frame[..., 3].std() > 0.5, "the alpha channel is the generator's, not a constant"
        assert np.abs(first.astype(int) - second.astype(int)).mean() > 0.2, "the pose changes the frame"
    finally:
        rc = daemon.stop()
    assert rc == 0, daemon.log()
    log = daemon.log()
    assert "no neural assets" in log and "--checkpoint" in log, "the on-the-fly embedding is warned about"


def test_serve_with_a_missing_checkpoint_fails_clearly(default_store, tmp_path: Path) -> None:
    missing = tmp_path / "models" / "missing.pt"
    proc = subprocess.run(
        [sys.executable, "-m", "facecast.apps.cli", "serve", "--bind", "tcp://127.0.0.1:0", "--store",
         str(default_store.root), "--checkpoint", str(missing)],
        capture_output=True, text=True, timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert str(missing) in out and "facecast train" in out and "docs/training.md" in out
    assert "Traceback" not in out


def _frames(daemon_endpoint: str) -> list[np.ndarray]:
    with Client(daemon_endpoint, timeout_s=60) as client:
        bound = client.bind("default", width=64, height=64, pixel_format="rgba8")
        opened = bound.neutral.copy()
        opened[list(topo.MP_LOWER_INNER_LIP + topo.MP_LOWER_OUTER_LIP + topo.MP_CHIN), 1] += 0.05
        return [client.render(pose).image for pose in (bound.neutral, opened)]


def test_serve_engine_onnx_matches_engine_torch(default_store, tiny_onnx, tmp_path: Path) -> None:
    """`facecast serve --engine onnx --onnx MODEL` through the real daemon gives the frames
    of `--engine torch` within one uint8 level (fp32 on both sides)."""
    ckpt, onnx_path = tiny_onnx
    frames = {}
    for engine, extra in (("torch", ()), ("onnx", ("--onnx", str(onnx_path)))):
        work = tmp_path / engine
        work.mkdir()
        daemon = start_daemon(work, default_store.root, "--checkpoint", str(ckpt), "--device", "cpu",
                              "--engine", engine, *extra)
        try:
            frames[engine] = _frames(daemon.endpoint)
        finally:
            rc = daemon.stop()
        assert rc == 0, daemon.log()
        if engine == "onnx":
            assert "runs CPUExecutionProvider" in daemon.log(), "the provider that runs is logged"
    for a, b in zip(frames["torch"], frames["onnx"]):
        assert a.shape == b.shape == (64, 64, 4)
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert np.abs(frames["onnx"][0].astype(int) - frames["onnx"][1].astype(int)).mean() > 0.2


def test_serve_engine_onnx_without_a_model_or_with_another_checkpoint_fails_clearly(default_store, tiny_onnx,
                                                                                  tiny_checkpoint: Path,
                                                                                  tmp_path: Path) -> None:
    ckpt, onnx_path = tiny_onnx
    for args, expected in (
        (("--checkpoint", str(ckpt), "--engine", "onnx"), ("facecast export", "--onnx")),
        (("--checkpoint", str(tiny_checkpoint), "--onnx", str(onnx_path)), ("exported from checkpoint", "Re-export")),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "facecast.apps.cli", "serve", "--bind", "tcp://127.0.0.1:0", "--store",
             str(default_store.root), "--device", "cpu", *args],
            capture_output=True, text=True, timeout=120,
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0
        assert all(e in out for e in expected), out
        assert "Traceback" not in out
