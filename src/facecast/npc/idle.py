"""Idle life, one frame at a time: blinks with natural timing, breathing, head sway and
gaze saccades. Deterministic given a seed; stepping it is O(1) per frame, so a daemon can
run it for as long as a session lives.

Timing, from the eye-movement literature (rounded):
- spontaneous blinks: 15-20 per minute at rest; intervals are skewed (gamma, shape 2.5,
  floor 0.8 s) and about 1 in 10 blinks is doubled; a blink closes in ~80 ms, stays shut
  ~30 ms and reopens in ~170 ms;
- breathing: 12-18 breaths per minute;
- saccades: fixations of 0.3-2.5 s, each jump a few degrees, done within ~40 ms, biased
  back towards the listener (the centre);
- head sway: a sum of slow, incommensurate sines (0.05-0.35 Hz) a few degrees wide, so
  the head never settles and never repeats visibly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLINK_CLOSE_S, BLINK_HOLD_S, BLINK_OPEN_S = 0.08, 0.03, 0.17
BLINK_S = BLINK_CLOSE_S + BLINK_HOLD_S + BLINK_OPEN_S
SACCADE_S = 0.04


@dataclass(frozen=True)
class IdleState:
    blink: float  # 0 open .. 1 shut
    yaw: float  # radians
    pitch: float
    roll: float
    rise: float  # breathing: fraction of the face height the head is lifted
    gaze_x: float  # -1 .. 1
    gaze_y: float


def blink_shape(dt: float) -> float:
    """Lid closure ``dt`` seconds after a blink starts: fast close, short hold, slow open."""
    if dt < 0.0 or dt >= BLINK_S:
        return 0.0
    if dt < BLINK_CLOSE_S:
        x = dt / BLINK_CLOSE_S
        return x * x * (3.0 - 2.0 * x)
    if dt < BLINK_CLOSE_S + BLINK_HOLD_S:
        return 1.0
    x = (dt - BLINK_CLOSE_S - BLINK_HOLD_S) / BLINK_OPEN_S
    return 1.0 - x * x * (3.0 - 2.0 * x)


class IdleMotion:
    """Step it once per frame (``step(dt)``); ``blinks_per_minute`` is the mean rate."""

    def __init__(self, seed: int = 0, blinks_per_minute: float = 17.0) -> None:
        if not 0.0 < blinks_per_minute <= 60.0:
            raise ValueError(f"blinks_per_minute must be in (0, 60], got {blinks_per_minute}")
        self.rng = np.random.default_rng(seed)
        self.blinks_per_minute = blinks_per_minute
        self.t = 0.0
        self.blinks: list[float] = []  # start times of blinks still in progress or to come
        self._next_blink = self.rng.uniform(0.3, 2.0)
        self.blink_starts = 0  # blinks begun so far
        self.breath_hz = self.rng.uniform(12.0, 18.0) / 60.0
        self.breath_phase = self.rng.uniform(0, 2 * np.pi)
        # (frequency Hz, phase, amplitude rad) per axis: three incommensurate sines each.
        self.sway = {axis: [(self.rng.uniform(0.05, 0.35), self.rng.uniform(0, 2 * np.pi),
                             np.deg2rad(amp) * self.rng.uniform(0.5, 1.0)) for _ in range(3)]
                     for axis, amp in (("yaw", 2.2), ("pitch", 1.4), ("roll", 1.0))}
        self.gaze_from = np.zeros(2)
        self.gaze_to = np.zeros(2)
        self.saccade_at = 0.0
        self._next_saccade = self.rng.uniform(0.3, 1.5)

    def _interval(self, rate_factor: float) -> float:
        mean = 60.0 / (self.blinks_per_minute * max(rate_factor, 0.05))
        return max(0.8, float(self.rng.gamma(2.5, mean / 2.5)))

    def step(self, dt: float, sway: float = 1.0, blink_rate: float = 1.0) -> IdleState:
        """Advance by ``dt`` seconds and return the state at the new time. ``sway`` and
        ``blink_rate`` scale the head motion and the blink rate (emotions)."""
        self.t += dt
        t = self.t
        while self._next_blink <= t:
            self.blinks.append(self._next_blink)
            self.blink_starts += 1
            if self.rng.random() < 0.1:  # a double blink
                self.blinks.append(self._next_blink + BLINK_S + self.rng.uniform(0.05, 0.15))
                self.blink_starts += 1
                self._next_blink = self.blinks[-1]
            self._next_blink += self._interval(blink_rate)
        self.blinks = [b for b in self.blinks if t - b < BLINK_S]
        blink = max((blink_shape(t - b) for b in self.blinks), default=0.0)
        while self._next_saccade <= t:
            self.gaze_from = self._gaze(self._next_saccade)
            target = self.rng.normal(0.0, (0.35, 0.2))
            if self.rng.random() < 0.4:  # back to the listener
                target *= 0.2
            self.gaze_to = np.clip(target, -0.8, 0.8)
            self.saccade_at = self._next_saccade
            self._next_saccade += float(np.clip(self.rng.exponential(0.9), 0.3, 2.5))
        gx, gy = self._gaze(t)
        angles = {axis: sway * sum(a * np.sin(2 * np.pi * f * t + ph) for f, ph, a in waves)
                  for axis, waves in self.sway.items()}
        breath = np.sin(2 * np.pi * self.breath_hz * t + self.breath_phase)
        return IdleState(blink=blink, yaw=float(angles["yaw"]),
                         pitch=float(angles["pitch"] + np.deg2rad(0.5) * breath),
                         roll=float(angles["roll"]), rise=float(0.003 * breath), gaze_x=float(gx), gaze_y=float(gy))

    def _gaze(self, t: float) -> np.ndarray:
        x = np.clip((t - self.saccade_at) / SACCADE_S, 0.0, 1.0)
        return self.gaze_from + (self.gaze_to - self.gaze_from) * x
