"""NPC portraits: a character that lives without a performer. Idle life (blinks, breathing,
head sway, saccades), emotion presets and lip flap from dialogue audio, generated as
landmarks on the character's own neutral face, deterministic given a seed (docs/npc.md).

Pure numpy (and the standard library's ``wave``): the daemon runs it for NPC sessions and
``facecast npc`` runs it client-side."""

from facecast.npc.animator import NpcAnimator, NpcFrame
from facecast.npc.emotions import EMOTIONS, Emotion
from facecast.npc.idle import IdleMotion, IdleState
from facecast.npc.lipflap import LipFlap, MouthShape, read_wav

__all__ = ["EMOTIONS", "Emotion", "IdleMotion", "IdleState", "LipFlap", "MouthShape", "NpcAnimator", "NpcFrame",
           "read_wav"]
