"""A raw pyzmq ROUTER that answers every message with a fixed reply: the baseline that
`facecast bench bridge` compares the daemon against (same sockets, same bytes, no work).

    python -m facecast.apps.bench.echo --bind tcp://127.0.0.1:0 --reply-bytes 262300 --ready-file F
"""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

import zmq


def serve_echo(bind: str, reply_bytes: int, ready_file: Path | None = None) -> None:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(bind.replace(":0", ":*") if bind.endswith(":0") else bind)
    if ready_file is not None:
        tmp = ready_file.with_suffix(".tmp")
        tmp.write_text(sock.getsockopt(zmq.LAST_ENDPOINT).decode())
        tmp.replace(ready_file)
    reply = bytes(reply_bytes)
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while running:
        if sock.poll(100):
            frames = sock.recv_multipart()
            sock.send_multipart([*frames[:-1], reply])
    sock.close(0)
    ctx.term()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bind", default="tcp://127.0.0.1:0")
    parser.add_argument("--reply-bytes", type=int, required=True)
    parser.add_argument("--ready-file", type=Path)
    args = parser.parse_args()
    serve_echo(args.bind, args.reply_bytes, args.ready_file)


if __name__ == "__main__":
    main()
