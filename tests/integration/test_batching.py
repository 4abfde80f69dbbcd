"""Dynamic batching across sessions in the real daemon (a subprocess, real ZeroMQ), for the
warp and the neural renderer: several clients, each bound to a different character, send
poses at the same moment so the render thread batches them together.

What proves that batches really mixed characters: the daemon's ``batch_sizes`` histogram
(``stats``). A batch holds at most one pose per session (latest-wins), and here every
session has its own character, so a batch of n >= 2 poses held n different characters.

What proves each client got its own frames: every frame carries the client's character,
seqs rise, and the pixels equal what the same renderer gives for that character and that
pose rendered alone in this process (one by one), within a small tolerance. In one round
all clients send the *same* landmarks: their frames must still differ (each character's
own face), which a mix-up between sessions in a batch would break.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facecast.client import Client, ReceivedFrame
from facecast.render.base import RenderRequest, create_renderer
from facecast.tracking.procedural import procedural_performance
from tests.integration.daemon_process import start_daemon

ROUNDS = 12
SAME_POSE_ROUND = 3  # in this round every client sends the first client's neutral landmarks


@dataclass
class Case:
    renderer: str
    names: list[str]
    size: int
    max_abs_diff: int  # uint8 levels between a batched frame and the one-by-one render
    max_mean_diff: float
    apart_mean: float  # least mean difference between two characters' frames for the same landmarks


CASES = {
    "warp": Case("warp", ["default", "mona_lisa", "pearl_earring", "bw_portrait"], 128, 1, 0.01, 5.0),
    # Batched convolutions may sum in another order than batch 1: tiny float differences.
    # A random-weight generator draws every character as a faint pattern, so the characters'
    # frames differ less than photos do; still several times the batched-vs-alone tolerance.
    "neural": Case("neural", ["default", "mona_lisa", "bw_portrait"], 96, 2, 0.01, 1.0),
}


def _drive(endpoint: str, case: Case) -> tuple[dict[str, list[ReceivedFrame]], dict[str, dict[int, np.ndarray]],
                                                  dict[str, Any]]:
    """Each round, every client sends two poses back to back (the first may be superseded
    by the second), then reads until the second's frame is in. Returns each client's
    frames, the landmarks it sent by seq, and the daemon's stats at the end."""
    clients = [Client(endpoint, timeout_s=120) for _ in case.names]
    frames: dict[str, list[ReceivedFrame]] = {n: [] for n in case.names}
    sent: dict[str, dict[int, np.ndarray]] = {n: {} for n in case.names}
    try:
        poses = {}
        for client, name in zip(clients, case.names):
            bound = client.bind(name, width=case.size, height=case.size, pixel_format="rgba8")
            poses[name] = procedural_performance(bound.neutral, seconds=2.0, fps=2 * ROUNDS / 2.0)
        shared = clients[0].binding.neutral.astype(np.float32)
        for rnd in range(ROUNDS):
            for client, name in zip(clients, case.names):
                for k in range(2):
                    seq = 1 + 2 * rnd + k
                    pose = shared if rnd == SAME_POSE_ROUND else poses[name][2 * rnd + k]
                    sent[name][seq] = np.asarray(pose, np.float32)
                    client.send_pose(pose, seq=seq)
            for client, name in zip(clients, case.names):
                last = 2 + 2 * rnd
                while not frames[name] or frames[name][-1].seq != last:
                    frames[name].append(client.recv_frame(timeout_s=120))
        daemon = clients[0].stats().daemon
    finally:
        for c in clients:
            c.close()
    return frames, sent, daemon


def _one_by_one(case: Case, store_root: Path, renderer_options: dict[str, Any],
                wanted: dict[str, dict[int, np.ndarray]]) -> dict[str, dict[int, np.ndarray]]:
    """The same renderer in this process, one request per call."""
    from facecast.characters.store import CharacterStore

    store = CharacterStore(store_root)
    renderer = create_renderer(case.renderer, **renderer_options)
    out: dict[str, dict[int, np.ndarray]] = {}
    try:
        for name, by_seq in wanted.items():
            handle = renderer.prepare(store.load(name).assets())
            out[name] = {seq: renderer.render([RenderRequest(handle, lm, "mediapipe478", case.size, case.size)])[0]
                         for seq, lm in by_seq.items()}
    finally:
        renderer.close()
    return out


@pytest.mark.parametrize("renderer", ["warp", "neural"])
def test_batches_mix_characters_and_each_client_gets_its_own_frames_in_order(
        renderer: str, full_store, tiny_checkpoint: Path, tmp_path: Path) -> None:
    case = CASES[renderer]
    args = ["--max-batch", str(len(case.names)), "--max-wait-ms", "100"]
    options: dict[str, Any] = {}
    if renderer == "neural":
        args += ["--checkpoint", str(tiny_checkpoint), "--device", "cpu"]
        options = {"checkpoint": str(tiny_checkpoint), "device": "cpu"}
    else:
        args += ["--renderer", "warp"]
    d = start_daemon(tmp_path, full_store.root, *args)
    try:
        frames, sent, daemon = _drive(d.endpoint, case)
    finally:
        rc = d.stop()
    assert rc == 0, d.log()
    assert "Traceback" not in d.log()

    # Batches held several sessions, hence several characters.
    sizes = {int(k): v for k, v in daemon["batch_sizes"].items()}
    assert max(sizes) <= len(case.names), sizes
    mixed = sum(v for k, v in sizes.items() if k >= 2)
    assert mixed > 0, f"no batch held more than one session (histogram {sizes})"
    assert daemon["counters"]["frames"] == sum(len(f) for f in frames.values())

    # Each client: its own character, rising seqs, every pose either rendered or superseded.
    for name, got in frames.items():
        seqs = [f.seq for f in got]
        assert seqs == sorted(set(seqs)), f"{name}: frames out of order {seqs}"
        assert len(seqs) + sum(f.message.superseded for f in got) == 2 * ROUNDS, name
        for f in got:
            assert f.message.character == name
            assert f.image.shape == (case.size, case.size, 4)

    # The pixels are this character's, for this pose: as rendered alone.
    reference = _one_by_one(case, full_store.root, options, {n: {f.seq: sent[n][f.seq] for f in frames[n]}
                                                                  for n in case.names})
    for name, got in frames.items():
        for f in got:
            diff = np.abs(f.image.astype(np.int16) - reference[name][f.seq].astype(np.int16))
            assert diff.max() <= case.max_abs_diff and diff.mean() <= case.max_mean_diff, (
                f"{name} seq {f.seq}: batched frame differs from the one-by-one render "
                f"(max {diff.max()}, mean {diff.mean():.3f})")

    # The same landmarks give each character its own face.
    same_seq = 2 + 2 * SAME_POSE_ROUND
    same = {n: next(f.image for f in frames[n] if f.seq == same_seq).astype(np.float32) for n in case.names}
    for i, a in enumerate(case.names):
        for b in case.names[i + 1:]:
            apart = np.abs(same[a] - same[b]).mean()
            assert apart > case.apart_mean, f"{a} and {b} look alike ({apart:.2f}) for the same landmarks"


def test_a_failing_pose_in_a_mixed_neural_batch_gets_an_error_and_the_others_their_own_frames(
        full_store, tiny_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The neural renderer behind a fault injector: batches over MAX_BATCH fail as out of
    memory and one poisoned pose per round fails alone. The render worker retries halves:
    the poisoned pose gets RENDER_FAILED, the other characters' poses of the same batch
    get their own frames (as rendered alone), and the daemon goes on serving."""
    from facecast.core.pixels import decode_pixels
    from facecast.protocol import Error, Frame
    from tests.integration.faulty_neural_renderer import CHECKPOINT_ENV
    from tests.integration.faulty_renderer import MAX_BATCH, POISON

    case = CASES["neural"]
    monkeypatch.setenv(CHECKPOINT_ENV, str(tiny_checkpoint))
    d = start_daemon(tmp_path, full_store.root, "--renderer",
                     "tests.integration.faulty_neural_renderer:FaultyNeuralRenderer",
                     "--max-batch", str(len(case.names)), "--max-wait-ms", "100")
    clients = [Client(d.endpoint, timeout_s=120) for _ in case.names]
    rounds = 2 * len(case.names)
    frames: dict[str, dict[int, np.ndarray]] = {n: {} for n in case.names}
    sent: dict[str, dict[int, np.ndarray]] = {n: {} for n in case.names}
    errors = 0
    try:
        neutrals = {n: c.bind(n, width=case.size, height=case.size, pixel_format="rgba8").neutral for c, n in zip(clients, case.names)}
        for rnd in range(rounds + 1):  # the last round has no poisoned pose
            for i, (client, name) in enumerate(zip(clients, case.names)):
                pose = neutrals[name].astype(np.float32).copy()
                pose[13:15, 1] += 0.01 * rnd  # the lips move a little from round to round
                if rnd < rounds and i == rnd % len(case.names):
                    pose[0, 2] = POISON
                sent[name][client.send_pose(pose, seq=rnd + 1)] = pose
            for i, (client, name) in enumerate(zip(clients, case.names)):
                msg = client.recv(timeout_s=120)
                assert getattr(msg, "seq", None) == rnd + 1, msg
                if rnd < rounds and i == rnd % len(case.names):
                    assert isinstance(msg, Error) and msg.code == 500 and "poisoned" in msg.message, msg
                    errors += 1
                else:
                    assert isinstance(msg, Frame) and msg.character == name, msg
                    frames[name][msg.seq] = decode_pixels(msg.data, msg.pixel_format, msg.width, msg.height)
        daemon = clients[0].stats().daemon
    finally:
        for c in clients:
            c.close()
        rc = d.stop()
    assert rc == 0, d.log()
    assert errors == rounds
    assert daemon["counters"]["render_failures"] == errors and daemon["errors"]["RENDER_FAILED"] == errors
    sizes = {int(k): v for k, v in daemon["batch_sizes"].items()}
    assert any(k > MAX_BATCH for k in sizes), f"no batch large enough to fail and be split: {sizes}"
    assert daemon["counters"]["batch_retries"] > 0

    reference = _one_by_one(case, full_store.root, {"checkpoint": str(tiny_checkpoint), "device": "cpu"},
                            {n: {seq: sent[n][seq] for seq in frames[n]} for n in case.names})
    for name in case.names:
        assert len(frames[name]) == rounds + 1 - rounds // len(case.names)
        for seq, image in frames[name].items():
            diff = np.abs(image.astype(np.int16) - reference[name][seq].astype(np.int16))
            assert diff.max() <= case.max_abs_diff and diff.mean() <= case.max_mean_diff, (name, seq, diff.max())
