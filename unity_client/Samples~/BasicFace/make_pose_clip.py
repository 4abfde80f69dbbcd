"""Write BasicFaceClip.bytes, the looping pose clip of the Basic Face sample.

    FACECAST_MODEL_DIR=/path/to/models .venv/bin/python "unity_client/Samples~/BasicFace/make_pose_clip.py" [--store DIR]

(Without --store it enrolls the default character in a temporary store, which needs the
MediaPipe face_landmarker.task model, like `facecast serve` does the first time.)

The clip is a short procedural performance (facecast.tracking.procedural) on the daemon's
built-in `default` character's neutral landmarks. Binary, little-endian:

    char[4] magic "FCPC" | u32 version 1 | u32 frames T | f32 fps
    f32[478*3]      the neutral the clip was made on (mediapipe478)
    f32[T*478*3]    the frames

The sample retargets it onto whichever character it binds: it sends
`bound.neutral + (frame - clip neutral)`.
"""

from __future__ import annotations

import argparse
import struct
import tempfile
from pathlib import Path

import numpy as np

from facecast.characters.store import CharacterStore
from facecast.tracking.procedural import procedural_performance

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, help="a character store (default: a temporary one)")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=HERE / "BasicFaceClip.bytes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        neutral = np.asarray(CharacterStore(args.store or tmp).ensure_default().neutral, dtype="<f4")
    frames = procedural_performance(neutral, seconds=args.seconds, fps=args.fps, seed=0).astype("<f4")
    header = b"FCPC" + struct.pack("<IIf", 1, len(frames), args.fps)
    args.out.write_bytes(header + neutral.tobytes() + np.ascontiguousarray(frames).tobytes())
    print(f"wrote {args.out} ({len(frames)} frames at {args.fps:g} fps)")


if __name__ == "__main__":
    main()
