"""Blendshape poses through the real daemon (subprocess) with the real client: they render
like landmark poses on the character's neutral face; bad weights get coded errors."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest
import zmq

from facecast.core import topology as topo
from facecast.client import Client, FacecastError
from facecast.protocol import ARKIT_BLENDSHAPES, Bind, Error, Pose, decode, encode, pack_array

N = len(ARKIT_BLENDSHAPES)


def _one(name: str, value: float = 1.0) -> np.ndarray:
    w = np.zeros(N, np.float32)
    w[ARKIT_BLENDSHAPES.index(name)] = value
    return w


def _mouth_box(neutral: np.ndarray, size: int) -> tuple[slice, slice]:
    lips = neutral[list(topo.MP_OUTER_LIPS), :2] * size
    (x0, y0), (x1, y1) = lips.min(axis=0), lips.max(axis=0)
    pad = 0.3 * (x1 - x0)
    return slice(int(y0 - pad), int(y1 + 2 * pad)), slice(int(x0 - pad), int(x1 + pad))


def test_blendshape_poses_render_on_the_neutral_face(default_daemon) -> None:
    with Client(default_daemon.endpoint) as client:
        assert "blendshapes" in client.hello().capabilities["inputs"]
        bound = client.bind("default")
        zero = client.render_blendshapes(np.zeros(N, np.float32)).image
        neutral = client.render(bound.neutral).image
        np.testing.assert_array_equal(zero, neutral)  # zero weights are the neutral face
        jaw = client.render_blendshapes(_one("jawOpen")).image
        rows, cols = _mouth_box(bound.neutral, 256)
        diff = np.abs(jaw.astype(np.int16) - zero.astype(np.int16))[..., :3]
        mouth, upper = diff[rows, cols].mean(), diff[: rows.start - 20].mean()
        assert mouth > 8.0, "jawOpen did not change the mouth"
        assert mouth > 4.0 * upper, f"jawOpen changed the upper face as much as the mouth ({mouth:.1f} vs {upper:.1f})"
        turned = client.render_blendshapes(np.zeros(N, np.float32), np.array([0.3, 0.0, 0.0], np.float32)).image
        assert np.abs(turned.astype(np.int16) - zero.astype(np.int16)).mean() > 2.0
        stats = client.stats()
        assert stats.daemon["counters"]["blendshape_poses"] == 3


def _raw(body: dict) -> bytes:
    return msgpack.packb({"v": 1, "type": "pose", **body})


BAD = [  # (label, payload, expected code, seq)
    ("weight above 1", lambda: encode(Pose(seq=11, blendshapes=_one("jawOpen", 1.5))), 103, 11),
    ("negative weight", lambda: encode(Pose(seq=12, blendshapes=_one("eyeBlinkLeft", -0.1))), 103, 12),
    ("NaN weight", lambda: encode(Pose(seq=13, blendshapes=_one("mouthPucker", np.nan))), 105, 13),
    ("head in degrees", lambda: encode(Pose(seq=14, blendshapes=np.zeros(N, np.float32),
                                            head=np.array([30.0, 0.0, 0.0], np.float32))), 103, 14),
    ("51 weights", lambda: _raw({"seq": 15, "blendshapes": pack_array(np.zeros(N - 1, np.float32))}), 104, 15),
    ("head of 2", lambda: _raw({"seq": 16, "blendshapes": pack_array(np.zeros(N, np.float32)),
                                "head": pack_array(np.zeros(2, np.float32))}), 104, 16),
]


def test_bad_weights_get_coded_errors_while_another_client_keeps_rendering(default_daemon) -> None:
    with Client(default_daemon.endpoint) as good:
        bound = good.bind("default")
        before = dict(good.stats().daemon["errors"])
        bad = zmq.Context.instance().socket(zmq.DEALER)
        bad.connect(default_daemon.endpoint)
        try:
            bad.send(encode(Bind(character="default")))
            assert bad.poll(10000) and decode(bad.recv(), max_bytes=1 << 30).TYPE == "bound"
            for label, make, code, seq in BAD:
                bad.send(make())
                assert good.render_blendshapes(_one("jawOpen", 0.5)).image.shape == (256, 256, 4)
                assert bad.poll(10000), f"{label}: no reply"
                reply = decode(bad.recv(), max_bytes=1 << 30)
                assert isinstance(reply, Error), f"{label}: got {reply.TYPE}"
                assert (reply.code, reply.seq) == (code, seq), f"{label}: {reply.code} {reply.message}"
                assert reply.message
        finally:
            bad.close(linger=0)
        after = good.stats().daemon["errors"]
        assert after.get("INVALID_FIELD", 0) - before.get("INVALID_FIELD", 0) == 3
        assert after.get("NON_FINITE", 0) - before.get("NON_FINITE", 0) == 1
        assert after.get("BAD_ARRAY", 0) - before.get("BAD_ARRAY", 0) == 2
        # The good client's own bad pose raises through the client, naming the weight.
        with pytest.raises(FacecastError, match="jawOpen"):
            good.render_blendshapes(_one("jawOpen", 2.0))
        assert good.render(bound.neutral).image.shape == (256, 256, 4)
