"""Issue 12 #1 (render bomb) through the real daemon: a client sending the costliest poses
it can build gets RENDER_FAILED for each at little cost, while a good client keeps its
frame rate. Before the bounds, each such pose held the render thread for seconds at
1024^2, so the good client's rate fell about fiftyfold."""

from __future__ import annotations

import threading
import time

import numpy as np

from facecast.client import Client, FacecastError
from facecast.protocol import ErrorCode
from facecast.tracking.procedural import procedural_performance
from tests.integration.daemon_process import start_daemon
from tests.unit.test_render_cost_bounds import worst_poses

SIZE = 1024
FRAMES = 12


def _lockstep_seconds(client: Client, poses: np.ndarray) -> float:
    t0 = time.perf_counter()
    for i in range(FRAMES):
        client.render(poses[i % len(poses)])
    return time.perf_counter() - t0


def test_render_bombs_are_refused_while_a_good_client_keeps_its_frame_rate(default_store, tmp_path) -> None:
    daemon = start_daemon(tmp_path, default_store.root, "--set", "server.max_poses_per_second=0")
    errors: list[tuple[int, str]] = []
    stop = threading.Event()
    try:
        with Client(daemon.endpoint, timeout_s=60) as good, Client(daemon.endpoint, timeout_s=60) as bomber:
            bound = good.bind("default", SIZE, SIZE)
            bomber.bind("default", SIZE, SIZE)
            poses = procedural_performance(bound.neutral, seconds=2.0)
            bombs = [lm.astype(np.float32) for name, lm in worst_poses(bound.neutral).items()
                     if "(accepted)" not in name and "one point" not in name and "x10" not in name]
            _lockstep_seconds(good, poses)  # warm up
            alone = min(_lockstep_seconds(good, poses) for _ in range(2))

            def bomb() -> None:
                i = 0
                while not stop.is_set():
                    try:
                        bomber.render(bombs[i % len(bombs)])
                        errors.append((0, "a bomb rendered"))
                    except FacecastError as exc:
                        errors.append((exc.code, str(exc)))
                    i += 1

            thread = threading.Thread(target=bomb, daemon=True)
            thread.start()
            deadline = time.monotonic() + 60
            while len(errors) < 3 and thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.01)  # the bomber is going
            bombed = _lockstep_seconds(good, poses)
            stop.set()
            thread.join(timeout=60)
            report = good.stats()
    finally:
        assert daemon.stop() == 0, daemon.log()
    print(f"\n{FRAMES} good frames at {SIZE}^2: alone {alone:.2f} s, beside the bomber {bombed:.2f} s "
          f"({alone / bombed:.2f} of its rate); bomber answered {len(errors)} times")
    refused = [msg for code, msg in errors if code == ErrorCode.RENDER_FAILED and "pose refused" in msg]
    # Coordinates beyond +-100 are refused when decoded (BAD_ARRAY); the rest by the renderer.
    assert all(code == ErrorCode.BAD_ARRAY or "pose refused" in msg for code, msg in errors), errors[:3]
    assert len(refused) >= len(errors) // 2, errors[:3]
    assert report.daemon["counters"]["poses_refused"] >= len(refused) - 1
    # The good client keeps most of its rate (the bomber's poses are refused before any
    # pixel is drawn; each still costs a scheduler slot and a reply).
    assert bombed < 3.0 * alone, f"good client slowed {bombed / alone:.1f}x by the bomber"
