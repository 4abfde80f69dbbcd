"""The shared-memory texture ring against the real daemon process: cross-process reads,
no torn frames, and no rings left in /dev/shm however a session or the daemon ends."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from facecast.client import Client, FacecastError
from facecast.client.ring_reader import RingReader, RingReadError
from tests.integration.daemon_process import start_daemon

pytestmark = pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no /dev/shm on this system")


def _rings() -> set[str]:
    return {p.name for p in Path("/dev/shm").glob("facecast-*")}


def test_shm_frames_match_inline_frames(daemon):
    with Client(daemon.endpoint) as shm_client, Client(daemon.endpoint) as inline_client:
        bound = shm_client.bind("mona_lisa", width=200, height=160, pixel_format="bgra8", output="shm", slots=4)
        assert bound.shm["slots"] == 4 and bound.shm["name"] in _rings()
        assert Path(bound.shm["path"]).stat().st_size == bound.shm["size"]
        inline_client.bind("mona_lisa", width=200, height=160, pixel_format="rgba8")
        for i in range(6):
            pose = bound.neutral.copy()
            pose[14, 1] += 0.004 * i
            via_ring = shm_client.render(pose)
            assert via_ring.message.data == b"" and via_ring.message.slot == i % 4
            assert via_ring.message.slot_seq == 2 * (i // 4 + 1)
            inline = inline_client.render(pose).image
            np.testing.assert_array_equal(via_ring.image[..., [2, 1, 0, 3]], inline)
        # A slot named by an old notice is detected as reused once the ring wraps.
        old = via_ring.message
        for _ in range(4):
            shm_client.render(bound.neutral)
        with pytest.raises(RingReadError, match="reused"):
            shm_client.ring.read(old.slot, old.slot_seq)


def test_reader_in_another_process_never_sees_a_torn_frame(full_store, tmp_path: Path):
    # No pose rate limit: the writer sends as fast as it can, which on an idle machine is more
    # than the default 2000 poses/s (RATE_LIMITED would end the writer and the test with it).
    d = start_daemon(tmp_path, full_store.root, "--renderer", "stamp", "--set", "server.max_poses_per_second=0")
    try:
        with Client(d.endpoint) as client:
            bound = client.bind("default", width=512, height=512, pixel_format="rgba8", output="shm", slots=2)
            out = tmp_path / "reader.json"
            reader = subprocess.Popen([sys.executable, "-m", "tests.integration.ring_reader_proc",
                                       bound.shm["name"], "20000", str(out)])
            stop = threading.Event()
            sent = 0

            def spam() -> None:  # the daemon writes as fast as it can render
                nonlocal sent
                pose = bound.neutral.copy()
                while not stop.is_set():
                    sent += 1
                    pose[0, 0] = (sent % 10000) / 100.0
                    pose[0, 1] = 0.5
                    client.send_pose(pose, seq=sent)
                    if sent % 4 == 0:  # replies (frame notices) are drained, not read from the ring
                        assert client.recv(timeout_s=10).TYPE == "frame"
                        while True:
                            try:
                                client.recv(timeout_s=0)
                            except TimeoutError:
                                break

            writer = threading.Thread(target=spam)
            writer.start()
            try:
                assert reader.wait(timeout=180) == 0
            finally:
                stop.set()
                writer.join(30)
        report = json.loads(out.read_text())
    finally:
        assert d.stop() == 0
    assert report["reads"] == 20000
    assert report["torn"] == 0, report
    assert report["distinct"] > 100, f"the writer should have been writing during the reads: {report}"


def test_rings_are_unlinked_on_bye_rebind_timeout_and_sigterm(full_store, tmp_path: Path):
    before = _rings()
    d = start_daemon(tmp_path, full_store.root, "--set", "server.session_timeout_s=1",
                     "--set", "server.stats_interval_s=0.2")
    try:
        a, b, c = Client(d.endpoint), Client(d.endpoint), Client(d.endpoint)
        ring_a = a.bind("default", output="shm").shm["name"]
        ring_b = b.bind("default", output="shm").shm["name"]
        ring_c = c.bind("default", output="shm").shm["name"]
        assert {ring_a, ring_b, ring_c} <= _rings()
        a.bye()
        assert ring_a not in _rings()
        b.bind("default", output="inline")  # re-bind without a ring
        assert ring_b not in _rings()
        deadline = time.monotonic() + 20
        while ring_c in _rings() and time.monotonic() < deadline:
            b.ping()  # b stays alive; c is silent and times out
            time.sleep(0.2)
        assert ring_c not in _rings()
        ring_b2 = b.bind("default", output="shm").shm["name"]
        assert ring_b2 in _rings()
        for cl in (a, b, c):
            cl.close()
    finally:
        assert d.stop(signal.SIGTERM) == 0
    assert _rings() == before


def test_rings_are_reclaimed_even_when_the_daemon_is_killed(full_store, tmp_path: Path):
    before = _rings()
    d = start_daemon(tmp_path, full_store.root)
    with Client(d.endpoint) as client:
        name = client.bind("default", output="shm").shm["name"]
        assert name in _rings()
    d.proc.kill()  # SIGKILL: no clean-up code runs in the daemon
    d.proc.wait()
    deadline = time.monotonic() + 20  # Python's resource tracker process unlinks leaked segments
    while name in _rings() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _rings() == before


def test_shm_rejects_encoded_formats(daemon):
    with Client(daemon.endpoint) as client:
        with pytest.raises(FacecastError) as info:
            client.bind("default", output="shm", pixel_format="jpeg")
        assert info.value.code == 202 and "raw pixels" in str(info.value)


def test_reader_refuses_what_is_not_a_ring(tmp_path: Path):
    from multiprocessing import resource_tracker, shared_memory

    seg = shared_memory.SharedMemory(name="facecast-test-notaring", create=True, size=4096)
    try:
        seg.buf[:4] = b"NOPE"
        from facecast.protocol.shm_layout import RingFormatError

        with pytest.raises(RingFormatError, match="not a facecast ring"):
            RingReader("facecast-test-notaring")
    finally:
        # The reader un-tracks the segment (it is not its owner); we own this one.
        resource_tracker.register(seg._name, "shared_memory")
        seg.close()
        seg.unlink()


def test_a_ring_truncated_by_another_process_ends_only_that_session(full_store, tmp_path: Path):
    """Issue 12 #5: a same-user process truncating /dev/shm/facecast-* (O_TRUNC) made the
    daemon's next write into that ring fault: SIGBUS killed it. Now the write checks the
    file's size first; that pose gets INTERNAL, that session ends, everyone else goes on."""
    d = start_daemon(tmp_path, full_store.root, "--renderer", "copy")
    try:
        with Client(d.endpoint, auto_rebind=False) as victim, Client(d.endpoint) as other:
            bound = victim.bind("default", width=64, height=64, output="shm")
            other_bound = other.bind("mona_lisa", width=64, height=64)
            assert victim.render(bound.neutral).image.shape == (64, 64, 4)
            with open(bound.shm["path"], "r+b") as f:  # what O_TRUNC does
                f.truncate(0)
            with pytest.raises(FacecastError) as failed:
                victim.render(bound.neutral)
            assert failed.value.name == "INTERNAL" and "truncated" in str(failed.value)
            assert d.proc.poll() is None, "the daemon died"
            assert other.render(other_bound.neutral).image.shape == (64, 64, 4)
            counters = other.stats().daemon["counters"]
            assert counters["rings_truncated"] == 1
            again = victim.bind("default", width=64, height=64, output="shm")  # a new session and ring
            assert victim.render(again.neutral).image.shape == (64, 64, 4)
    finally:
        assert d.stop() == 0, d.log()
