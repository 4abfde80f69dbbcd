"""VMC messages -> ARKit weights and head pose: names in every casing seen in the wild,
VRM presets, perfect-sync precedence, the Head bone, and real OSC bytes."""

from __future__ import annotations

import numpy as np
import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from facecast.capture.vmc import (
    ADDRESS_BLEND_APPLY,
    ADDRESS_BLEND_VAL,
    ADDRESS_BONE_POS,
    VRM_PRESETS,
    VmcState,
    arkit_index,
    osc_messages,
)
from facecast.protocol import ARKIT_BLENDSHAPES
from facecast.tracking.head_pose import HeadPose


def _w(frame_weights: np.ndarray, name: str) -> float:
    return float(frame_weights[ARKIT_BLENDSHAPES.index(name)])


@pytest.mark.parametrize("name", ["eyeBlinkLeft", "EyeBlinkLeft", "eyeblinkleft", "eyeBlink_L",
                                  "EyeBlink_L", "blendShape1.eyeBlinkLeft"])
def test_arkit_names_in_every_casing(name: str) -> None:
    assert arkit_index(name) == ARKIT_BLENDSHAPES.index("eyeBlinkLeft")


def test_every_arkit_name_maps_to_itself_and_unknowns_do_not() -> None:
    for i, name in enumerate(ARKIT_BLENDSHAPES):
        assert arkit_index(name) == i
        assert arkit_index(name[0].upper() + name[1:]) == i
    for name in ("Joy", "A", "", "jaw", "eyeBlink", "x_L"):
        assert arkit_index(name) is None


def test_vrm_presets_only_name_arkit_weights() -> None:
    for preset, mix in VRM_PRESETS.items():
        assert set(mix) <= set(ARKIT_BLENDSHAPES), preset
        assert all(0.0 < v <= 1.0 for v in mix.values()), preset


def test_values_accumulate_until_apply_and_persist() -> None:
    s = VmcState()
    assert s.handle(ADDRESS_BLEND_VAL, ["A", 1.0]) is None
    assert s.handle(ADDRESS_BLEND_VAL, ["Blink_L", 0.5]) is None
    frame = s.handle(ADDRESS_BLEND_APPLY, [])
    assert frame is not None and frame.head is None
    assert _w(frame.weights, "jawOpen") == pytest.approx(VRM_PRESETS["a"]["jawOpen"])
    assert _w(frame.weights, "eyeBlinkLeft") == pytest.approx(0.5)
    assert _w(frame.weights, "eyeBlinkRight") == 0.0
    # Values persist until changed; "Blink" adds to both eyes; sums clip at 1.
    s.handle(ADDRESS_BLEND_VAL, ["Blink", 0.8])
    again = s.handle(ADDRESS_BLEND_APPLY, [])
    assert _w(again.weights, "jawOpen") == pytest.approx(VRM_PRESETS["a"]["jawOpen"])
    assert _w(again.weights, "eyeBlinkLeft") == 1.0
    assert _w(again.weights, "eyeBlinkRight") == pytest.approx(0.8)
    assert s.applies == 2


def test_perfect_sync_names_take_over_from_vrm_presets() -> None:
    s = VmcState()
    s.handle(ADDRESS_BLEND_VAL, ["Joy", 1.0])
    assert _w(s.handle(ADDRESS_BLEND_APPLY, []).weights, "mouthSmileLeft") > 0.5
    s.handle(ADDRESS_BLEND_VAL, ["MouthSmileLeft", 0.25])
    frame = s.handle(ADDRESS_BLEND_APPLY, [])
    assert _w(frame.weights, "mouthSmileLeft") == pytest.approx(0.25)
    assert _w(frame.weights, "mouthSmileRight") == 0.0  # Joy no longer counts


def test_unknown_and_malformed_are_counted_not_applied() -> None:
    s = VmcState()
    s.handle(ADDRESS_BLEND_VAL, ["Wink_Special", 1.0])
    s.handle(ADDRESS_BLEND_VAL, ["Wink_Special", 1.0])
    s.handle(ADDRESS_BLEND_VAL, ["jawOpen"])  # no value
    s.handle(ADDRESS_BLEND_VAL, ["jawOpen", float("nan")])
    s.handle(ADDRESS_BLEND_VAL, [3, 1.0])
    s.handle(ADDRESS_BONE_POS, ["Head", 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])  # zero quaternion
    s.handle("/VMC/Ext/Root/Pos", ["root", 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    assert s.unknown_names == {"Wink_Special": 2}
    assert s.bad_messages == 4
    assert s.ignored_addresses == {"/VMC/Ext/Root/Pos": 1}
    frame = s.handle(ADDRESS_BLEND_APPLY, [])
    assert not frame.weights.any() and frame.head is None


def test_head_bone_quaternion_becomes_yaw_pitch_roll() -> None:
    pose = HeadPose(yaw=0.3, pitch=-0.2, roll=0.1)
    # Unity's Quaternion.Euler(pitch, yaw, roll) = q_yaw * q_pitch * q_roll.
    def q(axis: int, a: float) -> np.ndarray:
        out = np.zeros(4)
        out[axis], out[3] = np.sin(a / 2), np.cos(a / 2)
        return out

    def mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        av, aw, bv, bw = a[:3], a[3], b[:3], b[3]
        return np.concatenate([aw * bv + bw * av + np.cross(av, bv), [aw * bw - av @ bv]])

    quat = mul(mul(q(1, pose.yaw), q(0, pose.pitch)), q(2, pose.roll))
    s = VmcState()
    s.handle(ADDRESS_BONE_POS, ["Neck", 0.0, 1.5, 0.0, 0.0, 0.0, 0.0, 1.0])  # other bones: ignored
    s.handle(ADDRESS_BONE_POS, ["Head", 0.0, 1.6, 0.0, *quat])
    head = s.handle(ADDRESS_BLEND_APPLY, []).head
    assert (head.yaw, head.pitch, head.roll) == pytest.approx((0.3, -0.2, 0.1), abs=1e-6)
    no_head = VmcState(use_head=False)
    no_head.handle(ADDRESS_BONE_POS, ["Head", 0.0, 1.6, 0.0, *quat])
    assert no_head.handle(ADDRESS_BLEND_APPLY, []).head is None


def test_real_osc_bytes_and_bundles_parse() -> None:
    msg = OscMessageBuilder(ADDRESS_BLEND_VAL)
    msg.add_arg("jawOpen")
    msg.add_arg(0.75)
    bundle = OscBundleBuilder(IMMEDIATELY)
    bundle.add_content(msg.build())
    bundle.add_content(OscMessageBuilder(ADDRESS_BLEND_APPLY).build())
    got = list(osc_messages(bundle.build().dgram))
    assert got[0][0] == ADDRESS_BLEND_VAL and got[0][1][0] == "jawOpen"
    assert got[0][1][1] == pytest.approx(0.75)
    assert got[1] == (ADDRESS_BLEND_APPLY, [])
    with pytest.raises(ValueError):
        list(osc_messages(b"not osc at all"))
