"""The daemon with its render workers on a real Ray cluster started by the test (a head
with no CPUs and two single-CPU worker nodes, so each render actor has a node — a
"machine" — of its own), the real daemon (a subprocess) in front, real clients.

- clients of several characters get their own frames, in order, equal to an in-process
  render of the same pose;
- a worker node killed mid-stream: every client keeps getting frames (the lost batch is
  re-routed), and when a node comes back Ray restarts the actor and its lane resumes;
- 1 -> 2 workers: the throughput ratio is measured and printed (not asserted: shared CI
  machines are noisy; docs/scale.md has the figures).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from ray.cluster_utils import Cluster

from facecast.client import Client, FacecastError
from facecast.render.base import RenderRequest, create_renderer
from facecast.tracking.procedural import procedural_performance
from tests.integration.daemon_process import start_daemon

SIZE = 96
NAMES = ["default", "mona_lisa", "bw_portrait"]


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(2):
        c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c
    c.shutdown()


def _ray_daemon(tmp_path: Path, store_root: Path, cluster, workers: int = 2):
    return start_daemon(tmp_path, store_root, "--renderer", "warp", "--executor", "ray",
                        "--ray-address", cluster.address, "--ray-workers", str(workers), timeout=180.0)


def _lanes(client: Client) -> list[dict]:
    return client.stats().daemon["executor"]["lanes"]


def test_frames_correct_and_in_order_through_ray(cluster, full_store, tmp_path: Path):
    daemon = _ray_daemon(tmp_path, full_store.root, cluster)
    local = create_renderer("warp")
    clients = [Client(daemon.endpoint, timeout_s=60) for _ in NAMES]
    try:
        lanes = _lanes(clients[0])
        assert len(lanes) == 2 and len({lane["node"] for lane in lanes}) == 2, lanes  # one actor per node
        handles, poses = {}, {}
        for client, name in zip(clients, NAMES):
            bound = client.bind(name, width=SIZE, height=SIZE, pixel_format="rgba8")
            handles[name] = local.prepare(full_store.load(name).assets())
            poses[name] = procedural_performance(bound.neutral, seconds=1.0, fps=12)
        got: dict[str, list] = {n: [] for n in NAMES}
        for i in range(len(poses[NAMES[0]])):
            for client, name in zip(clients, NAMES):  # all sessions have a pose queued at once: batches mix
                client.send_pose(poses[name][i], seq=i + 1)
            for client, name in zip(clients, NAMES):
                got[name].append(client.recv_frame(timeout_s=60))
        for name in NAMES:
            frames = got[name]
            assert [f.seq for f in frames] == list(range(1, len(frames) + 1))
            assert {f.message.character for f in frames} == {name}
            for f in frames[::4]:
                want = local.render([RenderRequest(handles[name], np.asarray(poses[name][f.seq - 1], np.float32),
                                                   "mediapipe478", SIZE, SIZE)])[0]
                diff = np.abs(f.image.astype(int) - want.astype(int))
                assert diff.max() <= 1, f"{name} seq {f.seq}: frame differs from an in-process render"
        lanes = _lanes(clients[0])
        assert sum(lane["batches"] for lane in lanes) > 0
        report = clients[0].stats().daemon
        assert report["counters"].get("characters_prepared", 0) >= len(NAMES)
    finally:
        for c in clients:
            c.close()
        rc = daemon.stop()
    assert rc == 0, daemon.log()


def test_worker_node_killed_mid_stream(cluster, full_store, tmp_path: Path):
    daemon = _ray_daemon(tmp_path, full_store.root, cluster)
    stop = threading.Event()
    killed_at = [float("inf")]
    frames: dict[str, list[tuple[float, int]]] = {n: [] for n in NAMES}
    errors: list[BaseException] = []

    def stream(name: str) -> None:
        try:
            with Client(daemon.endpoint, timeout_s=60) as client:
                bound = client.bind(name, width=SIZE, height=SIZE, pixel_format="rgba8")
                poses = procedural_performance(bound.neutral, seconds=2.0, fps=25)
                i = 0
                while not stop.is_set():
                    f = client.render(poses[i % len(poses)])
                    frames[name].append((time.monotonic(), f.seq))
                    i += 1
        except (FacecastError, TimeoutError, OSError) as exc:
            errors.append(exc)

    threads = [threading.Thread(target=stream, args=(n,), daemon=True) for n in NAMES]
    probe = Client(daemon.endpoint, timeout_s=60)
    try:
        for t in threads:
            t.start()
        time.sleep(3.0)
        victim = _lanes(probe)[0]
        node = next(n for n in cluster.worker_nodes if n.node_id == victim["node"])
        cluster.remove_node(node, allow_graceful=False)  # the machine goes down: its raylet ...
        try:
            os.kill(victim["pid"], signal.SIGKILL)  # ... and the render actor's process with it
        except ProcessLookupError:
            pass
        killed_at[0] = time.monotonic()

        def after_kill() -> dict[str, int]:
            return {n: sum(1 for t, _ in frames[n] if t > killed_at[0]) for n in NAMES}

        deadline = time.monotonic() + 60.0  # a generous bound for a loaded CI machine; typically ~1 s
        while time.monotonic() < deadline and not errors and min(after_kill().values()) < 10:
            time.sleep(0.2)
        report = probe.stats().daemon
        assert not errors, errors
        assert min(after_kill().values()) >= 10, (after_kill(), daemon.log()[-3000:])
        assert report["counters"].get("workers_lost", 0) >= 1, report["counters"]
        assert sum(1 for lane in report["executor"]["lanes"] if not lane["healthy"]) == 1
        # A node joins again: Ray restarts the lost actor there, and its lane takes work again.
        cluster.add_node(num_cpus=1)
        deadline = time.monotonic() + 90.0
        while time.monotonic() < deadline and not all(lane["healthy"] for lane in _lanes(probe)):
            time.sleep(0.5)
        lanes = _lanes(probe)
        assert all(lane["healthy"] for lane in lanes), lanes
        before = {lane["lane"]: lane["batches"] for lane in lanes}
        time.sleep(2.0)
        assert all(lane["batches"] > before[lane["lane"]] for lane in _lanes(probe)), _lanes(probe)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        probe.close()
        rc = daemon.stop()
    assert not errors, errors
    for name in NAMES:
        seqs = [s for _, s in frames[name]]
        assert seqs == sorted(seqs), f"{name}: frames out of order"
    assert rc == 0, daemon.log()


def test_one_to_two_workers_throughput_is_measured(cluster, default_store, capsys):
    from facecast.apps.bench.scale import bench_scale, format_scale
    from facecast.config import AppConfig, StoreConfig

    cfg = AppConfig(store=StoreConfig(root=str(default_store.root)))
    rows = bench_scale(cfg, [1, 2], frames=120, size=128, clients=6, ray_address=cluster.address)
    by_path = {r["path"]: r for r in rows}
    for path in ("in-process", "ray, 1 worker", "ray, 2 workers"):
        assert by_path[path]["fps_6_clients"] > 0 and by_path[path]["p50_ms"] > 0
    assert rows[0]["job_bytes"] < 10_000  # landmarks, not images, travel to the workers
    with capsys.disabled():
        print("\n" + format_scale(rows))


def test_actors_that_cannot_be_placed_fail_the_start_with_one_clear_line(cluster, default_store, tmp_path: Path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "facecast.apps.cli", "serve", "--bind", "tcp://127.0.0.1:0",
                           "--store", str(default_store.root), "--executor", "ray", "--ray-address", cluster.address,
                           "--ray-workers", "5", "--set", "executor.ray_start_timeout_s=5"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "5 render actor(s) did not start within 5 s" in proc.stderr and "--ray-workers" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unreachable_ray_address_fails_at_once_with_one_line(default_store, tmp_path: Path):
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    for address in (f"127.0.0.1:{port}", "no-port-here"):
        proc = subprocess.run([sys.executable, "-m", "facecast.apps.cli", "serve", "--bind", "tcp://127.0.0.1:0",
                               "--store", str(default_store.root), "--executor", "ray", "--ray-address", address],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert address in proc.stderr and "Traceback" not in proc.stderr
