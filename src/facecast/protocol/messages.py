"""Protocol v1 messages: one dataclass per message type, encoded as msgpack maps.

Every message on the wire is a msgpack map with ``v`` (protocol version) and ``type``.
Unknown fields are ignored. ``decode`` validates strictly and raises ``ProtocolError``
with a numbered code; ``encode`` never validates (it trusts our own dataclasses).
Each field declares how it travels once, in its dataclass metadata (wire_fields.py);
``Message.body``/``from_body`` run the encoder and decoder generated from them per class.
docs/protocol.md documents each message with an example.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np

from facecast.protocol import fields as f
from facecast.protocol.errors import ErrorCode, ProtocolError
from facecast.protocol.formats import (
    ARKIT_BLENDSHAPES,
    LANDMARK_FORMATS,
    MAX_AUDIO_CHUNK_BYTES,
    MAX_AUDIO_RATE,
    MAX_FRAME_SIDE,
    MAX_NPC_FPS,
    MIN_AUDIO_RATE,
    MIN_FRAME_SIDE,
    MIN_NPC_FPS,
    NPC_EMOTIONS,
    PIXEL_FORMATS,
    PROTOCOL_VERSION,
)
from facecast.protocol.shm_layout import DEFAULT_SLOTS, MAX_SLOTS, MIN_SLOTS
from facecast.protocol.wire_fields import compile_wire, wire, wire_array

TIMING_KEYS = ("client_send", "receive", "render_start", "render_end", "reply")


class Message:
    """Base of every message; subclasses set ``TYPE`` and declare their fields with ``wire``/
    ``wire_array``. ``WIRE_ORDER`` (optional) gives the wire order where it is not field order;
    ``_check`` (optional) validates a decoded message beyond what its fields' readers check."""

    TYPE: ClassVar[str] = ""
    WIRE_ORDER: ClassVar[tuple[str, ...] | None] = None

    def body(self) -> dict[str, Any]:
        """The message's wire map without ``v`` and ``type``."""
        return self._encode_fields()

    @classmethod
    def from_body(cls, d: dict[str, Any]) -> "Message":
        """Strictly decode a wire map; raises ProtocolError."""
        return cls._decode_fields(d)

    def _check(self) -> None:
        """Checks of a decoded message that no single field's reader makes."""

    # generated per class from its fields' wire specs when the class is registered
    def _encode_fields(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} is not a registered message")

    @classmethod
    def _decode_fields(cls, d: dict[str, Any]) -> "Message":
        raise NotImplementedError(f"{cls.__name__} is not a registered message")


_TYPES: dict[str, type[Message]] = {}

C = TypeVar("C", bound=type[Message])


def _register(cls: C) -> C:
    encoder, decoder = compile_wire(cls, check=cls._check is not Message._check)
    cls._encode_fields = encoder  # type: ignore[method-assign]
    cls._decode_fields = classmethod(decoder)  # type: ignore[method-assign,assignment]
    _TYPES[cls.TYPE] = cls
    return cls


def message_types() -> tuple[str, ...]:
    return tuple(_TYPES)


def _output_is_shm(message: Any) -> bool:
    return message.output == "shm"


def _has_slot(message: Any) -> bool:
    return message.slot is not None


@_register
@dataclass
class Hello(Message):
    """Client -> daemon, first message: who the client is and which versions it speaks."""

    TYPE: ClassVar[str] = "hello"
    client: str = wire(f.read_str, default="")
    # early: read (and its error reported) before the other fields, as protocol v1 always did
    versions: list[int] = wire(f.read_list, default=[PROTOCOL_VERSION], items=int, write=list, early=True)


@_register
@dataclass
class Welcome(Message):
    """Daemon -> client, reply to hello: chosen version, session id, capabilities, limits."""

    TYPE: ClassVar[str] = "welcome"
    server: str = wire(f.read_str)
    version: int = wire(f.read_int)
    session: str = wire(f.read_str)
    capabilities: dict[str, Any] = wire(f.read_map, missing={})
    limits: dict[str, Any] = wire(f.read_map, missing={})


@_register
@dataclass
class Bind(Message):
    """Client -> daemon: choose the character, output size, pixel format and output mode."""

    TYPE: ClassVar[str] = "bind"
    character: str = wire(f.read_str)
    width: int = wire(f.read_int, default=256, lo=MIN_FRAME_SIDE, hi=MAX_FRAME_SIDE)
    height: int = wire(f.read_int, default=256, lo=MIN_FRAME_SIDE, hi=MAX_FRAME_SIDE)
    pixel_format: str = wire(f.read_str, default="rgba8", choices=PIXEL_FORMATS)
    output: str = wire(f.read_str, default="inline")
    jpeg_quality: int = wire(f.read_int, default=90, lo=1, hi=100)
    # ring slots, for output "shm" (only sent then)
    slots: int = wire(f.read_int, default=DEFAULT_SLOTS, lo=MIN_SLOTS, hi=MAX_SLOTS, when=_output_is_shm)


@_register
@dataclass
class Bound(Message):
    """Daemon -> client, reply to bind: what was bound, and the character's neutral landmarks
    (so a client can retarget its driver's motion onto them)."""

    TYPE: ClassVar[str] = "bound"
    character: str = wire(f.read_str)
    width: int = wire(f.read_int)
    height: int = wire(f.read_int)
    pixel_format: str = wire(f.read_str)
    output: str = wire(f.read_str)
    neutral: np.ndarray = wire_array(LANDMARK_FORMATS["mediapipe478"], format="mediapipe478")  # 478 x 3
    shm: dict[str, Any] | None = wire(f.read_map, optional=True)  # output "shm": name, path, size, slots


@_register
@dataclass
class Pose(Message):
    """Client -> daemon: one frame of face motion. Exactly one of ``landmarks`` (N x 3 in
    ``landmark_format``) or ``blendshapes`` (52 ARKit weights, with optional ``head``
    yaw/pitch/roll in radians). Answered by one ``frame`` (or superseded, see docs).
    ``tracking`` (optional) is a tracker's state for this pose, one of ``TRACKING_STATES``
    when sent by facecast's tracker; informational, any string is accepted."""

    TYPE: ClassVar[str] = "pose"
    # tracking came last to the dataclass (positional callers) but travels before the arrays
    WIRE_ORDER: ClassVar[tuple[str, ...] | None] = ("seq", "t_send", "tracking", "landmarks", "blendshapes", "head")
    seq: int = wire(f.read_int)
    t_send: float = wire(f.read_float, default=0.0)
    landmarks: np.ndarray | None = wire_array(formats=LANDMARK_FORMATS, format_attr="landmark_format",
                                              one_of="motion")
    landmark_format: str = "mediapipe478"  # not a field of its own: the landmarks' "format"
    blendshapes: np.ndarray | None = wire_array((len(ARKIT_BLENDSHAPES),), one_of="motion")
    head: np.ndarray | None = wire_array((3,), only_with="blendshapes")  # ignored beside landmarks
    tracking: str | None = wire(f.read_str, optional=True)  # any string: later trackers may add states

    def _check(self) -> None:
        if self.landmarks is not None and np.abs(self.landmarks).max() > 100.0:
            raise ProtocolError(ErrorCode.BAD_ARRAY, "landmarks: coordinates must be normalized (|value| <= 100)")


@_register
@dataclass
class Frame(Message):
    """Daemon -> client: the rendered frame for pose ``seq``. ``superseded`` counts this
    session's poses dropped (latest-wins) since the previous frame. For output "shm",
    ``data`` is empty and ``slot``/``slot_seq`` name where the pixels are in the ring."""

    TYPE: ClassVar[str] = "frame"
    seq: int = wire(f.read_int)
    character: str = wire(f.read_str)
    width: int = wire(f.read_int)
    height: int = wire(f.read_int)
    pixel_format: str = wire(f.read_str, choices=PIXEL_FORMATS)
    data: bytes = wire(f.read_bytes)
    timings: dict[str, float] = wire(f.read_float_map, default={}, early=True)  # read first, as v1 did
    superseded: int = wire(f.read_int, default=0)
    slot: int | None = wire(f.read_int, optional=True)
    slot_seq: int | None = wire(f.read_int, optional=True, when=_has_slot)  # sent (even nil) with slot


@_register
@dataclass
class Error(Message):
    """Daemon -> client: a request was rejected. ``seq`` and ``ref`` (the offending
    message's type) are set when the daemon could read them."""

    TYPE: ClassVar[str] = "error"
    code: int = wire(f.read_int)
    name: str = wire(f.read_str)
    message: str = wire(f.read_str, missing="")
    seq: int | None = wire(f.read_int, optional=True)
    ref: str | None = wire(f.read_str, optional=True)

    @classmethod
    def from_exception(cls, exc: ProtocolError, seq: int | None = None, ref: str | None = None) -> "Error":
        return cls(code=int(exc.code), name=exc.code.name, message=exc.detail[:256], seq=seq, ref=ref)


@_register
@dataclass
class Ping(Message):
    """Client -> daemon: liveness and clock check; answered by pong."""

    TYPE: ClassVar[str] = "ping"
    t_send: float = wire(f.read_float, default=0.0)
    seq: int = wire(f.read_int, default=0)


@_register
@dataclass
class Pong(Message):
    TYPE: ClassVar[str] = "pong"
    t_send: float = wire(f.read_float)
    t_server: float = wire(f.read_float)
    seq: int = wire(f.read_int, default=0)


@_register
@dataclass
class Stats(Message):
    """Client -> daemon: ask for counters; answered by stats_report."""

    TYPE: ClassVar[str] = "stats"


@_register
@dataclass
class StatsReport(Message):
    """Daemon -> client: ``daemon`` counters and this client's ``session`` counters."""

    TYPE: ClassVar[str] = "stats_report"
    daemon: dict[str, Any] = wire(f.read_map)
    session: dict[str, Any] = wire(f.read_map, default={})


@_register
@dataclass
class Characters(Message):
    """Client -> daemon: list the characters in the store; answered by character_list."""

    TYPE: ClassVar[str] = "characters"


@_register
@dataclass
class CharacterList(Message):
    TYPE: ClassVar[str] = "character_list"
    characters: list[str] = wire(f.read_list, items=str, write=list)


@_register
@dataclass
class Bye(Message):
    """Client -> daemon: end the session now (frees its resources); answered by goodbye."""

    TYPE: ClassVar[str] = "bye"


@_register
@dataclass
class Goodbye(Message):
    TYPE: ClassVar[str] = "goodbye"


@_register
@dataclass
class Npc(Message):
    """Client -> daemon, after bind: make the session an NPC. The daemon then generates its
    poses itself (idle life, ``emotion``, lip flap from ``audio``) at ``fps`` and sends a
    ``frame`` for each, as if the client had sent poses; answered by npc_state. Sent again,
    it changes the emotion (eased); ``seed`` and ``fps`` apply when the NPC starts. ``stop``
    ends NPC mode (a re-bind or bye does too)."""

    TYPE: ClassVar[str] = "npc"
    emotion: str = wire(f.read_str, default="neutral", choices=NPC_EMOTIONS)
    seed: int = wire(f.read_int, default=0, lo=0, hi=(1 << 32) - 1)
    fps: int = wire(f.read_int, default=30, lo=MIN_NPC_FPS, hi=MAX_NPC_FPS)
    stop: bool = wire(f.read_bool, default=False)


@_register
@dataclass
class NpcState(Message):
    """Daemon -> client, reply to npc: whether the session is an NPC now, its emotion and
    frame rate, and how much of its dialogue audio is buffered (not yet lip-synced)."""

    TYPE: ClassVar[str] = "npc_state"
    active: bool = wire(f.read_bool)
    emotion: str = wire(f.read_str)
    fps: int = wire(f.read_int)
    audio_buffered_ms: float = wire(f.read_float, default=0.0)


@_register
@dataclass
class Audio(Message):
    """Client -> daemon: a chunk of an NPC's dialogue: ``pcm`` is 16-bit signed
    little-endian mono at ``rate`` Hz, at most MAX_AUDIO_CHUNK_BYTES. Chunks of one ``line``
    follow each other; a new ``line`` number drops what is left of the previous line. The
    daemon lip-syncs one frame's worth of audio per frame from the first chunk of a line on;
    no reply (errors only)."""

    TYPE: ClassVar[str] = "audio"
    rate: int = wire(f.read_int, lo=MIN_AUDIO_RATE, hi=MAX_AUDIO_RATE)
    pcm: bytes = wire(f.read_bytes)
    line: int = wire(f.read_int, default=0, lo=0, hi=(1 << 32) - 1)

    def _check(self) -> None:
        if len(self.pcm) > MAX_AUDIO_CHUNK_BYTES:
            raise ProtocolError(ErrorCode.TOO_LARGE,
                                f"audio chunk of {len(self.pcm)} bytes; at most {MAX_AUDIO_CHUNK_BYTES} per message")
        if len(self.pcm) % 2:
            raise ProtocolError(ErrorCode.INVALID_FIELD, "'pcm' must be whole 16-bit samples (an even byte count)")
