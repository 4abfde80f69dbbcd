"""NPC sessions through the real daemon (a subprocess, real ZeroMQ): the daemon generates
the poses, lip-syncs streamed PCM, and refuses what a hostile client could use to take
more than its share (chunk size, buffered audio, NPC count), with codes."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from facecast.client import Client, FacecastError
from facecast.core import topology as topo
from facecast.protocol import MAX_AUDIO_CHUNK_BYTES, Audio, ErrorCode, Npc
from tests.integration.daemon_process import start_daemon

RATE = 16000


def _speech_block(seconds: float, seed: int = 0) -> np.ndarray:
    """Syllable-like noise bursts (120 ms on, 130 ms off), int16."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(RATE * seconds)) / RATE
    gate = np.mod(t, 0.25) < 0.12
    return (9000 * gate * rng.standard_normal(t.size)).clip(-32000, 32000).astype(np.int16)


def _error(client: Client, message) -> FacecastError:
    """Send one request that must be refused; return the error the daemon answered."""
    client.send(message)
    while True:
        reply = client.recv(5.0)
        if reply.TYPE == "error" and reply.ref == message.TYPE:
            return FacecastError(reply)


def test_npc_session_gets_frames_without_sending_poses_and_its_mouth_follows_the_audio(default_daemon, model_dir):
    from facecast.capture.landmarks import LandmarkDetector

    audio = np.concatenate([np.zeros(RATE, np.int16), _speech_block(1.0), np.zeros(RATE, np.int16)])
    frames = []
    with Client(default_daemon.endpoint) as client:
        client.hello()
        client.bind("default", width=256, height=256, pixel_format="rgb8")
        state = client.npc(emotion="neutral", fps=30, seed=1)
        assert state.active and state.fps == 30
        client.send_audio(audio, RATE, line=1)  # the whole 3 s line at once: well under the buffer limit
        while not frames or frames[-1].seq < 100:
            frames.append(client.recv_frame(timeout_s=5.0))
        assert client.npc(emotion="surprised").emotion == "surprised"
        assert not client.npc(stop=True).active
        summary = client.stats().session
    seqs = [f.seq for f in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert summary["counters"]["npc_frames"] >= len(frames) and summary["counters"]["audio_chunks"] == 2  # 96 KB
    gap = []
    with LandmarkDetector() as detector:
        for f in frames:
            p = detector.detect(f.image, max_faces=1)[0].points
            gap.append(p[list(topo.MP_LOWER_INNER_LIP), 1].mean() - p[list(topo.MP_UPPER_INNER_LIP), 1].mean())
    gap, seq = np.array(gap), np.array(seqs)
    # A frame's seq is the number of the NPC frame it shows (frames the daemon dropped when
    # it fell behind leave gaps), and audio frame k plays in the k-th NPC frame after the
    # audio arrived (a frame or two after the first): silence in 0-1 s, syllables in 1-2 s,
    # silence in 2-3 s; margins of 5 frames.
    quiet = gap[((seq >= 5) & (seq <= 25)) | ((seq >= 75) & (seq <= 95))]
    talking = gap[(seq >= 37) & (seq <= 57)]
    assert len(quiet) > 10 and len(talking) > 5
    assert talking.max() > quiet.max() + 0.01 and talking.mean() > quiet.mean() + 0.005
    # idle life goes on in silence: consecutive frames differ
    moving = [np.abs(a.image.astype(np.int16) - b.image).mean() for a, b in zip(frames[3:25], frames[4:26])]
    assert min(moving) > 0.0


def test_hostile_npc_input_is_refused_with_codes_and_bounded(default_store, tmp_path: Path):
    d = start_daemon(tmp_path, default_store.root, "--set", "npc.max_sessions=2", "--set", "npc.max_audio_buffer_s=2")
    try:
        with Client(d.endpoint) as a, Client(d.endpoint) as b, Client(d.endpoint) as c:
            for cl in (a, b, c):
                cl.hello()
            assert _error(a, Npc()).code == ErrorCode.NOT_BOUND  # before bind
            assert _error(a, Audio(rate=RATE, pcm=b"\0\0")).code == ErrorCode.NOT_BOUND  # before npc
            for cl in (a, b, c):
                cl.bind("default", width=64, height=64, pixel_format="rgb8")
            assert _error(a, Audio(rate=RATE, pcm=b"\0\0")).code == ErrorCode.NOT_BOUND  # bound, but no npc
            a.npc(), b.npc()
            assert _error(c, Npc()).code == ErrorCode.SESSION_LIMIT  # a third NPC
            assert _error(a, Audio(rate=RATE, pcm=b"\0" * (MAX_AUDIO_CHUNK_BYTES + 2))).code == ErrorCode.TOO_LARGE
            assert _error(a, Audio(rate=RATE, pcm=b"\0" * 3)).code == ErrorCode.INVALID_FIELD
            assert _error(a, Audio(rate=4000, pcm=b"\0\0")).code == ErrorCode.INVALID_FIELD
            assert _error(a, Npc(emotion="smug")).code == ErrorCode.UNSUPPORTED
            # 5 s of audio at once against a 2 s buffer: what fits is taken, the rest refused
            chunk = Audio(rate=RATE, pcm=_speech_block(1.0).tobytes()[:32000], line=3)  # exactly 1 s
            codes = []
            for _ in range(5):
                a.send(chunk)
            deadline = time.monotonic() + 5.0
            while len(codes) < 3 and time.monotonic() < deadline:
                msg = a.recv(5.0)
                if msg.TYPE == "error":
                    codes.append(msg.code)
            assert codes == [ErrorCode.RATE_LIMITED] * 3
            state = a.npc()
            assert state.audio_buffered_ms <= 2000.0
            counters = a.stats().daemon["counters"]
            assert counters["audio_refused"] >= 3
            b.npc(stop=True)
            assert c.npc().active  # a freed NPC place is taken by the next
            assert c.recv_frame(timeout_s=5.0).image.shape == (64, 64, 3)  # and the daemon still serves
    finally:
        assert d.stop() == 0, d.log()


def test_a_listening_npc_outlives_the_silence_timeout_and_a_gone_one_does_not(default_store, tmp_path: Path):
    # An NPC client only receives, so silence must not end its session; a disconnected one
    # (its frames find no peer) is reclaimed as any silent session.
    d = start_daemon(tmp_path, default_store.root, "--set", "server.session_timeout_s=1",
                     "--set", "server.stats_interval_s=0.5")
    try:
        with Client(d.endpoint) as watcher:
            with Client(d.endpoint) as npc:
                npc.hello()
                npc.bind("default", width=32, height=32, pixel_format="rgb8")
                npc.npc(fps=10)
                deadline = time.monotonic() + 3.0
                seqs = []
                while time.monotonic() < deadline:
                    seqs.append(npc.recv_frame(timeout_s=5.0).seq)
                assert seqs[-1] >= 25 and len(seqs) >= 20  # 3 s at 10 fps, never reclaimed
                npc._sock.close(linger=0)  # vanish without bye
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline:
                counters = watcher.stats().daemon["counters"]
                if counters.get("sessions_timed_out", 0) >= 1:
                    break
                time.sleep(0.2)
            assert counters.get("sessions_timed_out", 0) >= 1 and counters.get("replies_dropped_gone", 0) >= 1
    finally:
        assert d.stop() == 0, d.log()
