"""Issue 12 #2 (slow reader): a client that never reads may not grow the daemon.

Before the bound, a client bound at 1024^2 RGBA that kept sending poses but never read grew
the daemon by ~110 MB/s: ZeroMQ queues up to 1000 *messages* per peer (4 GiB of frames),
whatever their size. Now each session may have at most ``max_queued_reply_bytes`` (16 MiB)
of frames queued, plus one held frame that newer ones replace (latest-wins)."""

from __future__ import annotations

import time

import numpy as np
import zmq

from facecast.client import Client
from facecast.protocol import Bind, Frame, Pose, decode, encode
from facecast.tracking.procedural import procedural_performance
from tests.integration.daemon_process import start_daemon

SIZE = 1024
FRAME_BYTES = SIZE * SIZE * 4
SECONDS = 6.0


def test_a_client_that_never_reads_holds_a_bounded_number_of_bytes(default_store, tmp_path) -> None:
    daemon = start_daemon(tmp_path, default_store.root, "--set", "server.max_poses_per_second=0")
    ctx = zmq.Context()
    try:
        with Client(daemon.endpoint) as good:
            bound = good.bind("default", 128, 128)
            poses = procedural_performance(bound.neutral, seconds=2.0)
            # The hostile peer: a socket that takes one message, then stops reading.
            slow = ctx.socket(zmq.DEALER)
            slow.setsockopt(zmq.RCVHWM, 1)
            slow.setsockopt(zmq.RCVBUF, 1 << 16)
            slow.setsockopt(zmq.LINGER, 0)
            slow.connect(daemon.endpoint)
            slow.send(encode(Bind(character="default", width=SIZE, height=SIZE)))
            for i in range(3):
                good.render(poses[i])
            rss_start = daemon.rss_bytes()
            rss_before = None  # once the 1024^2 render path's own buffers exist
            sent, good_frames, t0 = 0, 0, time.monotonic()
            while time.monotonic() < t0 + SECONDS:
                if rss_before is None and time.monotonic() > t0 + SECONDS / 3:
                    rss_before = daemon.rss_bytes()
                sent += 1
                slow.send(encode(Pose(seq=sent, landmarks=poses[sent % len(poses)])))
                good.render(poses[sent % len(poses)])  # a good client, in lockstep, paces the sender
                good_frames += 1
            rss_after = daemon.rss_bytes()
            counters = good.stats().daemon["counters"]
            # Now the slow client reads: the newest pose's frame comes, and every pose is
            # accounted for, as a frame or in a frame's superseded count.
            received, superseded, last = 0, 0, 0
            while last != sent:
                if not slow.poll(20_000):
                    raise AssertionError(f"no frame for the newest pose {sent}; last frame was for {last}")
                msg = decode(slow.recv(), 64 << 20)
                if isinstance(msg, Frame):
                    received += 1
                    superseded += msg.superseded
                    last = msg.seq
    finally:
        ctx.destroy(linger=0)
        assert daemon.stop() == 0, daemon.log()
    growth = (rss_after - rss_before) / 2**20
    print(f"\nslow reader at {SIZE}^2 for {SECONDS:.0f} s: {sent} poses ({sent * FRAME_BYTES / 2**20:.0f} MiB of "
          f"frames), daemon RSS +{(rss_before - rss_start) / 2**20:.1f} MiB in the first third (render buffers "
          f"at {SIZE}^2, the bounded queue), then +{growth:.1f} MiB, frames held back and replaced: {counters['frames_dropped_slow']}, "
          f"good client {good_frames} frames; once reading: {received} frames, {superseded} superseded")
    assert sent * FRAME_BYTES > 4 * (16 << 20), "the slow client must have asked for far more than the bound"
    assert counters["frames_dropped_slow"] > 0
    assert counters.get("replies_dropped_full", 0) == 0, "frames must be held by bytes before the message limit"
    # Flat once the queue is full (before the bound: ~110 MB/s, so ~400 MiB here).
    assert growth < 32, f"daemon RSS grew {growth:.1f} MiB in {SECONDS * 2 / 3:.0f} s for a client that does not read"
    assert received + superseded == sent, "every pose is a frame or counted as superseded"
    assert np.isfinite(growth)
