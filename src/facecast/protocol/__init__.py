"""facecast wire protocol v1: the single definition of every message, code and format.

Imported by every other part of facecast; imports nothing of ours. See docs/protocol.md.
"""

from facecast.protocol.arrays import pack_array, unpack_array
from facecast.protocol.bounded_unpack import REPLY_BOUNDS, REQUEST_BOUNDS, DecodeBounds
from facecast.protocol.codec import DEFAULT_MAX_BYTES, DecodeError, decode, encode, encode_with_blob
from facecast.protocol.errors import ErrorCode, ProtocolError
from facecast.protocol.formats import (
    ARKIT_BLENDSHAPES,
    LANDMARK_FORMATS,
    MAX_AUDIO_CHUNK_BYTES,
    MAX_REPLY_BYTES,
    NPC_EMOTIONS,
    OUTPUT_MODES,
    PIXEL_FORMATS,
    PROTOCOL_VERSION,
    RAW_PIXEL_FORMATS,
    TRACKING_STATES,
)
from facecast.protocol.messages import (
    TIMING_KEYS,
    Audio,
    Bind,
    Bound,
    Bye,
    CharacterList,
    Characters,
    Error,
    Frame,
    Goodbye,
    Hello,
    Message,
    Npc,
    NpcState,
    Ping,
    Pong,
    Pose,
    Stats,
    StatsReport,
    Welcome,
    message_types,
)

__all__ = [
    "ARKIT_BLENDSHAPES", "LANDMARK_FORMATS", "OUTPUT_MODES", "PIXEL_FORMATS", "PROTOCOL_VERSION",
    "RAW_PIXEL_FORMATS", "TRACKING_STATES", "TIMING_KEYS", "DEFAULT_MAX_BYTES", "MAX_REPLY_BYTES", "REPLY_BOUNDS", "REQUEST_BOUNDS",
    "MAX_AUDIO_CHUNK_BYTES", "NPC_EMOTIONS", "Audio", "Npc", "NpcState",
    "Bind", "Bound", "Bye", "CharacterList",
    "Characters", "DecodeBounds", "DecodeError", "Error", "ErrorCode", "Frame", "Goodbye", "Hello", "Message", "Ping",
    "Pong", "Pose", "ProtocolError", "Stats", "StatsReport", "Welcome", "decode",
    "encode", "encode_with_blob", "message_types", "pack_array", "unpack_array",
]
