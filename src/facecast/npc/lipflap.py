"""Lip flap from dialogue audio: PCM in, one mouth shape per video frame out.

Per frame (hop = sample rate / fps samples) a 40 ms Hann window ending at the frame's
last sample gives
- loudness in dBFS, against a running peak (instant attack, 6 dB/s release, floor -20
  dBFS) so a quiet line and a shouted one both use the whole mouth: ``open`` rises from 0
  at peak - 30 dB to 1 at peak - 6 dB, then opens fast (attack 0.7/frame) and closes a little
  slower (0.45/frame), as jaws do;
- the spectral centroid (100 Hz - 8 kHz): bright sounds (ee, s) spread the mouth, dark
  ones (oo, o) round it: ``wide`` in [-1, 1], scaled by ``open``.

Streaming and files share this code: a frame is ready as soon as its hop of audio has
arrived, so the mouth lags the sound by at most one hop (33 ms at 30 fps) plus the time
to render and deliver the frame (docs/npc.md, latency).
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

WINDOW_S = 0.04
MAX_WAV_SECONDS = 600.0


@dataclass(frozen=True)
class MouthShape:
    open: float  # 0 closed .. 1 fully open
    wide: float  # -1 rounded .. 1 spread
    level_db: float  # the window's loudness, dBFS


def read_wav(path: Path, max_seconds: float = MAX_WAV_SECONDS) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate of a PCM WAV file (8/16/32-bit,
    any channel count: channels are averaged). Longer than ``max_seconds`` is refused."""
    try:
        with wave.open(str(path), "rb") as w:
            rate, channels, width, n = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
            if n > max_seconds * rate:
                raise ValueError(f"{path}: {n / rate:.0f} s of audio, more than the {max_seconds:.0f} s allowed")
            raw = w.readframes(n)
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"{path}: not a PCM WAV file ({exc})") from exc
    if width == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 4:
        x = np.frombuffer(raw, "<i4").astype(np.float32) / 2147483648.0
    else:
        raise ValueError(f"{path}: {8 * width}-bit samples are not supported (8, 16 or 32-bit PCM)")
    x = x[: len(x) // channels * channels].reshape(-1, channels).mean(axis=1)
    return x.astype(np.float32), rate


class LipFlap:
    """Push PCM as it comes (``push``); ``pop`` returns the mouth of each frame whose hop
    of audio has fully arrived. ``silence`` answers a frame for which no audio came."""

    def __init__(self, sample_rate: int, fps: float) -> None:
        if not 4000 <= sample_rate <= 96000:
            raise ValueError(f"sample rate must be 4000-96000 Hz, got {sample_rate}")
        self.rate = sample_rate
        self.hop = sample_rate / fps  # samples per frame (fractional: kept exact over time)
        self.window = int(round(WINDOW_S * sample_rate))
        self.hann = np.hanning(self.window).astype(np.float32)
        freqs = np.fft.rfftfreq(self.window, 1.0 / sample_rate)
        self.band = (freqs >= 100.0) & (freqs <= 8000.0)
        self.freqs = freqs[self.band]
        self.buffer = np.zeros(self.window, np.float32)  # silence before the first sample
        self.base = -self.window  # absolute sample index of buffer[0]
        self.received = 0  # samples pushed so far
        self.frames = 0  # frames popped so far
        self.peak_db = -20.0
        self.open = 0.0

    def push(self, pcm: np.ndarray) -> None:
        """Mono samples: int16, or float in [-1, 1]."""
        pcm = np.asarray(pcm)
        x = pcm.astype(np.float32) / 32768.0 if pcm.dtype == np.int16 else pcm.astype(np.float32)
        self.buffer = np.concatenate([self.buffer, x.ravel()])
        self.received += x.size

    def buffered_samples(self) -> int:
        return self.received - int(round(self.frames * self.hop))

    def ready(self) -> int:
        """Frames whose audio has fully arrived and that were not popped yet."""
        return int(self.received / self.hop + 1e-6) - self.frames  # (1e-6: float hop, e.g. 16000 / 30)

    def pop(self) -> MouthShape:
        """The next frame's mouth; call only while ``ready() > 0``."""
        end = int(round((self.frames + 1) * self.hop))  # absolute sample index, exclusive
        x = self.buffer[end - self.window - self.base:end - self.base]
        self.frames += 1
        drop = int(round((self.frames + 1) * self.hop)) - self.window - self.base  # no later window needs these
        if drop > 0:
            self.buffer = self.buffer[drop:]
            self.base += drop
        return self._shape(x)

    def silence(self) -> MouthShape:
        """A frame without audio (a stream that stopped): the mouth closes at its usual pace."""
        return self._shape(np.zeros(self.window, np.float32))

    def _shape(self, x: np.ndarray) -> MouthShape:
        rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
        level = 20.0 * np.log10(max(rms, 1e-6))
        self.peak_db = max(level, self.peak_db - 6.0 * self.hop / self.rate, -20.0)
        target = float(np.clip((level - (self.peak_db - 30.0)) / 24.0, 0.0, 1.0))
        self.open += (target - self.open) * (0.7 if target > self.open else 0.45)
        spectrum = np.abs(np.fft.rfft(x * self.hann))[self.band]
        total = float(spectrum.sum())
        centroid = float((spectrum * self.freqs).sum() / total) if total > 1e-9 else 1800.0
        wide = float(np.clip((centroid - 1800.0) / 1200.0, -1.0, 1.0)) * min(1.0, 2.0 * self.open)
        return MouthShape(open=self.open, wide=wide, level_db=level)
