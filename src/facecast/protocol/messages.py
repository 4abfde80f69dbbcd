"""Protocol v1 messages: one dataclass per message type, encoded as msgpack maps.

Every message on the wire is a msgpack map with ``v`` (protocol version) and ``type``.
Unknown fields are ignored. ``decode`` validates strictly and raises ``ProtocolError``
with a numbered code; ``encode`` never validates (it trusts our own dataclasses).
docs/protocol.md documents each message with an example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from facecast.protocol import fields as f
from facecast.protocol.arrays import pack_array, unpack_array
from facecast.protocol.errors import ErrorCode, ProtocolError
from facecast.protocol.shm_layout import DEFAULT_SLOTS, MAX_SLOTS, MIN_SLOTS
from facecast.protocol.formats import (
    ARKIT_BLENDSHAPES,
    LANDMARK_FORMATS,
    MAX_FRAME_SIDE,
    MIN_FRAME_SIDE,
    PIXEL_FORMATS,
    PROTOCOL_VERSION,
)

TIMING_KEYS = ("client_send", "receive", "render_start", "render_end", "reply")


class Message:
    """Base of every message; subclasses set ``TYPE`` and implement the two mappings."""

    TYPE: ClassVar[str] = ""

    def body(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_body(cls, d: dict[str, Any]) -> "Message":
        raise NotImplementedError


_TYPES: dict[str, type[Message]] = {}


def _register(cls: type[Message]) -> type[Message]:
    _TYPES[cls.TYPE] = cls
    return cls


def message_types() -> tuple[str, ...]:
    return tuple(_TYPES)


@_register
@dataclass
class Hello(Message):
    """Client -> daemon, first message: who the client is and which versions it speaks."""

    TYPE: ClassVar[str] = "hello"
    client: str = ""
    versions: list[int] = field(default_factory=lambda: [PROTOCOL_VERSION])

    def body(self) -> dict[str, Any]:
        return {"client": self.client, "versions": list(self.versions)}

    @classmethod
    def from_body(cls, d: dict[str, Any]) -> "Hello":
        versions = f.read_list(d, "versions", [PROTOCOL_VERSION])
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in versions):
            raise ProtocolError(ErrorCode.INVALID_FIELD, "'versions' must be a list of integers")
        return cls(client=f.read_str(d, "client", ""), versions=versions)


@_register
@dataclass
class Welcome(Message):
    """Daemon -> client, reply to hello: chosen version, session id, capabilities, limits."""

    TYPE: ClassVar[str] = "welcome"
    server: str
    version: int
    session: str
    capabilities: dict[str, Any]
    limits: dict[str, Any]

    def body(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "version": self.version,
            "session": self.session,
            "capabilities": self.capabilities,
            "limits": self.limits,
        }

    @classmethod
    def from_body(cls, d: dict[str, Any]) -> "Welcome":
        return cls(
            server=f.read_str(d, "server"),
            version=f.read_int(d, "version"),
            session=f.read_str(d, "session"),
            capabilities=f.read_map(d, "capabilities", {}),
            limits=f.read_map(d, "limits", {}),
        )


@_register
@dataclass
class Bind(Message):
    """Client -> daemon: choose the character, output size, pixel format and output mode."""

    TYPE: ClassVar[str] = "bind"
    character: str
    width: int = 256
    height: int = 256
    pixel_format: str = "rgba8"
    output: str = "inline"
    jpeg_quality: int = 90
    slots: int = DEFAULT_SLOTS  # ring slots, for output "shm"

    def body(self) -> dict[str, Any]:
        out = {
            "character": self.character,
            "width": self.width,
            "height": self.height,
            "pixel_format": self.pixel_format,
            "output": self.output,
            "jpeg_quality": self.jpeg_quality,
        }
        if self.output == "shm":
            out["slots"] = self.slots
        return out

    @classmethod
    def from_body(cls, d: dict[str, Any]) -> "Bind":
        return cls(
            character=f.read_str(d, "character"),
            width=f.read_int(d, "width", 256, lo=MIN_FRAME_SIDE, hi=MAX_FRAME_SIDE),
            height=f.read_int(d, "height", 256, lo=MIN_FRAME_SIDE, hi=MAX_FRAME_SIDE),
            pixel_format=f.read_str(d, "pixel_format", "rgba8", choices=PIXEL_FORMATS),
            output=f.read_str(d, "output", "inline"),
            jpeg_quality=f.read_int(d, "jpeg_quality", 90, lo=1, hi=100),
            slots=f.read_int(d, "slots", DEFAULT_SLOTS, lo=MIN_SLOTS, hi=MAX_SLOTS),
        )


@_register
@dataclass
class Bound(Message):
    """Daemon -> client, reply to bind: what was bound, and the character's neutral landmarks
    (so a client can retarget its driver's motion onto them)."""

    TYPE: ClassVar[str] = "bound"
    character: str
    width: int
    height: int
    pixel_format: str
    output: str
    neutral: np.ndarray  # 478 x 3 mediapipe478
    shm: dict[str, Any] | None = None  # output "shm": name, path, size, slots

    def body(self) -> dict[str, Any]:
        out = {
            "character": self.character,
            "width": self.width,
            "height": self.height,
            "pixel_format": self.pixel_format,
            "output": self.output,
            "neutral": pack_array(self.neutral, format="mediapipe478"),
        }
        if self.shm is not None:
            out["shm"] = self.shm
        return out

    @classmethod
    def from_body(cls, d: dict[str, Any]) -> "Bound":
        return cls(
            character=f.read_str(d, "character"),
            width=f.read_int(d, "width"),
            height=f.read_int(d, "height"),
            pixel_format=f.read_str(d, "pixel_format"),
            output=f.read_str(d, "output"),
            neutral=unpack_array("neutral", d.get("neutral"), LANDMARK_FORMATS["mediapipe478"]),
            shm=f.read_map(d, "shm") if d.get("shm") is not None else None,
        )


@_register
@dataclass
class Pose(Message):
    """Client -> daemon: one frame of face motion. Exactly one of ``landmarks`` (N x 3 in
    ``landmark_format``) or ``blendshapes`` (52 ARKit weights, with optional ``head``
    yaw/pitch/roll in radians). Answered by one ``frame`` (or superseded, see docs).
    ``tracking`` (optional) is a tracker's state for this pose, one of ``TRACKING_STATES``
    when sent by facecast's tracker; informational, any string is accepted."""

    TYPE: ClassVar[str] = "pose"
    seq: int
    t_send: float = 0.0
    landmarks: np.ndarray | None = None
    landmark_format: str = "mediapipe478"
    blendshapes: np.ndarray | None = None
    head: np.ndarray | None = None
    tracking: str | None = None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"seq": self.seq, "t_send": self.t_send}
        if self.tracking is not None:
            out["tracking"] = self.tracking
        if self.landmarks is not None:
            out["landmarks"] = pack_array(self.landmarks, format=self.landmark_format)
        if self.blendshapes is not None:
            out["blendshapes"] = pack_array(self.blendshapes)
        if self.head is not None:
            out["head"] = pack_array(self.head)
        return out

    @classmethod
    def from_body(cls, d: dict[str, Any]) -> "Pose":
        seq = f.read_int(d, "seq")
        t_send = f.read_float(d, "t_send", 0.0)
        tracking = f.read_opt_str(d, "tracking")  # any string: later trackers may add states
        has_lm, has_bs = d.get("landmarks") is not None, d.get("blendshapes") is not None
        if has_lm == has_bs:
            raise ProtocolError(ErrorCode.INVALID_FIELD, "a pose carries exactly one of 'landmarks' or 'blendshapes'")
        if has_lm:
            wire = d["landmarks"]
            fmt = wire.get("format") if isinstance(wire, dict) else None
            if not isinstance(fmt, str) or fmt not in LANDMARK_FORMATS:  # a list/map would be unhashable
                raise ProtocolError(
                    ErrorCode.BAD_ARRAY, f"landmarks.format {fmt!r} unknown; one of {list(LANDMARK_FORMATS)}"
                )
            pts = unpack_array("landmarks", wire, LANDMARK_FORMATS[fmt])
            if np.abs(pts).max() > 100.0:
                raise ProtocolError(ErrorCode.BAD_ARRAY, "landmarks: coordinates must be normalized (|value| <= 100)")
            return cls(seq=seq, t_send=t_send, landmarks=pts, landmark_format=fmt, tracking=tracking)
        weights = unpack_array("blendshapes", d["blendshapes"], (len(ARKIT_BLENDSHAPES),))
        head = unpack_array("head", d["head"], (3,)) if d.get("head") is not None else None
        return cls(seq=seq, t_send=t_send, blendshapes=weights, head=head, tracking=tracking)


@_register
@dataclass
class Frame(Message):
    """Daemon -> client: the rendered frame for pose ``seq``. ``superseded`` counts this
    session's poses dropped (latest-wins) since the previous frame. For output "shm",
    ``data`` is empty and ``slot``/``slot_seq`` name where the pixels are in the ring."""

    TYPE: ClassVar[str] = "frame"
    seq: int
    character: str
    width: int
    height: int
    pixel_format: str
    data: bytes
    timings: dict[str, float] = field(default_factory=dict)
    superseded: int = 0
    slot: int | None = None
    slot_seq: int | None = None

    def body(self) -> dict[str, Any]:
        out = {
            "seq": self.seq,
            "character": self.character,
            "width": self.width,
            "height": self.height,
            "pixel_format": self.pixel_format,
            "data": self.data,
            "timings": self.timings,
            "superseded": self.superseded,
        }
        if self.slot is not None:
            out["slot"] = self.slot
            out["slot_seq"] = self.slot_seq
        return out

    @classmethod
    def from_body(cls, d: dict[str, Any]) -> "Frame":
        timings = f.read_map(d, "timings", {})
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in timings.values()):
            raise ProtocolError(ErrorCode.INVALID_FIELD, "'timings' values must be finite numbers")
        return cls(
            seq=f.read_int(d, "seq"),
            character=f.read_str(d, "character"),
            width=f.read_int(d, "width"),
            height=f.read_int(d, "height"),
            pixel_format=f.read_str(d, "pixel_format", choices=PIXEL_FORMATS),
            data=f.read_bytes(d, "data"),
            timings={str(k): float(v) for k, v in timings.items()},
            superseded=f.read_int(d, "superseded", 0),
            slot=f.read_opt_int(d, "slot"),
            slot_seq=f.read_opt_int(d, "slot_seq"),
        )


@_register
@dataclass
class Error(Message):
    """Daemon -> client: a request was rejected. ``seq`` and ``ref`` (the offending
    message's type) are set when the daemon could read them."""

    TYPE: ClassVar[str] = "error"
    code: int
    name: str
    message: str
    seq: int | None = None
    ref: str | None = None

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "name": self.name, "message": self.message}
        if self.seq is not None:
            out["seq"] = self.seq
        if self.ref is not None:
            out["ref"] = self.ref
        return out

    @classmethod
    def from_body(cls, d: dict[str, Any]) -> "Error":
        return cls(
            code=f.read_int(d, "code"),
            name=f.read_str(d, "name"),
            message=f.read_str(d, "message", ""),
            seq=f.read_opt_int(d, "seq"),
            ref=f.read_opt_str(d, "ref"),
        )

    @classmethod
    def from_exception(cls, exc: ProtocolError, seq: int | None = None, ref: str | None = None) -> "Error":
        return cls(code=int(exc.code), name=exc.code.name, message=exc.detail[:256], seq=seq, ref=ref)


@_register
@dataclass
class Ping(Message):
    """Client -> daemon: liveness and clock check; answered by pong."""

    TYPE: ClassVar[str] = "ping"
    t_send: float = 0.0
    seq: int = 0

    def body(self) -> dict[str, Any]:
        return {"t_send": self.t_send, "seq": self.seq}

    @classmethod
    def from_body(cls, d: dict[str, Any]) -> "Ping":
        return cls(t_send=f.read_float(d, "t_send", 0.0), seq=f.read_int(d, "seq", 0))


@_register
@dataclass
class Pong(Message):
    TYPE: ClassVar[str] = "pong"
    t_send: float
    t_server: float
    seq: int = 0

    def body(self) -> dict[str, Any]:
        return {"t_send": self.t_send, "t_server": self.t_server, "seq": self.seq}

    @classmethod
    def from_body(cls, d: dict[str, Any]) -> "Pong":
        return cls(t_send=f.read_float(d, "t_send"), t_server=f.read_float(d, "t_server"), seq=f.read_int(d, "seq", 0))


@_register
@dataclass
class Stats(Message):
    """Client -> daemon: ask for counters; answered by stats_report."""

    TYPE: ClassVar[str] = "stats"

    def body(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_body(cls, d: dict[str, Any]) -> "Stats":
        return cls()


@_register
@dataclass
class StatsReport(Message):
    """Daemon -> client: ``daemon`` counters and this client's ``session`` counters."""

    TYPE: ClassVar[str] = "stats_report"
    daemon: dict[str, Any]
    session: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"daemon": self.daemon, "session": self.session}

    @classmethod
    def from_body(cls, d: dict[str, Any]) -> "StatsReport":
        return cls(daemon=f.read_map(d, "daemon"), session=f.read_map(d, "session", {}))


@_register
@dataclass
class Characters(Message):
    """Client -> daemon: list the characters in the store; answered by character_list."""

    TYPE: ClassVar[str] = "characters"

    def body(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_body(cls, d: dict[str, Any]) -> "Characters":
        return cls()


@_register
@dataclass
class CharacterList(Message):
    TYPE: ClassVar[str] = "character_list"
    characters: list[str]

    def body(self) -> dict[str, Any]:
        return {"characters": list(self.characters)}

    @classmethod
    def from_body(cls, d: dict[str, Any]) -> "CharacterList":
        names = f.read_list(d, "characters")
        if not all(isinstance(n, str) for n in names):
            raise ProtocolError(ErrorCode.INVALID_FIELD, "'characters' must be a list of strings")
        return cls(characters=names)


@_register
@dataclass
class Bye(Message):
    """Client -> daemon: end the session now (frees its resources); answered by goodbye."""

    TYPE: ClassVar[str] = "bye"

    def body(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_body(cls, d: dict[str, Any]) -> "Bye":
        return cls()


@_register
@dataclass
class Goodbye(Message):
    TYPE: ClassVar[str] = "goodbye"

    def body(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_body(cls, d: dict[str, Any]) -> "Goodbye":
        return cls()
