"""VMC protocol input (Virtual Motion Capture: OSC over UDP, as sent by VSeeFace,
iFacialMocap/waidayo bridges, VMC4UE, ...): messages -> ARKit-52 weights + head pose.

Messages used (https://protocol.vmc.info/english):

- ``/VMC/Ext/Blend/Val`` (s name, f value): set one blendshape clip's value;
- ``/VMC/Ext/Blend/Apply`` (): the values so far make one frame;
- ``/VMC/Ext/Bone/Pos`` (s name, f px, py, pz, qx, qy, qz, qw): a bone's local pose; only
  ``Head`` is read (its rotation -> yaw/pitch/roll, ``head_pose``). Other bones,
  ``/VMC/Ext/Root/Pos``, ``/VMC/Ext/OK``, ``/VMC/Ext/T`` and the like are ignored.

Names: the 52 ARKit names ("perfect sync"), matched without regard to case
(``eyeBlinkLeft``, ``EyeBlinkLeft``) and also in the ``_L``/``_R`` form (``eyeBlink_L``),
after any ``prefix.`` (``blendShape1.jawOpen``); and the VRM presets (VRM 0.x ``A I U E O
Blink Blink_L Blink_R Joy Angry Sorrow Fun LookUp LookDown LookLeft LookRight``, VRM 1.0
``aa ih ou ee oh blink blinkLeft blinkRight happy angry sad relaxed surprised lookUp ...``),
each a fixed mix of ARKit weights (``VRM_PRESETS``). A sender with perfect-sync clips also
sends VRM presets that its own tracking drives from the same face, so once any ARKit name
has been seen the VRM presets are ignored (they would count the same motion twice).
Values persist until changed (senders may send only what changed); the sum per ARKit
weight is clipped to [0, 1].
"""

from __future__ import annotations

import collections
import logging
import math
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
from pythonosc.osc_packet import OscPacket, ParseError

from facecast.protocol.formats import ARKIT_BLENDSHAPES
from facecast.tracking.head_pose import HeadPose, euler_from_quaternion

log = logging.getLogger(__name__)

ADDRESS_BLEND_VAL = "/VMC/Ext/Blend/Val"
ADDRESS_BLEND_APPLY = "/VMC/Ext/Blend/Apply"
ADDRESS_BONE_POS = "/VMC/Ext/Bone/Pos"
HEAD_BONE = "Head"
DEFAULT_PORT = 39539  # the VMC protocol's usual "performer" port


def _both(stem: str, value: float) -> dict[str, float]:
    return {f"{stem}Left": value, f"{stem}Right": value}


# VRM presets (lower-cased, VRM 0.x and 1.0 names) -> ARKit weights at full strength.
_VISEME_A = {"jawOpen": 0.7, **_both("mouthLowerDown", 0.3)}
_VISEME_I = {"jawOpen": 0.15, **_both("mouthStretch", 0.6), **_both("mouthSmile", 0.2)}
_VISEME_U = {"jawOpen": 0.15, "mouthPucker": 0.8, "mouthFunnel": 0.3}
_VISEME_E = {"jawOpen": 0.35, **_both("mouthStretch", 0.4), **_both("mouthLowerDown", 0.2)}
_VISEME_O = {"jawOpen": 0.45, "mouthFunnel": 0.7, "mouthPucker": 0.2}
_JOY = {**_both("mouthSmile", 0.8), **_both("cheekSquint", 0.5), **_both("eyeSquint", 0.3)}
_ANGRY = {**_both("browDown", 0.8), **_both("mouthFrown", 0.4), **_both("noseSneer", 0.3)}
_SORROW = {"browInnerUp": 0.8, **_both("mouthFrown", 0.6)}
_FUN = {**_both("mouthSmile", 0.5), **_both("cheekSquint", 0.2)}
_SURPRISED = {"browInnerUp": 0.6, **_both("browOuterUp", 0.7), **_both("eyeWide", 0.6), "jawOpen": 0.3}
VRM_PRESETS: dict[str, dict[str, float]] = {
    "a": _VISEME_A, "aa": _VISEME_A,
    "i": _VISEME_I, "ih": _VISEME_I,
    "u": _VISEME_U, "ou": _VISEME_U,
    "e": _VISEME_E, "ee": _VISEME_E,
    "o": _VISEME_O, "oh": _VISEME_O,
    "blink": _both("eyeBlink", 1.0),
    "blink_l": {"eyeBlinkLeft": 1.0}, "blinkleft": {"eyeBlinkLeft": 1.0},
    "blink_r": {"eyeBlinkRight": 1.0}, "blinkright": {"eyeBlinkRight": 1.0},
    "joy": _JOY, "happy": _JOY,
    "angry": _ANGRY,
    "sorrow": _SORROW, "sad": _SORROW,
    "fun": _FUN, "relaxed": _FUN,
    "surprised": _SURPRISED,
    "lookup": _both("eyeLookUp", 1.0),
    "lookdown": _both("eyeLookDown", 1.0),
    # The avatar looks to its own left: the left eye turns out, the right eye in.
    "lookleft": {"eyeLookOutLeft": 1.0, "eyeLookInRight": 1.0},
    "lookright": {"eyeLookInLeft": 1.0, "eyeLookOutRight": 1.0},
    "neutral": {},
}  # fmt: skip

_ARKIT_INDEX = {name.lower(): i for i, name in enumerate(ARKIT_BLENDSHAPES)}
_PRESET_VECTORS = {
    name: np.array([mix.get(n, 0.0) for n in ARKIT_BLENDSHAPES], dtype=np.float64)
    for name, mix in VRM_PRESETS.items()
}


def _canonical(name: str) -> str:
    """Lower-case, without a ``prefix.`` (Unity's ``blendShape1.jawOpen``)."""
    return name.rsplit(".", 1)[-1].strip().lower()


def arkit_index(name: str) -> int | None:
    """Index of an ARKit name in the protocol's order, in any casing, ``_L``/``_R`` form
    or with a ``prefix.``; None if it is not one."""
    key = _canonical(name)
    if key in _ARKIT_INDEX:
        return _ARKIT_INDEX[key]
    for suffix, side in (("_l", "left"), ("_r", "right")):
        if key.endswith(suffix):
            return _ARKIT_INDEX.get(key[: -len(suffix)] + side)
    return None


@dataclass(frozen=True)
class VmcFrame:
    """One applied VMC frame: 52 ARKit weights in [0, 1], and the head pose if a Head
    bone has been received."""

    weights: np.ndarray
    head: HeadPose | None


def osc_messages(datagram: bytes) -> Iterator[tuple[str, list[Any]]]:
    """(address, arguments) of every OSC message in a datagram (bundles unpacked).
    Raises ValueError for a datagram that is not OSC."""
    try:
        packet = OscPacket(datagram)
    except ParseError as exc:
        raise ValueError(f"not an OSC packet: {exc}") from None
    for timed in packet.messages:
        yield timed.message.address, list(timed.message.params)


class VmcState:
    """Accumulates VMC messages; ``handle`` returns a ``VmcFrame`` on every Apply."""

    def __init__(self, use_head: bool = True) -> None:
        self.use_head = use_head
        self.values: dict[str, float] = {}  # canonical name -> latest value
        self.head: HeadPose | None = None
        self.perfect_sync = False  # an ARKit name has been seen: VRM presets are ignored
        self.unknown_names: collections.Counter[str] = collections.Counter()
        self.ignored_addresses: collections.Counter[str] = collections.Counter()
        self.bad_messages = 0
        self.applies = 0

    def handle(self, address: str, args: list[Any]) -> VmcFrame | None:
        """Take one message; returns the frame when it is an Apply."""
        if address == ADDRESS_BLEND_VAL:
            self._blend_val(args)
        elif address == ADDRESS_BLEND_APPLY:
            self.applies += 1
            return VmcFrame(self.weights(), self.head)
        elif address == ADDRESS_BONE_POS:
            self._bone_pos(args)
        else:
            self.ignored_addresses[address] += 1
        return None

    def _blend_val(self, args: list[Any]) -> None:
        if len(args) < 2 or not isinstance(args[0], str) or not _is_number(args[1]):
            self.bad_messages += 1
            return
        name, value = _canonical(args[0]), float(args[1])
        if not math.isfinite(value):
            self.bad_messages += 1
            return
        if arkit_index(name) is not None:
            self.perfect_sync = True
        elif name not in VRM_PRESETS:
            if name not in self.unknown_names:
                log.debug("unknown blendshape name %r", args[0])
            self.unknown_names[args[0]] += 1
            return
        self.values[name] = value

    def _bone_pos(self, args: list[Any]) -> None:
        if not args or args[0] != HEAD_BONE or not self.use_head:
            return
        if len(args) < 8 or not all(_is_number(a) for a in args[1:8]):
            self.bad_messages += 1
            return
        try:
            self.head = euler_from_quaternion(*(float(a) for a in args[4:8]))
        except ValueError:  # zero or non-finite quaternion
            self.bad_messages += 1

    def weights(self) -> np.ndarray:
        """(52,) float32 ARKit weights of the current values, clipped to [0, 1]."""
        out = np.zeros(len(ARKIT_BLENDSHAPES), dtype=np.float64)
        for name, value in self.values.items():
            index = arkit_index(name)
            if index is not None:
                out[index] += value
            elif not self.perfect_sync:
                out += value * _PRESET_VECTORS[name]
        return np.clip(out, 0.0, 1.0).astype(np.float32)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
