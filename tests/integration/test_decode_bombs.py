"""Issue 12 #4: msgpack decode bombs against the real daemon, and a hostile daemon against
the Python client. Ten messages of 4.1 million empty arrays used to stall every client
for 18.8 s; a 1 KB message with a 1000-deep list as `v` stopped the daemon."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
import zmq

from facecast.apps.bench.bombs import decode_bombs
from facecast.client import Client
from facecast.protocol import DEFAULT_MAX_BYTES, DecodeError, Error, ErrorCode, Pong, decode, encode
from tests.integration.daemon_process import start_daemon

log = logging.getLogger(__name__)


def test_decode_bombs_are_refused_and_counted_and_the_good_client_keeps_its_frames(
        default_store, tmp_path: Path):
    d = start_daemon(tmp_path, default_store.root)
    ctx = zmq.Context()
    hostile = ctx.socket(zmq.DEALER)
    hostile.setsockopt(zmq.LINGER, 0)
    hostile.connect(d.endpoint)
    bombs = decode_bombs(DEFAULT_MAX_BYTES)
    try:
        with Client(d.endpoint) as good:
            bound = good.bind("default", width=32, height=32)
            before = good.stats().daemon["counters"]
            refused_as_too_complex = 0
            for name, raw in bombs.items():
                t0 = time.monotonic()
                hostile.send(raw)
                assert hostile.poll(30000), f"{name}: no reply"
                reply = decode(hostile.recv())
                log.info("%s: %d bytes, answered in %.1f ms: %s", name, len(raw),
                         (time.monotonic() - t0) * 1e3, reply)
                assert isinstance(reply, Error), f"{name}: accepted as {reply.TYPE}"
                if reply.code == ErrorCode.MALFORMED:
                    assert reply.message.startswith("too complex"), reply.message
                    refused_as_too_complex += 1
                else:
                    assert reply.code == ErrorCode.UNSUPPORTED_VERSION and name.startswith("v:"), reply
                assert good.render(bound.neutral).image.shape == (32, 32, 4), name
            after = good.stats().daemon["counters"]
        assert refused_as_too_complex == len(bombs) - 1
        assert after.get("decode_bounds_hit", 0) - before.get("decode_bounds_hit", 0) == refused_as_too_complex
    finally:
        hostile.close(0)
        ctx.term()
        assert d.stop() == 0, d.log()


def test_the_client_refuses_a_decode_bomb_from_a_hostile_daemon():
    """A fake daemon answers the client's ping with a pong carrying 4.1 million empty
    arrays: the client raises DecodeError at once instead of building them."""
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    pong = encode(Pong(t_send=1.0, t_server=2.0))
    bomb = decode_bombs(DEFAULT_MAX_BYTES, base=pong)["empty arrays (63 per array)"]
    try:
        with Client(f"tcp://127.0.0.1:{port}", timeout_s=10) as client:
            client.send_raw(b"ping")
            assert router.poll(10000)
            identity, _ = router.recv_multipart()
            router.send_multipart([identity, bomb])
            with pytest.raises(DecodeError) as info:
                client.recv()
            assert info.value.code is ErrorCode.MALFORMED and "too complex" in info.value.detail
    finally:
        router.close(0)
        ctx.term()
