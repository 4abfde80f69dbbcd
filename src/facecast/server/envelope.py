"""One request off the daemon's ROUTER socket, checked for the shape protocol v1 uses
(docs/protocol.md, section 1): ``[routing id, payload]`` from a DEALER, ``[routing id,
empty delimiter, payload]`` from a REQ socket. Anything else (more parts, a delimiter
that is not empty) is refused without copying any of it, and the reply goes out behind
the routing id (and the empty delimiter, for a REQ peer) only: no part a client sent is
ever echoed back or kept as a session's envelope, so an envelope is at most 255 bytes
(ZeroMQ's limit on routing ids) plus the delimiter.

libzmq hands a multipart message over only once all of its parts have arrived, and
``ZMQ_MAXMSGSIZE`` bounds each part, not their number: what a hostile message costs before
it gets here is documented in docs/protocol.md, section 9.
"""

from __future__ import annotations

from dataclasses import dataclass

import zmq

from facecast.protocol import ErrorCode, ProtocolError
from facecast.transport.allow_list import peer_key

MAX_PARTS = 3  # routing id, empty delimiter (REQ peers only), payload
_NOTHING = memoryview(b"")


@dataclass(frozen=True)
class Request:
    """``envelope``: what a reply to it goes out behind. ``payload``: the last part, not
    copied out of ZeroMQ's buffer (empty when refused). ``refusal``: why it is not a
    request, for the error reply."""

    identity: bytes
    envelope: list[bytes]
    payload: memoryview
    refusal: ProtocolError | None = None
    sender_key: str | None = None  # the sender's CurveZMQ public key (Z85), when asked for


def receive_request(router: zmq.Socket, with_key: bool = False) -> Request | None:
    """The next message on ``router`` as a Request (raises ``zmq.Again`` when none is
    waiting; None for a message without a payload part). Parts beyond the protocol's are
    received one by one without a copy and dropped. ``with_key``: fill ``sender_key``
    (every part carries the ZAP User-Id)."""
    first = router.recv(zmq.NOBLOCK, copy=False)
    identity = first.bytes
    key = peer_key(first) if with_key else None
    parts: list[zmq.Frame] = []
    more, count = first.more, 1
    while more:  # the rest of the message is already here: libzmq delivers whole messages
        frame = router.recv(copy=False)
        more = frame.more
        count += 1
        if count <= MAX_PARTS:
            parts.append(frame)
    if not parts:
        return None
    req_peer = len(parts) >= 2 and len(parts[0]) == 0
    envelope = [identity, b""] if req_peer else [identity]
    if count > MAX_PARTS:
        return Request(identity, envelope, _NOTHING, ProtocolError(
            ErrorCode.MALFORMED, f"a message of {count} parts: a request is [routing id, "
                                 "(empty delimiter,) payload]; send one payload part"), key)
    if len(parts) == 2 and not req_peer:
        return Request(identity, envelope, _NOTHING, ProtocolError(
            ErrorCode.MALFORMED, f"a part of {len(parts[0])} bytes before the payload: only a REQ "
                                 "socket's empty delimiter may come before it; send one payload part"), key)
    return Request(identity, envelope, parts[-1].buffer, None, key)
