"""Revocation for a CurveZMQ daemon: every message's sender is checked against the current
allow-list, and sessions of keys removed from it end.

ZeroMQ authenticates a client only at its handshake, so a client whose key is removed from
the allow-list folder keeps its open connection. The guard closes that gap on the I/O
thread: each message (received with ``copy=False``, so it carries the ZAP ``User-Id``,
the sender's Z85 public key) costs one set lookup; a refused one gets a ``KEY_REVOKED``
error reply, is counted (``messages_refused_revoked``) and is otherwise ignored, and ends
its sender's session. When ``poll`` finds the folder changed, the sessions of the removed
keys end at once (``sessions_revoked``), so a silent client stops getting frames too.
"""

from __future__ import annotations

import logging
from typing import Callable

from facecast.protocol import ErrorCode, ProtocolError
from facecast.server.envelope import Request
from facecast.server.output import Replies
from facecast.server.sessions import Session, SessionTable
from facecast.server.stats import DaemonStats
from facecast.transport.allow_list import AllowList

log = logging.getLogger(__name__)

_REVOKED = "this client's CurveZMQ key is no longer in the daemon's allow-list"


class CurveGuard:
    def __init__(self, allow: AllowList, sessions: SessionTable, stats: DaemonStats, replies: Replies,
                 end_session: Callable[[Session], None]) -> None:
        self.allow = allow
        self.sessions = sessions
        self.stats = stats
        self.replies = replies
        self.end_session = end_session

    def receive(self, request: Request, handle: Callable[[Request], None]) -> None:
        """``handle`` the request if its sender is still allowed; else refuse it."""
        key = request.sender_key
        if not self.allow.admits(key):
            self._refuse(request)
            return
        handle(request)
        session = self.sessions.get(request.identity)
        if session is not None and key is not None:
            session.peer_key = key

    def poll(self) -> None:
        """Re-read the allow-list if due (or asked by SIGHUP); end the sessions of removed keys."""
        removed = self.allow.poll()
        if not removed:
            return
        for session in self.sessions.all():
            if session.peer_key.encode("ascii", "replace") in removed:
                self._end(session, "its key was removed from the allow-list")

    def _refuse(self, request: Request) -> None:
        self.stats.count("messages")
        self.stats.count("messages_refused_revoked")
        session = self.sessions.get(request.identity)
        if session is not None:
            self._end(session, "it sent a message with a revoked key")
        self.replies.error(request.envelope, ProtocolError(ErrorCode.KEY_REVOKED, _REVOKED), None)

    def _end(self, session: Session, why: str) -> None:
        log.info("session %s (client %r) ended: %s", session.id, session.client, why)
        self.end_session(session)
        self.stats.count("sessions_revoked")
