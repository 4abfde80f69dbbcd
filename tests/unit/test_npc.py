"""The NPC generator (facecast.npc) on a real character's neutral face: blink timing, idle
motion that never freezes, emotions, determinism, and lip flap that streams exactly like
a whole file."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from facecast.core import topology as topo
from facecast.npc import EMOTIONS, LipFlap, NpcAnimator, read_wav


@pytest.fixture(scope="module")
def neutral(default_store) -> np.ndarray:
    return default_store.load("default").neutral


def _eye_gap(p: np.ndarray) -> float:
    return float((p[list(topo.MP_RIGHT_LOWER_LID), 1] - p[list(topo.MP_RIGHT_UPPER_LID), 1]).mean())


def _closures(points: np.ndarray, open_gap: float) -> np.ndarray:
    """Frame indices where the eye goes from open to below 40 % of its open gap."""
    shut = np.array([_eye_gap(p) for p in points]) < 0.4 * open_gap
    return np.flatnonzero(shut[1:] & ~shut[:-1]) + 1


def test_blinks_come_at_a_natural_rate_with_natural_irregularity(neutral):
    # People blink 15-20 times a minute at rest (range ~8-30), at irregular intervals.
    fps, minutes = 30.0, 10.0
    npc = NpcAnimator(neutral, fps=fps, seed=3)
    points = np.stack([f.landmarks for f in npc.performance(minutes * 60.0)])
    closures = _closures(points, _eye_gap(neutral))
    rate = len(closures) / minutes
    assert 12.0 <= rate <= 24.0, rate
    assert len(closures) == npc.idle.blink_starts  # every blink is seen shut in at least one frame
    intervals = np.diff(closures) / fps
    assert intervals.std() / intervals.mean() > 0.3, "blinks must not be metronomic"
    assert 0.1 < intervals.min() < 0.8, "some double blinks"  # a double blink is < 0.8 s apart


def test_blink_rate_follows_the_knob_and_emotion(neutral):
    def rate(**kw) -> float:
        npc = NpcAnimator(neutral, fps=30.0, seed=5, **kw)
        return len(_closures(np.stack([f.landmarks for f in npc.performance(300.0)]), _eye_gap(neutral))) / 5.0

    assert rate(blinks_per_minute=30.0) > 1.4 * rate(blinks_per_minute=15.0)
    assert rate(emotion="surprised") < 0.75 * rate(emotion="neutral")  # staring


def test_idle_motion_never_freezes(neutral):
    npc = NpcAnimator(neutral, fps=30.0, seed=1)
    points = np.stack([f.landmarks for f in npc.performance(120.0)])
    step = np.abs(np.diff(points[..., :2], axis=0)).max(axis=(1, 2))  # largest landmark move per frame
    assert step.min() > 2e-5, "some frame pair does not move at all"  # 2e-5 of the image: visible sub-pixel motion
    # ... and it wanders: the nose tip covers a few pixels over time, not a fixed loop of one
    nose = points[:, topo.MP_NOSE_TIP, :2]
    assert np.ptp(nose[:, 0]) > 0.01
    first, second = nose[:1800], nose[1800:]
    assert np.abs(first - second).max() > 0.003, "the motion repeats exactly after a minute"


def test_same_seed_same_frames_other_seed_other_frames(neutral):
    a = np.stack([f.landmarks for f in NpcAnimator(neutral, seed=7).performance(5.0)])
    b = np.stack([f.landmarks for f in NpcAnimator(neutral, seed=7).performance(5.0)])
    c = np.stack([f.landmarks for f in NpcAnimator(neutral, seed=8).performance(5.0)])
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_emotions_move_the_face_their_way(neutral):
    def held(emotion: str) -> np.ndarray:  # average over 3 s: idle motion averages out
        return np.stack([f.landmarks for f in NpcAnimator(neutral, seed=2, emotion=emotion).performance(3.0)]).mean(0)

    faces = {name: held(name) for name in EMOTIONS}
    brow = list(topo.MP_RIGHT_EYEBROW) + list(topo.MP_LEFT_EYEBROW)
    brow_y = {k: f[brow, 1].mean() - f[topo.MP_NOSE_TIP, 1] for k, f in faces.items()}
    corners_y = {k: f[list(topo.MP_MOUTH_CORNERS), 1].mean() - f[topo.MP_UPPER_LIP_CENTER, 1] for k, f in faces.items()}
    assert brow_y["surprised"] < brow_y["neutral"] < brow_y["angry"]  # y grows downwards
    assert corners_y["happy"] < corners_y["neutral"] < corners_y["sad"]
    assert _eye_gap(faces["surprised"]) > _eye_gap(faces["neutral"]) > _eye_gap(faces["angry"])
    with pytest.raises(ValueError, match="unknown emotion 'bored'"):
        NpcAnimator(neutral, emotion="bored")


def test_emotion_change_eases_instead_of_jumping(neutral):
    npc = NpcAnimator(neutral, seed=4)
    before = npc.performance(1.0)[-1].landmarks
    npc.set_emotion("surprised")
    after = [f.landmarks for f in npc.performance(1.0)]
    brow = list(topo.MP_RIGHT_EYEBROW)
    steps = np.abs(np.diff([before[brow, 1].mean()] + [p[brow, 1].mean() for p in after]))
    total = abs(after[-1][brow, 1].mean() - before[brow, 1].mean())
    assert total > 0.01 and steps.max() < 0.35 * total


def _speechlike(rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Noise bursts at syllable rate: loud 120 ms, silent 130 ms."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    gate = (np.mod(t, 0.25) < 0.12).astype(np.float32)
    return (0.3 * gate * rng.standard_normal(t.size)).astype(np.float32)


def test_lip_flap_streams_exactly_like_a_whole_file():
    rate, fps = 16000, 30.0
    audio = _speechlike(rate, 3.0)
    whole = LipFlap(rate, fps)
    whole.push(audio)
    expected = [whole.pop() for _ in range(whole.ready())]
    streamed, chunked = [], LipFlap(rate, fps)
    rng = np.random.default_rng(1)
    at = 0
    while at < audio.size:  # chunks of random size, popping whenever frames are ready
        n = int(rng.integers(1, 2000))
        chunked.push((audio[at:at + n] * 32767).astype(np.int16))
        at += n
        streamed += [chunked.pop() for _ in range(chunked.ready())]
        assert chunked.buffer.size < chunked.window + 2000 + 2 * chunked.hop  # nothing piles up
    assert len(streamed) == len(expected) == 90
    np.testing.assert_allclose([s.open for s in streamed], [e.open for e in expected], atol=2e-3)
    opens = np.array([e.open for e in expected])
    assert opens.max() > 0.9 and opens.min() < 0.2  # bursts open the mouth, 130 ms gaps all but close it


def test_mouth_closes_when_the_audio_runs_dry(neutral):
    npc = NpcAnimator(neutral, fps=30.0)
    npc.start_audio(16000)
    npc.push_audio(_speechlike(16000, 0.5) * 0 + 0.3 * np.sin(np.arange(8000) / 3.0).astype(np.float32))
    frames = npc.performance(1.0)
    opens = [f.mouth.open for f in frames]
    assert max(opens[:15]) > 0.8 and opens[-1] < 0.01


def test_read_wav_formats_and_refusals(tmp_path: Path):
    path = tmp_path / "stereo8.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2), w.setsampwidth(1), w.setframerate(8000)
        w.writeframes(np.full(1600, 200, np.uint8).tobytes())
    x, rate = read_wav(path)
    assert rate == 8000 and x.shape == (800,) and abs(x.mean() - 72 / 128) < 1e-6
    with pytest.raises(ValueError, match="more than the 0 s allowed"):
        read_wav(path, max_seconds=0.01)
    (tmp_path / "not.wav").write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(ValueError, match="not a PCM WAV"):
        read_wav(tmp_path / "not.wav")
    with pytest.raises(ValueError, match="sample rate"):
        LipFlap(1000, 30.0)
