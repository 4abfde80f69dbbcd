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
from facecast.inference.renderers.base import RenderRequest, create_renderer
from facecast.tracker.procedural import procedural_performance
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
    from facecast.bridge.characters import CharacterStore

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
