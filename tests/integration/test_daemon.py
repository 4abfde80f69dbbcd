"""The real daemon (a subprocess on a free loopback port) and real ZeroMQ clients."""

from __future__ import annotations

import time

import msgpack
import numpy as np
import pytest
import zmq

from facecast.server.daemon import Daemon
from facecast.client import Client, FacecastError
from facecast.config import AppConfig, ServerConfig
from facecast.render.copy import CopyRenderer
from facecast.protocol import Bind, Error, Frame, Hello, Pose, TIMING_KEYS, decode, encode
from facecast.tracking.procedural import procedural_performance


def _reference(store, name: str, size: int) -> np.ndarray:
    import cv2

    return cv2.resize(store.load(name).image, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)


def test_four_clients_receive_only_their_own_frames_in_order(daemon, full_store):
    names = ["default", "mona_lisa", "pearl_earring", "bw_portrait"]
    sizes = [256, 192, 256, 320]
    clients = [Client(daemon.endpoint) for _ in names]
    try:
        performances = {}
        for client, name, size in zip(clients, names, sizes):
            assert client.hello().version == 1
            bound = client.bind(name, width=size, height=size, pixel_format="rgba8")
            assert bound.character == name and bound.neutral.shape == (478, 3)
            performances[name] = procedural_performance(bound.neutral, seconds=1.0, fps=20)
        # First, in lockstep, the neutral face: each must be the client's own character.
        neutral_frames = {n: c.render(c.binding.neutral) for c, n in zip(clients, names)}
        received: dict[str, list] = {n: [] for n in names}
        dropped = {n: 0 for n in names}
        sent = {n: 0 for n in names}
        total = len(next(iter(performances.values())))

        def accounted(n: str) -> int:
            return len(received[n]) + dropped[n]

        # Interleave the clients, each keeping two poses in flight (so a pose may be
        # superseded by the next one; the frame then says so).
        while any(accounted(n) < total for n in names):
            for client, name in zip(clients, names):
                while sent[name] < total and sent[name] - accounted(name) < 2:
                    client.send_pose(performances[name][sent[name]], seq=sent[name] + 100)
                    sent[name] += 1
            for client, name in zip(clients, names):
                if accounted(name) < sent[name]:
                    frame = client.recv_frame(timeout_s=20)
                    received[name].append(frame)
                    dropped[name] += frame.message.superseded
        refs = {n: _reference(full_store, n, s) for n, s in zip(names, sizes)}
        for name, size in zip(names, sizes):
            frames = received[name]
            seqs = [f.seq for f in frames]
            assert seqs == sorted(set(seqs)) and seqs[-1] == total + 99, "frames out of order or missing"
            assert len(seqs) + dropped[name] == total
            for f in frames:
                assert f.message.character == name
                assert f.image.shape == (size, size, 4)
                t = f.message.timings
                assert [k for k in TIMING_KEYS if k in t] == list(TIMING_KEYS)
                assert t["client_send"] <= t["receive"] <= t["render_start"] <= t["render_end"] <= t["reply"]
            # The neutral-pose frame is this character's own picture, not another's.
            first = neutral_frames[name].image[..., :3].astype(np.float32)
            own = np.abs(first - refs[name]).mean()
            assert own < 6.0, f"{name}: neutral frame differs from its reference by {own:.1f}"
            others = [np.abs(first - refs[o]).mean() for o in names if o != name and sizes[names.index(o)] == size]
            assert all(own < o for o in others)
            # And the performance animates the face.
            assert np.abs(frames[-5].image[..., :3].astype(np.float32) - first).mean() > 0.5
    finally:
        for c in clients:
            c.close()


@pytest.fixture
def unlimited_daemon(full_store, tmp_path):
    """A daemon without the per-client pose rate limit: latest-wins alone handles a flood."""
    from tests.integration.daemon_process import start_daemon

    d = start_daemon(tmp_path, full_store.root, "--set", "server.max_poses_per_second=0")
    yield d
    assert d.stop() == 0


def test_spamming_client_is_latest_wins_with_bounded_staleness_and_flat_memory(unlimited_daemon):
    daemon = unlimited_daemon
    with Client(daemon.endpoint) as client:
        bound = client.bind("default")
        poses = procedural_performance(bound.neutral, seconds=4.0, fps=25)
        # Warm up and measure lockstep render speed, so we can send 10x faster.
        start = time.perf_counter()
        for i in range(20):
            client.render(poses[i % len(poses)])
        per_frame = (time.perf_counter() - start) / 20
        rss_before = daemon.rss_bytes()

        total, received, superseded_in_frames = 1500, [], 0
        staleness = []  # how many poses behind the newest sent pose each frame is
        last_sent = 0
        interval = per_frame / 10
        next_send = time.perf_counter()
        while last_sent < total:
            now = time.perf_counter()
            if now >= next_send:
                last_sent = client.send_pose(poses[last_sent % len(poses)], seq=last_sent + 1)
                next_send = max(next_send + interval, now)  # no catch-up bursts after a stall
                continue
            try:
                frame = client.recv_frame(timeout_s=max(0.0, next_send - now))
            except TimeoutError:
                continue
            received.append(frame.seq)
            staleness.append(last_sent - frame.seq)
            superseded_in_frames += frame.message.superseded
        # Drain: the last pose always gets a frame.
        while not received or received[-1] != total:
            frame = client.recv_frame(timeout_s=20)
            received.append(frame.seq)
            superseded_in_frames += frame.message.superseded
        rss_after = daemon.rss_bytes()
        report = client.stats()

    assert received == sorted(received), "frames must come back in seq order"
    assert len(received) + superseded_in_frames == total, "every pose is either rendered or counted as superseded"
    assert superseded_in_frames > total // 2, f"expected most poses to be superseded at 10x, got {superseded_in_frames}"
    assert report.session["counters"]["superseded"] == superseded_in_frames
    assert report.daemon["counters"]["superseded"] >= superseded_in_frames
    # Latest-wins: no queue builds up, so frames stay close to the newest pose
    # (a FIFO would fall ~90% of `total` behind by the end).
    # The median, not the max: a machine stall can briefly leave any daemon behind.
    late = float(np.median(staleness[len(staleness) // 2:]))
    assert late < 40, f"frames fell {late} poses behind (median): a queue is building"
    growth = (rss_after - rss_before) / 2**20
    assert growth < 40, f"daemon RSS grew {growth:.1f} MiB while spammed"


BAD_INPUTS = [
    ("malformed", lambda: b"\xc1\x00\xff", 100),
    ("top-level array", lambda: msgpack.packb([1, 2, 3]), 100),
    ("unknown version", lambda: msgpack.packb({"v": 99, "type": "ping"}), 101),
    ("unknown type", lambda: msgpack.packb({"v": 1, "type": "teleport"}), 102),
    ("wrong field type", lambda: msgpack.packb({"v": 1, "type": "bind", "character": "default", "width": "big"}), 103),
    ("wrong shape", lambda: encode(Pose(seq=1, landmarks=np.zeros((470, 3), np.float32))), 104),
    ("wrong dtype", lambda: msgpack.packb({"v": 1, "type": "pose", "seq": 1, "landmarks": {
        "format": "mediapipe478", "dtype": "f64", "shape": [478, 3], "data": bytes(478 * 3 * 8)}}), 104),
    ("NaN", lambda: encode(Pose(seq=1, landmarks=np.full((478, 3), np.nan, np.float32))), 105),
    ("oversized", lambda: msgpack.packb({"v": 1, "type": "ping", "pad": bytes(5 << 20)}), 106),
    ("unknown character", lambda: encode(Bind(character="nobody")), 201),
    ("bad character name", lambda: encode(Bind(character="../etc")), 103),
    ("unsupported output", lambda: encode(Bind(character="default", output="texture")), 202),
    ("blendshape weight > 1", lambda: encode(Pose(seq=1, blendshapes=np.full(52, 1.5, np.float32))), 103),
    ("reply type as request", lambda: encode(Error(code=1, name="x", message="y")), 102),
]


def test_every_bad_input_gets_its_error_code_and_is_counted(daemon):
    ctx = zmq.Context.instance()
    with Client(daemon.endpoint) as good:
        bound = good.bind("default")
        before = good.stats().daemon["errors"]
        bad = ctx.socket(zmq.DEALER)
        bad.connect(daemon.endpoint)
        try:
            # Pose before bind on a fresh session.
            bad.send(encode(Pose(seq=5, landmarks=bound.neutral)))
            assert bad.poll(10000)
            err = decode(bad.recv())
            assert isinstance(err, Error) and err.code == 200 and err.seq == 5
            bad.send(encode(Bind(character="default")))
            assert bad.poll(10000) and decode(bad.recv(), max_bytes=1 << 30).TYPE == "bound"
            for label, make, code in BAD_INPUTS:
                bad.send(make())
                # The good client keeps getting frames between the bad messages.
                assert good.render(bound.neutral).image.shape == (256, 256, 4)
                assert bad.poll(10000), f"{label}: no reply"
                reply = decode(bad.recv(), max_bytes=1 << 30)
                assert isinstance(reply, Error), f"{label}: got {reply.TYPE}"
                assert reply.code == code, f"{label}: expected {code}, got {reply.code} ({reply.message})"
                assert reply.message
        finally:
            bad.close(linger=0)
        after = good.stats().daemon["errors"]
    expected: dict[str, int] = {}
    names = {100: "MALFORMED", 101: "UNSUPPORTED_VERSION", 102: "UNKNOWN_TYPE", 103: "INVALID_FIELD",
             104: "BAD_ARRAY", 105: "NON_FINITE", 106: "TOO_LARGE", 200: "NOT_BOUND", 201: "UNKNOWN_CHARACTER",
             202: "UNSUPPORTED"}
    for _, _, code in BAD_INPUTS + [("pose before bind", None, 200)]:
        expected[names[code]] = expected.get(names[code], 0) + 1
    for name, n in expected.items():
        assert after.get(name, 0) - before.get(name, 0) == n, f"{name} counter"


def test_error_replies_refer_to_the_pose_seq(daemon):
    with Client(daemon.endpoint) as client:
        bound = client.bind("default")
        bad = bound.neutral.copy()
        bad[10, 0] = np.inf
        client.send_pose(bad, seq=41)
        with pytest.raises(FacecastError) as info:
            client.recv_frame()
        assert info.value.code == 105 and info.value.seq == 41 and info.value.ref == "pose"
        assert client.render(bound.neutral).seq > 41  # the session carries on


def test_req_socket_client_in_lockstep(daemon):
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.connect(daemon.endpoint)
    try:
        def call(msg):
            sock.send(encode(msg))
            assert sock.poll(10000)
            return decode(sock.recv(), max_bytes=1 << 30)

        assert call(Hello(client="req-test")).TYPE == "welcome"
        bound = call(Bind(character="mona_lisa", width=128, height=128, pixel_format="jpeg"))
        assert bound.TYPE == "bound"
        frame = call(Pose(seq=1, t_send=time.time(), landmarks=bound.neutral))
        assert isinstance(frame, Frame) and frame.pixel_format == "jpeg" and frame.data[:2] == b"\xff\xd8"
    finally:
        sock.close(linger=0)


def test_pixel_formats_agree(daemon):
    with Client(daemon.endpoint) as client:
        images = {}
        for fmt in ("rgba8", "rgb8", "bgra8", "png", "jpeg"):
            bound = client.bind("pearl_earring", width=128, height=96, pixel_format=fmt)
            images[fmt] = client.render(bound.neutral).image
    rgba = images["rgba8"]
    assert rgba.shape == (96, 128, 4)
    np.testing.assert_array_equal(images["rgb8"], rgba[..., :3])
    np.testing.assert_array_equal(images["bgra8"][..., [2, 1, 0, 3]], rgba)
    np.testing.assert_array_equal(images["png"], rgba)
    assert np.abs(images["jpeg"].astype(float) - rgba[..., :3]).mean() < 4.0


def test_control_messages(daemon, full_store):
    with Client(daemon.endpoint) as client:
        welcome = client.hello()
        assert "mediapipe478" in welcome.capabilities["landmark_formats"]
        assert welcome.limits["max_message_bytes"] == 4 << 20
        assert sorted(client.characters()) == sorted(full_store.names())
        pong = client.ping()
        assert pong.t_server >= pong.t_send
        bound = client.bind("cartoon_boy", width=64, height=64)
        from facecast.core.topology import to_ibug68

        frame = client.render(to_ibug68(bound.neutral), landmark_format="ibug68")
        assert frame.image.shape == (64, 64, 4)
        stats = client.stats()
        assert stats.session["counters"]["frames"] == 1 and stats.daemon["sessions"] >= 1
        client.bye()
        with pytest.raises(FacecastError) as info:
            client.render(bound.neutral)  # the session is gone: a new one, unbound
        assert info.value.code == 200


def test_broken_character_on_disk_is_an_internal_error_not_a_crash(full_store, tmp_path):
    import shutil

    from tests.integration.daemon_process import start_daemon

    store = tmp_path / "store"
    shutil.copytree(full_store.root / "default", store / "default")
    (store / "broken").mkdir()
    (store / "broken" / "manifest.json").write_text("{not json")
    d = start_daemon(tmp_path, store)
    try:
        with Client(d.endpoint) as client:
            with pytest.raises(FacecastError) as info:
                client.bind("broken")
            assert info.value.code == 501 and info.value.name == "INTERNAL"
            bound = client.bind("default")
            assert client.render(bound.neutral).image.shape == (256, 256, 4)
            assert client.stats().daemon["errors"]["INTERNAL"] == 1
    finally:
        assert d.stop() == 0


class _SlowCopy(CopyRenderer):
    """The copy renderer, slowed down so a render is surely in flight when bye arrives."""

    def render(self, batch):
        time.sleep(0.5)
        return super().render(batch)


def test_frames_for_an_ended_session_do_not_reach_its_successor(full_store):
    daemon = Daemon(AppConfig(server=ServerConfig(bind="tcp://127.0.0.1:0")), full_store, renderer=_SlowCopy())
    endpoint = daemon.start_in_thread()
    try:
        with Client(endpoint) as client:
            bound = client.bind("default")
            client.send_pose(bound.neutral, seq=7)
            time.sleep(0.1)  # seq 7 is rendering now
            client.bye()
            client.bind("mona_lisa", width=64, height=64)
            frame = client.render(client.binding.neutral)  # seq 8
            assert frame.seq == 8 and frame.message.character == "mona_lisa"
            assert not any(m.TYPE == "frame" for m in client._inbox), "the old session's frame leaked"
            assert client.stats().daemon["counters"]["frames_orphaned"] == 1
    finally:
        daemon.stop()
        daemon.join(10)


def test_frames_carry_the_head_matte_as_alpha(daemon):
    with Client(daemon.endpoint) as client:
        for name in ("default", "bw_portrait"):
            bound = client.bind(name, width=256, height=256, pixel_format="rgba8")
            alpha = client.render(bound.neutral).image[..., 3]
            nose = (bound.neutral[1, :2] * 256).astype(int)
            assert alpha[nose[1], nose[0]] == 255, f"{name}: face must be opaque"
            assert alpha[:8, :8].max() == 0 and alpha[:8, -8:].max() == 0, f"{name}: corners transparent"
            assert 0.1 < (alpha > 128).mean() < 0.9


def test_render_accepts_the_frame_of_any_of_its_resends_when_renders_outlast_retry_s(full_store):
    """Issue 12 #6: with renders slower than ``retry_s``, ``render`` used to re-send under a
    new seq every ``retry_s`` and wait only for the newest, while the daemon (latest-wins)
    rendered older copies: no call ever returned. Any frame of the call's poses will do."""
    daemon = Daemon(AppConfig(server=ServerConfig(bind="tcp://127.0.0.1:0")), full_store, renderer=_SlowCopy())
    endpoint = daemon.start_in_thread()
    try:
        with Client(endpoint, timeout_s=20, retry_s=0.2) as client:
            bound = client.bind("default", width=64, height=64)
            seqs = []
            for _ in range(4):
                first = client._seq + 1
                frame = client.render(bound.neutral)
                assert frame.seq >= first  # one of this call's own poses, never an older call's
                seqs.append(frame.seq)
            assert seqs == sorted(seqs) and len(set(seqs)) == 4
    finally:
        daemon.stop()
        daemon.join(10)


def test_send_pose_never_blocks_while_the_daemon_is_down_and_works_once_it_is_up(full_store, tmp_path):
    """Issue 12 #7: with no daemon listening, ``send_pose`` blocked forever once ~1000 poses
    filled the send queue. Now excess poses are dropped and counted; when the daemon comes
    up on that endpoint the same client binds and renders. (An ipc endpoint: a client
    reconnecting to a free TCP port for seconds can end up connected to itself.)"""
    import threading

    endpoint = f"ipc://{tmp_path}/facecast.sock"
    neutral = full_store.load("default").neutral
    with Client(endpoint, timeout_s=20) as client:
        done = threading.Event()

        def flood() -> None:
            for _ in range(3000):
                client.send_pose(neutral)
            done.set()

        threading.Thread(target=flood, daemon=True).start()
        assert done.wait(30), "send_pose blocked while the daemon was down"
        assert client.poses_dropped >= 1000  # the queue holds at most SNDHWM (1000) of them
        # The 1000 queued poses arrive at once when it comes up: no rate limit for this test.
        daemon = Daemon(AppConfig(server=ServerConfig(bind=endpoint, max_poses_per_second=0)), full_store)
        daemon.start_in_thread()
        try:
            bound = client.bind("default", width=64, height=64)
            assert client.render(bound.neutral).image.shape == (64, 64, 4)
        finally:
            daemon.stop()
            daemon.join(10)
