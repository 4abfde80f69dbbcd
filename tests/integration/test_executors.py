"""The local executors through the real daemon (a subprocess, real ZeroMQ): one render
thread per device (`--executor devices`; two CPU lanes here, as there is no GPU), and the
in-process executor's fast path that renders on the I/O thread when that is cheaper."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facecast.client import Client
from facecast.render.base import RenderRequest, create_renderer
from facecast.tracking.procedural import procedural_performance
from tests.integration.daemon_process import start_daemon

SIZE = 96
NAMES = ["default", "mona_lisa", "bw_portrait", "pearl_earring"]


def test_two_device_lanes_render_every_client_correctly(full_store, tmp_path: Path):
    daemon = start_daemon(tmp_path, full_store.root, "--renderer", "warp", "--executor", "devices",
                          "--devices", "cpu,cpu")
    local = create_renderer("warp")
    clients = [Client(daemon.endpoint, timeout_s=60) for _ in NAMES]
    try:
        poses, handles = {}, {}
        for client, name in zip(clients, NAMES):
            bound = client.bind(name, width=SIZE, height=SIZE, pixel_format="rgb8")
            poses[name] = procedural_performance(bound.neutral, seconds=1.0, fps=10)
            handles[name] = local.prepare(full_store.load(name).assets())
        for i in range(len(poses[NAMES[0]])):
            for client, name in zip(clients, NAMES):
                client.send_pose(poses[name][i], seq=i + 1)
            for client, name in zip(clients, NAMES):
                frame = client.recv_frame(timeout_s=60)
                assert frame.seq == i + 1 and frame.message.character == name
                want = local.render([RenderRequest(handles[name], np.asarray(poses[name][i], np.float32),
                                                   "mediapipe478", SIZE, SIZE)])[0][..., :3]
                assert np.abs(frame.image.astype(int) - want.astype(int)).max() <= 1
        report = clients[0].stats().daemon
        lanes = report["executor"]["lanes"]
        assert report["executor"]["executor"] == "devices" and len(lanes) == 2
        assert report["counters"]["frames"] == len(NAMES) * len(poses[NAMES[0]])
    finally:
        for c in clients:
            c.close()
        rc = daemon.stop()
    assert rc == 0, daemon.log()


def _lockstep_counters(store_root: Path, tmp_path: Path, *args: str) -> tuple[dict, list[np.ndarray]]:
    daemon = start_daemon(tmp_path, store_root, "--renderer", "copy", *args)
    try:
        with Client(daemon.endpoint, timeout_s=30) as client:
            bound = client.bind("default", width=64, height=64, pixel_format="rgba8")
            images = [client.render(bound.neutral).image for _ in range(30)]
            counters = client.stats().daemon["counters"]
    finally:
        rc = daemon.stop()
    assert rc == 0, daemon.log()
    return counters, images


def test_cheap_renders_skip_the_render_thread_and_give_the_same_frames(default_store, tmp_path: Path):
    # A generous threshold, so a loaded machine's slow copies still count as cheap: this
    # tests the mechanism, not the default threshold.
    fast, fast_images = _lockstep_counters(default_store.root, tmp_path, "--set", "executor.inline_render_ms=1000")
    assert fast.get("rendered_inline", 0) >= 25  # all but the first couple (prepare, first measurement)
    slow, slow_images = _lockstep_counters(default_store.root, tmp_path, "--set", "executor.inline_render_ms=0")
    assert slow.get("rendered_inline", 0) == 0 and slow["frames"] == 30
    assert all(np.array_equal(a, b) for a, b in zip(fast_images, slow_images))


def _cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@pytest.mark.gpu
@pytest.mark.skipif(_cuda_devices() == 0, reason="needs a CUDA GPU")
def test_one_neural_lane_per_cuda_device(full_store, tiny_checkpoint: Path, tmp_path: Path):
    """The devices executor on real GPUs: one lane (and one neural model) per CUDA device by
    default; every client gets its own character's frames."""
    daemon = start_daemon(tmp_path, full_store.root, "--checkpoint", str(tiny_checkpoint), "--executor", "devices")
    clients = [Client(daemon.endpoint, timeout_s=120) for _ in NAMES[:2]]
    try:
        for client, name in zip(clients, NAMES[:2]):
            bound = client.bind(name, width=64, height=64, pixel_format="rgb8")
            for _ in range(3):
                frame = client.render(bound.neutral)
                assert frame.message.character == name and frame.image.shape == (64, 64, 3)
        lanes = clients[0].stats().daemon["executor"]["lanes"]
        assert len(lanes) == _cuda_devices()
    finally:
        for c in clients:
            c.close()
        rc = daemon.stop()
    assert rc == 0, daemon.log()
