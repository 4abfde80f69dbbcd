"""Enumerations of protocol v1: version, landmark formats, pixel formats, output modes."""

from __future__ import annotations

PROTOCOL_VERSION = 1
SUPPORTED_VERSIONS = (1,)

# Landmark formats: name -> (points, coordinates per point).
# mediapipe478: MediaPipe FaceMesh with irises; x, y normalized to the character's image
#   (x right, y down, 0..1), z MediaPipe's relative depth (same scale as x, nearer < 0).
# ibug68: the 68 iBUG/dlib points, same coordinate convention (z may be 0).
LANDMARK_FORMATS: dict[str, tuple[int, int]] = {
    "mediapipe478": (478, 3),
    "ibug68": (68, 3),
}

# Raw pixel formats: name -> bytes per pixel. Encoded formats have no fixed size.
RAW_PIXEL_FORMATS: dict[str, int] = {"rgba8": 4, "rgb8": 3, "bgra8": 4}
ENCODED_PIXEL_FORMATS: tuple[str, ...] = ("jpeg", "png")
PIXEL_FORMATS: tuple[str, ...] = tuple(RAW_PIXEL_FORMATS) + ENCODED_PIXEL_FORMATS

# Output modes: how frames reach the client. "inline" puts pixels in the frame reply;
# "shm" writes them into the session's shared-memory ring (shm_layout) and the frame
# reply names the slot. shm carries raw pixels only.
OUTPUT_MODES: tuple[str, ...] = ("inline", "shm")

# NPC sessions (docs/npc.md): the emotion presets a client may ask for, and the audio it may
# stream for lip flap: 16-bit signed little-endian mono PCM, at most MAX_AUDIO_CHUNK_BYTES per
# `audio` message (1.5 s at 22.05 kHz), at a rate in [MIN_AUDIO_RATE, MAX_AUDIO_RATE] Hz.
NPC_EMOTIONS: tuple[str, ...] = ("neutral", "happy", "angry", "sad", "surprised")
MIN_NPC_FPS, MAX_NPC_FPS = 1, 60
MIN_AUDIO_RATE, MAX_AUDIO_RATE = 8000, 48000
MAX_AUDIO_CHUNK_BYTES = 65536

# ARKit's 52 blendshape names, the order of a pose's `blendshapes` array.
ARKIT_BLENDSHAPES: tuple[str, ...] = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight",
    "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight",
    "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward",
    "jawLeft", "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight",
    "mouthFrownLeft", "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft",
    "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
)

# Tracking states a pose may report (optional `tracking` field): the tracker saw the face
# ("tracking"), lost it and holds the last pose ("holding"), eases towards the neutral face
# ("easing"), or has shown the neutral face since ("lost").
TRACKING_STATES: tuple[str, ...] = ("tracking", "holding", "easing", "lost")

# Bounds on requested frame sizes (pixels per side).
MIN_FRAME_SIDE = 16
MAX_FRAME_SIDE = 2048
# The largest message the daemon sends: a frame of MAX_FRAME_SIDE² pixels of 4 bytes (a
# PNG or JPEG of that size stays under it too), plus room for the rest of the reply.
MAX_REPLY_BYTES = 4 * MAX_FRAME_SIDE * MAX_FRAME_SIDE + (1 << 20)
