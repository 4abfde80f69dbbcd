"""Emotion presets: offsets of the expression rig's controls that an NPC holds while it
idles and talks. Switching presets eases over ``Emotion.ease_s``."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from facecast.protocol import NPC_EMOTIONS


@dataclass(frozen=True)
class Emotion:
    """Rig offsets (``ExpressionRig.pose`` units; angles in degrees) and idle modifiers."""

    brows: float = 0.0  # + raised, - lowered (frown)
    smile: float = 0.0  # + smile, - corners down and in
    lids: float = 0.0  # + lids lowered (tired, sad, angry squint), - eyes wide
    jaw: float = 0.0  # mouth held open a little
    pitch_deg: float = 0.0  # + head down
    sway: float = 1.0  # head sway amplitude factor
    blink_rate: float = 1.0  # blink rate factor

    def mix(self, other: "Emotion", w: float) -> "Emotion":
        """(1 - w) * self + w * other, field by field."""
        return Emotion(**{f.name: (1.0 - w) * getattr(self, f.name) + w * getattr(other, f.name)
                          for f in fields(self)})


EMOTIONS: dict[str, Emotion] = {
    "neutral": Emotion(),
    "happy": Emotion(brows=0.2, smile=0.75, lids=0.1, pitch_deg=-1.5, sway=1.2),
    "angry": Emotion(brows=-0.8, smile=-0.25, lids=0.3, pitch_deg=3.0, sway=0.6, blink_rate=0.7),
    "sad": Emotion(brows=0.3, smile=-0.8, lids=0.3, pitch_deg=3.5, sway=0.7, blink_rate=0.8),
    "surprised": Emotion(brows=1.0, smile=0.0, lids=-0.35, jaw=0.25, pitch_deg=-2.5, sway=0.8, blink_rate=0.5),
}


assert tuple(EMOTIONS) == NPC_EMOTIONS, "the presets are the protocol's emotions, in its order"


def emotion_named(name: str) -> Emotion:
    if name not in EMOTIONS:
        raise ValueError(f"unknown emotion {name!r}; one of {', '.join(EMOTIONS)}")
    return EMOTIONS[name]


def ease(x: float) -> float:
    x = float(np.clip(x, 0.0, 1.0))
    return x * x * (3.0 - 2.0 * x)
