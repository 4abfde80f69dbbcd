#!/usr/bin/env python3
"""Coverage-guided fuzzer for the wire decoder, ``facecast.protocol.decode``.

    python tests/fuzz/fuzz_decode.py -atheris_runs=100000 CORPUS_DIR   # libFuzzer flags
    python tests/fuzz/fuzz_decode.py -max_total_time=3600 CORPUS_DIR
    python tests/fuzz/fuzz_decode.py crash-0123abcd...                 # replay one input

Contract checked for every input (see tests/fuzz/README.md):

* ``decode`` returns a Message or raises ``DecodeError`` with an ``ErrorCode``; any other
  exception is a crash. The error reply the daemon would send for it encodes and decodes.
* A request the daemon accepts (hello, bind, pose, ping, stats, characters, bye)
  re-encodes to bytes that decode to an equal message.
* A decoded inline ``frame`` goes through ``decode_pixels``: an image of the frame's size
  or ``ValueError``.

An empty first CORPUS_DIR is filled with the golden fixtures
(tests/fixtures/protocol/{valid,invalid}/*.msgpack) before fuzzing starts.

Without atheris (or with FACECAST_FUZZ_NO_ATHERIS=1) the same harness runs in a plain
random-mutation mode over the seed corpus that understands ``-runs``/``-atheris_runs``,
``-max_total_time``, ``-seed`` and ``-artifact_prefix``; it prints libFuzzer's
``Done N runs`` line too.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import sys
import time
from pathlib import Path
from typing import Callable

import cv2  # noqa: F401  (imported before instrumentation: only facecast is instrumented)
import msgpack  # noqa: F401
import numpy as np

try:
    if os.environ.get("FACECAST_FUZZ_NO_ATHERIS"):
        raise ImportError("FACECAST_FUZZ_NO_ATHERIS is set")
    import atheris
except ImportError:
    atheris = None

log = logging.getLogger("fuzz_decode")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "protocol"

if atheris is not None:
    with atheris.instrument_imports(include=["facecast"]):
        from facecast.protocol import Bind, Bye, Characters, DecodeError, Error, ErrorCode, Frame, Hello, Ping, Pose, Stats, decode, encode
        from facecast.core.pixels import decode_pixels
else:
    from facecast.protocol import Bind, Bye, Characters, DecodeError, Error, ErrorCode, Frame, Hello, Ping, Pose, Stats, decode, encode
    from facecast.core.pixels import decode_pixels

REQUESTS = (Hello, Bind, Pose, Ping, Stats, Characters, Bye)


def _same(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    for name in a.__dataclass_fields__:  # type: ignore[attr-defined]
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and np.array_equal(x, y)):
                return False
        elif x != y:
            return False
    return True


def TestOneInput(data: bytes) -> None:  # noqa: N802 (libFuzzer's name)
    try:
        msg = decode(data)
    except DecodeError as err:
        assert isinstance(err.code, ErrorCode), err.code
        reply = decode(encode(Error.from_exception(err, seq=err.seq, ref=err.msg_type)))
        assert isinstance(reply, Error) and reply.code == int(err.code) and reply.seq == err.seq, reply
        return
    if isinstance(msg, REQUESTS):
        again = decode(encode(msg), max_bytes=1 << 30)
        if isinstance(msg, Bind) and msg.output != "shm":
            again.slots = msg.slots  # only an shm bind carries slots
        assert _same(msg, again), (msg, again)
    elif isinstance(msg, Frame) and msg.slot is None:
        try:
            img = decode_pixels(msg.data, msg.pixel_format, msg.width, msg.height)
        except ValueError:
            return
        assert img.dtype == np.uint8 and img.shape[:2] == (msg.height, msg.width), img.shape


def seeds() -> dict[str, bytes]:
    """The golden fixtures, by file name."""
    return {f"{p.parent.name}_{p.name}": p.read_bytes() for p in sorted(FIXTURES.glob("*/*.msgpack"))}


# ---------------------------------------------------------------------------- runner (shared shape with fuzz_shm_header)


def fill_corpus(argv: list[str], seed_files: dict[str, bytes]) -> list[str]:
    """Write the seeds into the first corpus directory on the command line if it is empty."""
    dirs = [a for a in argv[1:] if not a.startswith("-") and not Path(a).is_file()]
    if dirs:
        first = Path(dirs[0])
        first.mkdir(parents=True, exist_ok=True)
        if not any(first.iterdir()):
            for name, blob in seed_files.items():
                (first / name).write_bytes(blob)
            log.info("seeded %s with %d inputs", first, len(seed_files))
    return dirs


def _flag(argv: list[str], name: str, default: str | None = None) -> str | None:
    for a in argv[1:]:
        if a.startswith(f"-{name}="):
            return a.split("=", 1)[1]
    return default


def mutate(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(8)
        pos = rng.randint(0, len(buf))
        if op == 0 and buf:
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:
            buf[rng.randrange(len(buf))] = rng.choice([0, 1, 0x7F, 0x80, 0xC0, 0xC1, 0xFF, rng.randrange(256)])
        elif op == 2:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 3 and buf:
            del buf[pos:pos + rng.randint(1, 16)]
        elif op == 4:
            del buf[rng.randint(0, len(buf)):]
        elif op == 5 and corpus:  # splice
            other = rng.choice(corpus)
            j = rng.randint(0, len(other))
            buf[pos:] = other[j:]
        elif op == 6 and len(buf) >= 8:  # overwrite an integer with an interesting value
            i = rng.randrange(len(buf) - 7)
            buf[i:i + 8] = rng.choice([0, 1, 2**31, 2**32 - 1, 2**63, 2**64 - 1]).to_bytes(8, rng.choice(["little", "big"]))
        elif op == 7 and buf:
            i = rng.randrange(len(buf))
            buf[i:i] = buf[i:i + rng.randint(1, 32)]  # duplicate a chunk
    return bytes(buf)


def run_fallback(argv: list[str], test_one_input: Callable[[bytes], None], seed_files: dict[str, bytes]) -> int:
    """Random mutation over the corpus, for machines without atheris."""
    files = [Path(a) for a in argv[1:] if not a.startswith("-") and Path(a).is_file()]
    if files:  # replay mode, as libFuzzer does for file arguments
        for f in files:
            test_one_input(f.read_bytes())
        log.info("Executed %d inputs", len(files))
        return 0
    dirs = fill_corpus(argv, seed_files)
    corpus = [p.read_bytes() for d in dirs for p in sorted(Path(d).iterdir()) if p.is_file()] or list(seed_files.values())
    runs = int(_flag(argv, "runs") or _flag(argv, "atheris_runs") or -1)
    max_time = float(_flag(argv, "max_total_time", "0") or 0)
    seed = int(_flag(argv, "seed", "0") or 0) or int(time.time())
    prefix = _flag(argv, "artifact_prefix", "./") or "./"
    rng = random.Random(seed)
    log.info("fallback mode (no atheris): seed %d, %d corpus inputs", seed, len(corpus))
    start = time.monotonic()
    n = 0
    while (runs < 0 or n < runs) and not (max_time and time.monotonic() - start >= max_time):
        data = corpus[n] if n < len(corpus) else mutate(rng, rng.choice(corpus), corpus)
        try:
            test_one_input(data)
        except Exception:
            path = f"{prefix}crash-{hashlib.sha1(data).hexdigest()}"
            Path(path).write_bytes(data)
            log.error("==ERROR: uncaught exception; input written to %s", path)
            raise
        n += 1
        if runs < 0 and not max_time and n >= 1_000_000:
            break
    log.info("Done %d runs in %d second(s)", n, int(time.monotonic() - start))
    return 0


def main(test_one_input: Callable[[bytes], None], seed_files: dict[str, bytes]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s: %(message)s")
    if atheris is None:
        return run_fallback(sys.argv, test_one_input, seed_files)
    fill_corpus(sys.argv, seed_files)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(TestOneInput, seeds()))
