"""Issue 12 #3: multipart messages. A request is [routing id, (empty delimiter,) payload];
anything else is refused with MALFORMED and counted, is never echoed back, and never
becomes the envelope a session's frames are sent with. Against the real daemon."""

from __future__ import annotations

from pathlib import Path

import zmq

from facecast.client import Client
from facecast.protocol import Bind, Error, ErrorCode, Ping, Pose, decode, encode
from tests.integration.daemon_process import start_daemon

MIB = 1 << 20


def _reply(sock: zmq.Socket, what: str) -> list[bytes]:
    assert sock.poll(15000), f"{what}: no reply"
    return sock.recv_multipart()


def _refused(frames: list[bytes], what: str, code: ErrorCode = ErrorCode.MALFORMED) -> Error:
    assert len(frames) == 1, f"{what}: the reply has {len(frames)} parts ({sum(map(len, frames))} bytes)"
    msg = decode(frames[0])
    assert isinstance(msg, Error) and msg.code == code, f"{what}: {msg}"
    return msg


def test_multipart_messages_are_refused_never_echoed_and_the_good_client_keeps_its_frames(
        default_store, tmp_path: Path):
    d = start_daemon(tmp_path, default_store.root)
    ctx = zmq.Context()
    socks: list[zmq.Socket] = []

    def socket(kind: int) -> zmq.Socket:
        s = ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(d.endpoint)
        socks.append(s)
        return s

    ping = encode(Ping(t_send=1.0, seq=3))
    try:
        with Client(d.endpoint) as good:
            bound = good.bind("default", width=32, height=32)
            before = good.stats().daemon
            hostile = socket(zmq.DEALER)

            # 20 parts of 1 MiB before a valid ping: was answered with all 19 MiB echoed back
            hostile.send_multipart([bytes(MIB)] * 20 + [ping])
            err = _refused(_reply(hostile, "20 parts"), "20 parts")
            assert "parts" in err.message
            assert good.render(bound.neutral).image.shape == (32, 32, 4)

            # a non-empty "delimiter": three parts, but not the shape a REQ socket sends
            hostile.send_multipart([b"not empty", ping])
            _refused(_reply(hostile, "non-empty delimiter"), "non-empty delimiter")
            assert good.render(bound.neutral).image.shape == (32, 32, 4)

            # a bound session sends a pose with a 1 MiB part in front: its frames used to
            # be sent with that part as their envelope
            owner = socket(zmq.DEALER)
            owner.send(encode(Pose(seq=0, landmarks=bound.neutral)))  # no session: NOT_BOUND
            _reply(owner, "pose before bind")
            owner.send(encode(Bind(character="default", width=32, height=32)))
            assert decode(_reply(owner, "bind")[-1], max_bytes=1 << 30).TYPE == "bound"
            owner.send_multipart([bytes(MIB), encode(Pose(seq=1, landmarks=bound.neutral))])
            _refused(_reply(owner, "pose behind 1 MiB"), "pose behind 1 MiB")
            owner.send(encode(Pose(seq=2, landmarks=bound.neutral)))
            frame = _reply(owner, "plain pose after")
            assert len(frame) == 1 and decode(frame[0], max_bytes=1 << 30).TYPE == "frame"

            # a REQ socket sending two parts: refused, and the reply keeps the delimiter
            # (else the REQ socket would drop it and wait forever)
            req = socket(zmq.REQ)
            req.send_multipart([b"extra", ping])
            _refused(_reply(req, "REQ with two parts"), "REQ with two parts")
            req.send(ping)  # the REQ socket is in step again: a plain request works
            assert decode(_reply(req, "REQ ping")[0]).TYPE == "pong"

            assert good.render(bound.neutral).image.shape == (32, 32, 4)
            after = good.stats().daemon
        refused = after["counters"].get("bad_envelopes", 0) - before["counters"].get("bad_envelopes", 0)
        assert refused == 4
        assert after["errors"].get("MALFORMED", 0) - before["errors"].get("MALFORMED", 0) == 4
    finally:
        for s in socks:
            s.close(0)
        ctx.term()
        assert d.stop() == 0, d.log()


def test_a_part_over_the_hard_limit_drops_only_that_connection(default_store, tmp_path: Path):
    """ZMQ_MAXMSGSIZE (hard_max_message_bytes) bounds each part that libzmq buffers: a part
    over max_message_bytes but within it gets TOO_LARGE; one over it (9 MiB against the
    default 8 MiB) drops the connection without a reply. Other clients carry on."""
    d = start_daemon(tmp_path, default_store.root)
    ctx = zmq.Context()
    try:
        with Client(d.endpoint) as good:
            bound = good.bind("default", width=32, height=32)
            big = ctx.socket(zmq.DEALER)
            big.setsockopt(zmq.LINGER, 0)
            big.connect(d.endpoint)
            big.send(bytes(5 * MIB))
            _refused(_reply(big, "5 MiB"), "5 MiB", ErrorCode.TOO_LARGE)
            huge = ctx.socket(zmq.DEALER)
            huge.setsockopt(zmq.LINGER, 0)
            huge.connect(d.endpoint)
            huge.send(bytes(9 * MIB))
            assert good.render(bound.neutral).image.shape == (32, 32, 4)
            assert not huge.poll(1500), "a part over ZMQ_MAXMSGSIZE got a reply"
            assert good.render(bound.neutral).image.shape == (32, 32, 4)
            big.close(0)
            huge.close(0)
    finally:
        ctx.term()
        assert d.stop() == 0, d.log()
