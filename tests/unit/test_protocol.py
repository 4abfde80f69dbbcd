"""Wire protocol v1: codec round trips, the golden fixtures, strict decoding, pixel formats."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from facecast.core.pixels import decode_pixels, encode_pixels
from facecast.protocol import (
    ARKIT_BLENDSHAPES,
    LANDMARK_FORMATS,
    PROTOCOL_VERSION,
    TIMING_KEYS,
    Audio,
    Bind,
    Bound,
    Bye,
    CharacterList,
    Characters,
    DecodeError,
    Error,
    ErrorCode,
    Frame,
    Goodbye,
    Hello,
    Message,
    Npc,
    NpcState,
    Ping,
    Pong,
    Pose,
    ProtocolError,
    Stats,
    StatsReport,
    Welcome,
    decode,
    encode,
    message_types,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "protocol"
INDEX = json.loads((FIXTURES / "index.json").read_text(encoding="utf-8"))


def _load_generator() -> ModuleType:
    """tests/fixtures/protocol/generate.py as a module (it is a script, not in a package)."""
    name = "facecast_protocol_fixture_generator"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, FIXTURES / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def _points(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.5, 1.5, size=(n, 3)).astype(np.float32)


def _landmark_pose(seq: int = 1, fmt: str = "mediapipe478") -> Pose:
    return Pose(seq=seq, t_send=1_700_000_000.125, landmarks=_points(LANDMARK_FORMATS[fmt][0], seq),
                landmark_format=fmt)


# One instance of every message type, with every field set away from its default.
SAMPLES: list[Message] = [
    Hello(client="test-client/2", versions=[1, 2]),
    Welcome(server="facecast/9", version=1, session="abc123",
            capabilities={"renderer": "copy", "inputs": ["landmarks"], "outputs": ["inline"]},
            limits={"max_message_bytes": 1024, "session_timeout_s": 1.5}),
    Bind(character="bob", width=640, height=480, pixel_format="jpeg", output="inline", jpeg_quality=33),
    Bound(character="bob", width=640, height=480, pixel_format="bgra8", output="inline",
          neutral=_points(478, 11)),
    _landmark_pose(5, "mediapipe478"),
    _landmark_pose(6, "ibug68"),
    Pose(seq=9, t_send=3.5, blendshapes=np.linspace(0, 1, len(ARKIT_BLENDSHAPES), dtype=np.float32),
         head=np.array([0.1, -0.2, 0.3], np.float32)),
    Pose(seq=10, blendshapes=np.zeros(len(ARKIT_BLENDSHAPES), np.float32)),
    Frame(seq=12, character="bob", width=16, height=16, pixel_format="rgb8", data=bytes(range(256)) * 3,
          timings={k: 1_700_000_000.0 + i for i, k in enumerate(TIMING_KEYS)}, superseded=4),
    Error(code=201, name="UNKNOWN_CHARACTER", message="no character 'x'", seq=3, ref="bind"),
    Error(code=100, name="MALFORMED", message="bad"),
    Ping(t_send=12.25, seq=8),
    Pong(t_send=12.25, t_server=13.5, seq=8),
    Stats(),
    StatsReport(daemon={"sessions": 2, "counters": {"poses": 5}}, session={"id": "s", "counters": {}}),
    Characters(),
    CharacterList(characters=["a", "b", "c"]),
    Bye(),
    Goodbye(),
    Npc(emotion="sad", seed=3, fps=24, stop=False),
    NpcState(active=True, emotion="sad", fps=24, audio_buffered_ms=812.5),
    Audio(rate=22050, pcm=bytes(range(256)) * 4, line=9),
]


def assert_messages_equal(a: Message, b: Message) -> None:
    assert type(a) is type(b)
    for name in a.__dataclass_fields__:  # type: ignore[attr-defined]
        va, vb = getattr(a, name), getattr(b, name)
        if isinstance(va, np.ndarray) or isinstance(vb, np.ndarray):
            assert va is not None and vb is not None, name
            assert va.dtype == vb.dtype == np.float32, name
            np.testing.assert_array_equal(va, vb, err_msg=name)
        else:
            assert va == vb, name


# ---------------------------------------------------------------------------- round trips


def test_samples_cover_every_message_type() -> None:
    assert {m.TYPE for m in SAMPLES} == set(message_types())


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: m.TYPE)
def test_round_trip(message: Message) -> None:
    raw = encode(message)
    obj = msgpack.unpackb(raw, raw=False)
    assert obj["v"] == PROTOCOL_VERSION and obj["type"] == message.TYPE
    assert_messages_equal(decode(raw), message)


def test_encoded_arrays_are_little_endian_f32() -> None:
    pose = _landmark_pose(1)
    wire = msgpack.unpackb(encode(pose), raw=False)["landmarks"]
    assert wire["dtype"] == "f32" and wire["shape"] == [478, 3] and wire["format"] == "mediapipe478"
    np.testing.assert_array_equal(np.frombuffer(wire["data"], "<f4").reshape(478, 3), pose.landmarks)


def test_unknown_fields_are_ignored() -> None:
    obj = msgpack.unpackb(encode(_landmark_pose(4)), raw=False)
    obj.update({"future_field": [1, 2, {"x": b"\x00"}], "another": None, "x-vendor": 3.5})
    obj["landmarks"]["extra"] = "ignored too"
    msg = decode(msgpack.packb(obj, use_bin_type=True))
    assert_messages_equal(msg, _landmark_pose(4))


def test_defaults_apply_when_optional_fields_are_absent() -> None:
    msg = decode(msgpack.packb({"v": 1, "type": "bind", "character": "c"}))
    assert msg == Bind(character="c")
    assert decode(msgpack.packb({"v": 1, "type": "hello"})) == Hello()
    assert decode(msgpack.packb({"v": 1, "type": "ping"})) == Ping()


# ---------------------------------------------------------------------------- golden fixtures


def test_index_lists_every_fixture_file() -> None:
    listed = {e["file"] for e in INDEX["valid"] + INDEX["invalid"]}
    on_disk = {p.relative_to(FIXTURES).as_posix() for p in FIXTURES.glob("*/*.msgpack")}
    assert listed == on_disk
    assert {e["type"] for e in INDEX["valid"]} == set(message_types())
    assert INDEX["description"] and INDEX["protocol_version"] == PROTOCOL_VERSION
    assert INDEX["error_codes"] == {c.name: int(c) for c in ErrorCode}


@pytest.mark.parametrize("entry", INDEX["valid"], ids=lambda e: e["file"])
def test_valid_fixture(entry: dict) -> None:
    raw = (FIXTURES / entry["file"]).read_bytes()
    msg = decode(raw)
    assert msg.TYPE == entry["type"]
    for key, expected in entry["fields"].items():
        assert getattr(msg, key) == expected, key
    for key, spec in entry.get("arrays", {}).items():
        arr = getattr(msg, key)
        assert arr.dtype == np.float32
        assert list(arr.shape) == spec["shape"]
        assert abs(float(arr.astype(np.float64).sum()) - spec["sum"]) <= INDEX["sum_tolerance"]
        assert arr.ravel()[:3].tolist() == spec["first"]
        if key == "landmarks":
            assert msg.landmark_format == spec["format"]  # type: ignore[attr-defined]
    for key, spec in entry.get("bytes", {}).items():
        data = getattr(msg, key)
        assert len(data) == spec["length"] and hashlib.sha256(data).hexdigest() == spec["sha256"]
    for key in entry.get("absent", []):
        assert getattr(msg, key) is None, key
    assert encode(msg) == raw  # the fixture is exactly what encode writes


@pytest.mark.parametrize("entry", INDEX["invalid"], ids=lambda e: e["file"])
def test_invalid_fixture(entry: dict) -> None:
    raw = (FIXTURES / entry["file"]).read_bytes()
    with pytest.raises(DecodeError) as info:
        decode(raw)
    err = info.value
    assert int(err.code) == entry["error_code"]
    assert err.code.name == entry["error_name"]
    assert err.seq == entry["seq"] and err.msg_type == entry["ref"]


def test_frame_fixtures_hold_decodable_pixels() -> None:
    rgba = decode((FIXTURES / "valid" / "frame_rgba8.msgpack").read_bytes())
    assert isinstance(rgba, Frame)
    img = decode_pixels(rgba.data, rgba.pixel_format, rgba.width, rgba.height)
    assert img.shape == (2, 4, 4) and img[1, 3].tolist() == [192, 128, 200, 255]
    jpeg = decode((FIXTURES / "valid" / "frame_jpeg.msgpack").read_bytes())
    assert isinstance(jpeg, Frame)
    img = decode_pixels(jpeg.data, jpeg.pixel_format, jpeg.width, jpeg.height)
    assert img.shape == (16, 16, 3)


def test_generator_check_passes() -> None:
    gen = _load_generator()
    assert gen.drift() == []
    assert gen.main(["--check"]) == 0


def test_generator_check_detects_drift(tmp_path: Path) -> None:
    gen = _load_generator()
    gen.write(tmp_path)
    assert gen.drift(tmp_path) == []
    (tmp_path / "valid" / "ping.msgpack").write_bytes(b"\x80")
    (tmp_path / "invalid" / "left_over.msgpack").write_bytes(b"\x80")
    assert gen.drift(tmp_path) == ["valid/ping.msgpack", "invalid/left_over.msgpack"]


# ---------------------------------------------------------------------------- strict decoding


def test_too_large() -> None:
    raw = encode(_landmark_pose(2))
    with pytest.raises(DecodeError) as info:
        decode(raw, max_bytes=1000)
    assert info.value.code is ErrorCode.TOO_LARGE
    assert isinstance(decode(raw, max_bytes=len(raw)), Pose)


def test_decode_error_carries_seq_and_type() -> None:
    pose = _landmark_pose(7)
    assert pose.landmarks is not None
    pose.landmarks[3, 0] = np.nan
    with pytest.raises(DecodeError) as info:
        decode(encode(pose))
    err = info.value
    assert err.code is ErrorCode.NON_FINITE and err.seq == 7 and err.msg_type == "pose"
    assert isinstance(err, ProtocolError)
    reply = Error.from_exception(err, seq=err.seq, ref=err.msg_type)
    assert (reply.code, reply.name, reply.seq, reply.ref) == (105, "NON_FINITE", 7, "pose")


def test_decode_error_without_readable_seq() -> None:
    with pytest.raises(DecodeError) as info:
        decode(b"\xc1")
    assert info.value.seq is None and info.value.msg_type is None
    with pytest.raises(DecodeError) as info:  # a negative or non-integer seq is not reported
        decode(msgpack.packb({"v": 1, "type": "pose", "seq": -1}))
    assert info.value.code is ErrorCode.INVALID_FIELD and info.value.seq is None


@pytest.mark.parametrize("landmarks_format", [[1, 2], {"a": 1}, 5, None])
def test_unhashable_or_odd_landmark_format_is_bad_array(landmarks_format: object) -> None:
    obj = msgpack.unpackb(encode(_landmark_pose(1)), raw=False)
    obj["landmarks"]["format"] = landmarks_format
    with pytest.raises(DecodeError) as info:
        decode(msgpack.packb(obj, use_bin_type=True))
    assert info.value.code is ErrorCode.BAD_ARRAY


# ---------------------------------------------------------------------------- pixels


def _test_image(h: int = 24, w: int = 40) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    img = np.empty((h, w, 4), np.uint8)  # H x W x 4 RGBA
    img[..., 0] = (x * 255 // (w - 1)).astype(np.uint8)
    img[..., 1] = (y * 255 // (h - 1)).astype(np.uint8)
    img[..., 2] = 96
    img[..., 3] = ((x + y) % 7 * 36).astype(np.uint8)
    return img


@pytest.mark.parametrize("pixel_format,channels", [("rgba8", [0, 1, 2, 3]), ("rgb8", [0, 1, 2]),
                                                   ("bgra8", [2, 1, 0, 3])])
def test_raw_pixels_round_trip(pixel_format: str, channels: list[int]) -> None:
    img = _test_image()
    data = encode_pixels(img, pixel_format)
    assert len(data) == img.shape[0] * img.shape[1] * len(channels)
    out = decode_pixels(data, pixel_format, img.shape[1], img.shape[0])
    np.testing.assert_array_equal(out, img[..., channels])


def test_png_round_trip_is_exact() -> None:
    img = _test_image()
    out = decode_pixels(encode_pixels(img, "png"), "png", img.shape[1], img.shape[0])
    np.testing.assert_array_equal(out, img)


def test_jpeg_round_trip_is_close() -> None:
    img = _test_image()
    data = encode_pixels(img, "jpeg", jpeg_quality=95)
    assert data[:2] == b"\xff\xd8"
    out = decode_pixels(data, "jpeg", img.shape[1], img.shape[0])
    assert out.shape == (24, 40, 3)
    assert np.abs(out.astype(np.int16) - img[..., :3].astype(np.int16)).mean() < 4.0


@pytest.mark.parametrize("pixel_format", ["rgba8", "rgb8", "bgra8"])
def test_decode_pixels_wrong_byte_count(pixel_format: str) -> None:
    data = encode_pixels(_test_image(), pixel_format)
    with pytest.raises(ValueError):
        decode_pixels(data[:-1], pixel_format, 40, 24)


def test_pixels_reject_unknown_format_and_garbage() -> None:
    with pytest.raises(ValueError):
        encode_pixels(_test_image(), "yuv420")
    with pytest.raises(ValueError):
        decode_pixels(b"not a jpeg", "jpeg", 16, 16)


# ---------------------------------------------------------------------------- property-based


def _decode_or_decode_error(raw: bytes) -> None:
    try:
        msg = decode(raw)
    except DecodeError as err:
        assert isinstance(err.code, ErrorCode)
        assert err.seq is None or (isinstance(err.seq, int) and 0 <= err.seq < 2**63)
        assert err.msg_type is None or isinstance(err.msg_type, str)
        reply = decode(encode(Error.from_exception(err, seq=err.seq, ref=err.msg_type)))  # as the daemon replies
        assert isinstance(reply, Error) and reply.code == int(err.code)
    else:
        assert isinstance(msg, Message)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=512))
def test_arbitrary_bytes_decode_or_raise_decode_error(raw: bytes) -> None:
    _decode_or_decode_error(raw)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(p.name for p in (FIXTURES / "valid").glob("*.msgpack"))),
       st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_corrupted_fixture_bytes_decode_or_raise_decode_error(name: str, pos: int, byte: int) -> None:
    raw = bytearray((FIXTURES / "valid" / name).read_bytes())
    raw[pos % len(raw)] = byte
    _decode_or_decode_error(bytes(raw))
    _decode_or_decode_error(bytes(raw[: pos % len(raw)]))


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), st.binary(max_size=64),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _array_maps() -> st.SearchStrategy[dict]:
    """Point-array-like maps: right and wrong dtypes, shapes, formats and byte lengths."""
    shapes = st.one_of(
        st.sampled_from([[478, 3], [68, 3], [52], [3], [0], [], [478, 3, 1]]),
        st.lists(st.integers(min_value=-2, max_value=600), max_size=3),
        _values,
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "dtype": st.sampled_from(["f32", "f64", "F32", 32, None]) | _values,
            "shape": shapes,
            "data": st.binary(max_size=64) | st.builds(lambda n: bytes(n), st.sampled_from([12, 208, 816, 5736])),
            "format": st.sampled_from(["mediapipe478", "ibug68", "x"]) | _values,
        },
    )


_fields = {
    "seq": st.integers(min_value=-3, max_value=2**64 - 1) | _values,
    "t_send": st.floats() | _values,
    "landmarks": _array_maps() | _values,
    "blendshapes": _array_maps() | _values,
    "head": _array_maps() | _values,
    "neutral": _array_maps() | _values,
    "character": st.text(max_size=300) | _values,
    "width": st.integers(min_value=-5, max_value=5000) | _values,
    "height": st.integers(min_value=-5, max_value=5000) | _values,
    "pixel_format": st.sampled_from(["rgba8", "rgb8", "bgra8", "jpeg", "png", "yuv"]) | _values,
    "output": st.sampled_from(["inline", "shm"]) | _values,
    "jpeg_quality": st.integers(min_value=-1, max_value=101) | _values,
    "versions": st.lists(st.integers(min_value=0, max_value=3) | _values, max_size=3) | _values,
    "client": _values, "server": _values, "version": _values, "session": _values,
    "capabilities": _values, "limits": _values, "data": _values, "timings": _values,
    "superseded": _values, "code": _values, "name": _values, "message": _values, "ref": _values,
    "t_server": _values, "daemon": _values, "characters": _values,
}


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(st.just(PROTOCOL_VERSION), _values),
    st.one_of(st.sampled_from(sorted(message_types())), _values),
    st.fixed_dictionaries({}, optional=_fields),
    st.dictionaries(st.text(max_size=10), _values, max_size=3),
)
def test_random_maps_decode_or_raise_decode_error(version: object, msg_type: object, body: dict,
                                                  extra: dict) -> None:
    obj: dict = {**extra, **body, "v": version, "type": msg_type}
    raw = msgpack.packb(obj, use_bin_type=True)
    _decode_or_decode_error(raw)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(LANDMARK_FORMATS)), st.integers(min_value=0, max_value=2**63 - 1),
       st.floats(min_value=-1e9, max_value=1e10, allow_nan=False))
def test_random_valid_poses_round_trip(fmt: str, seq: int, t_send: float) -> None:
    pose = Pose(seq=seq, t_send=t_send, landmarks=_points(LANDMARK_FORMATS[fmt][0], seq % 1000),
                landmark_format=fmt)
    assert_messages_equal(decode(encode(pose)), pose)
    assert math.isfinite(pose.t_send)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["landmarks", "blendshapes"]), _array_maps(), st.one_of(st.none(), _array_maps()),
       st.integers(min_value=0, max_value=10))
def test_random_pose_arrays_decode_or_raise_decode_error(key: str, array: dict, head: dict | None,
                                                         seq: int) -> None:
    """Poses that get past the field checks, so the array checks themselves meet odd input."""
    obj: dict = {"v": PROTOCOL_VERSION, "type": "pose", "seq": seq, key: array}
    if head is not None:
        obj["head"] = head
    _decode_or_decode_error(msgpack.packb(obj, use_bin_type=True))


def test_error_reply_for_any_readable_seq_decodes() -> None:
    """The seq and type a DecodeError reports must fit the error reply (seq 0..2^63-1, ref <= 256 chars)."""
    for seq, reported in [(2**63 - 1, 2**63 - 1), (2**64 - 1, None), (5, 5)]:
        with pytest.raises(DecodeError) as info:
            decode(msgpack.packb({"v": 1, "type": "pose", "seq": seq}))
        err = info.value
        assert err.seq == reported
        reply = decode(encode(Error.from_exception(err, seq=err.seq, ref=err.msg_type)))
        assert isinstance(reply, Error) and reply.seq == err.seq
    with pytest.raises(DecodeError) as info:
        decode(msgpack.packb({"v": 1, "type": "t" * 300}))
    assert info.value.code is ErrorCode.UNKNOWN_TYPE and info.value.msg_type is None
    with pytest.raises(DecodeError) as info:
        decode(msgpack.packb({"v": 1, "type": "t" * 256}))
    assert info.value.msg_type == "t" * 256
