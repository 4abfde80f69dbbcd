"""One NPC: the expression rig on the character's neutral face, driven by idle life, an
emotion preset (eased when it changes) and, while dialogue audio comes in, lip flap."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facecast.npc.emotions import Emotion, ease, emotion_named
from facecast.npc.idle import IdleMotion, IdleState
from facecast.npc.lipflap import LipFlap, MouthShape
from facecast.tracking.procedural import ExpressionRig

EMOTION_EASE_S = 0.4
UNDERRUN_HOLD_S = 0.2  # streamed audio late: hold the mouth this long before closing it


@dataclass(frozen=True)
class NpcFrame:
    landmarks: np.ndarray  # 478 x 3, the character's normalized image coordinates
    idle: IdleState
    mouth: MouthShape | None  # None: no audio (idle)
    t: float  # seconds since the NPC started


class NpcAnimator:
    """``next_frame()`` once per 1/fps seconds. Audio: ``start_audio(rate)`` then
    ``push_audio(pcm)``; frames use it as soon as their hop has arrived and close the
    mouth when it runs dry."""

    def __init__(self, neutral: np.ndarray, fps: float = 30.0, seed: int = 0, emotion: str = "neutral",
                 blinks_per_minute: float = 17.0) -> None:
        if not 1.0 <= fps <= 120.0:
            raise ValueError(f"fps must be 1-120, got {fps}")
        self.rig = ExpressionRig(neutral)
        self.fps = fps
        self.idle = IdleMotion(seed, blinks_per_minute)
        self.emotion_from = self.emotion_to = emotion_named(emotion)
        self.emotion_name = emotion
        self.emotion_since = -EMOTION_EASE_S
        self.lips: LipFlap | None = None
        self.live = False  # streamed audio: hold the mouth through short gaps in delivery
        self.starved = 0  # frames in a row without audio
        self.last_mouth: MouthShape | None = None
        self.talk = 0.0  # smoothed mouth opening, drives speech head motion
        self.frames = 0

    @property
    def t(self) -> float:
        return self.frames / self.fps

    def set_emotion(self, name: str) -> None:
        target = emotion_named(name)
        self.emotion_from = self._emotion()
        self.emotion_to, self.emotion_name, self.emotion_since = target, name, self.t

    def start_audio(self, sample_rate: int, live: bool = False) -> None:
        """A new line of dialogue at ``sample_rate``; audio of the previous one still
        buffered is dropped. ``live``: the audio is streamed, so a frame that finds none
        (it is late) holds the mouth up to ``UNDERRUN_HOLD_S`` before closing it."""
        self.lips = LipFlap(sample_rate, self.fps)
        self.live, self.starved, self.last_mouth = live, 0, None

    def push_audio(self, pcm: np.ndarray) -> None:
        if self.lips is None:
            raise ValueError("push_audio before start_audio")
        self.lips.push(pcm)

    def _emotion(self) -> Emotion:
        return self.emotion_from.mix(self.emotion_to, ease((self.t - self.emotion_since) / EMOTION_EASE_S))

    def next_frame(self) -> NpcFrame:
        e = self._emotion()
        idle = self.idle.step(1.0 / self.fps if self.frames else 0.0, sway=e.sway, blink_rate=e.blink_rate)
        mouth = None
        if self.lips is not None:
            if self.lips.ready() > 0:
                mouth, self.starved = self.lips.pop(), 0
            elif self.live and self.last_mouth is not None and self.starved < UNDERRUN_HOLD_S * self.fps:
                mouth, self.starved = self.last_mouth, self.starved + 1
            else:
                mouth = self.lips.silence()
            self.last_mouth = mouth
        open_, wide = (mouth.open, mouth.wide) if mouth else (0.0, 0.0)
        self.talk += (open_ - self.talk) * 0.15
        # Lids: the emotion's resting lid plus the blink, never past shut.
        blink = min(1.0, e.lids + (1.0 - max(e.lids, 0.0)) * idle.blink)
        points = self.rig.pose(
            blink=blink, jaw=min(1.0, e.jaw + open_ * (1.0 - 0.3 * max(wide, 0.0))),
            brows=e.brows + 0.25 * self.talk, smile=e.smile * (1.0 - 0.5 * open_), wide=0.6 * wide,
            yaw=idle.yaw, pitch=idle.pitch + np.deg2rad(e.pitch_deg) - np.deg2rad(2.0) * self.talk, roll=idle.roll,
            gaze_x=idle.gaze_x, gaze_y=idle.gaze_y, rise=idle.rise)
        frame = NpcFrame(landmarks=points, idle=idle, mouth=mouth, t=self.t)
        self.frames += 1
        return frame

    def performance(self, seconds: float) -> list[NpcFrame]:
        """The next ``seconds`` of frames (a file's worth of audio pushed beforehand)."""
        return [self.next_frame() for _ in range(max(1, int(round(seconds * self.fps))))]
