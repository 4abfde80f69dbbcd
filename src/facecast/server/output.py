"""What goes back out of the daemon: replies on the ROUTER socket, and render results turned
into frames — inline pixels or a shared-memory ring slot plus a notice, the session's
superseded count, and a copy to the daemon-wide sinks. Runs on the I/O thread."""

from __future__ import annotations

import logging
import queue
import time
from typing import Any, Callable, Sequence

import numpy as np
import zmq

from facecast.config import AppConfig
from facecast.core.pixels import write_raw_pixels
from facecast.protocol import RAW_PIXEL_FORMATS, Error, ErrorCode, Frame, Message, ProtocolError, encode, encode_with_blob
from facecast.server.render_jobs import OutputSpec, RenderJob, RenderResult
from facecast.server.reply_budget import HeldFrame, ReplyBudget
from facecast.server.ring_writer import RingTruncated
from facecast.server.scheduler import LatestWinsScheduler
from facecast.server.sessions import Session, SessionTable
from facecast.server.stats import DaemonStats
from facecast.sinks.base import PublishedFrame, Sink

log = logging.getLogger(__name__)




# Reply buffers kept for reuse, one per frame size: at most 4, each at most 8 MiB (a
# 1448² RGBA frame), so they never hold more than 32 MiB; larger frames get fresh buffers.
_KEPT_PAYLOADS = 4
_KEPT_PAYLOAD_BYTES = 8 << 20


def _reply_bytes(spec: OutputSpec, data: bytes | None) -> int:
    """About how many bytes a frame reply for ``spec`` takes (its pixels or encoded data)."""
    if spec.mode == "inline" and not spec.encoded:
        return spec.width * spec.height * RAW_PIXEL_FORMATS[spec.pixel_format]
    return len(data or b"")


class Replies:
    """Sends on the daemon's ROUTER socket without ever blocking the I/O thread: a reply to
    a peer that is not reading (high-water mark) or gone is dropped and counted."""

    def __init__(self, stats: DaemonStats) -> None:
        self.stats = stats
        self.router: zmq.Socket | None = None  # set once the daemon is bound
        # Peers a reply found gone (disconnected) since the daemon last looked (``take_gone``);
        # NPC sessions, which only receive, are kept past the silence timeout unless here.
        self._gone: set[bytes] = set()

    def send(self, envelope: list[bytes], message: Message) -> None:
        self.send_payload(envelope, encode(message))

    def send_payload(self, envelope: list[bytes], payload: bytes | bytearray, track: bool = False) -> Any:
        """Send an encoded message; True when ZeroMQ took it, False when it was dropped.

        ZeroMQ copies it before this returns (a zero-copy send measured slower: pyzmq frees
        such buffers from another thread, which then needs the GIL), so the caller may reuse
        ``payload`` at once; except with ``track``: then it is sent zero-copy and the result
        is a ``zmq.MessageTracker`` (done once it has left), and ``payload`` must not change."""
        assert self.router is not None
        try:
            if track:
                return self.router.send_multipart([*envelope, payload], zmq.NOBLOCK, copy=False, track=True)
            self.router.send_multipart([*envelope, payload], zmq.NOBLOCK, copy=True)
            return True
        except zmq.Again:  # the peer is not reading: its queue is at the high-water mark
            self.stats.count("replies_dropped_full")
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EHOSTUNREACH:
                raise
            self.stats.count("replies_dropped_gone")  # the peer disconnected
            if len(self._gone) < 65536:
                self._gone.add(envelope[0])
        return False

    def take_gone(self) -> set[bytes]:
        """Identities of peers found gone since the last call."""
        gone, self._gone = self._gone, set()
        return gone

    def error(self, envelope: list[bytes], err: ProtocolError, session: Session | None,
              seq: int | None = None, ref: str | None = None) -> None:
        """An error reply with ``err``'s code; counted per code and against ``session``."""
        self.stats.error(err.code.name)
        if session is not None:
            session.counters["errors"] += 1
        self.send(envelope, Error.from_exception(err, seq=seq, ref=ref))


class FrameOutput:
    """Sends render results out: each becomes a frame reply (or an error reply) to a
    session that is still there and, for ring output, still bound as the job was; and goes
    to the sinks. Lanes put results in ``results`` (any thread); ``drain`` runs on the I/O
    thread."""

    def __init__(self, config: AppConfig, sessions: SessionTable, scheduler: LatestWinsScheduler,
                 stats: DaemonStats, sinks: Sequence[Sink], replies: Replies) -> None:
        self.config = config
        self.sessions = sessions
        self.scheduler = scheduler
        self.stats = stats
        self.sinks = sinks
        self.replies = replies
        self.results: queue.SimpleQueue[RenderResult] = queue.SimpleQueue()  # filled by the render lanes
        self._payloads: dict[int, bytearray] = {}  # reply buffers by pixel bytes, reused (no fresh pages)
        self._holding: dict[bytes, Session] = {}  # sessions with a frame held back (reply_budget.py)
        self.end_session: Callable[[Session], None] | None = None  # set by the daemon (handlers.end_session)

    def _keep_payload(self, nbytes: int, payload: bytearray) -> None:
        if len(payload) > _KEPT_PAYLOAD_BYTES:
            return
        self._payloads.pop(nbytes, None)
        self._payloads[nbytes] = payload  # most recent last
        while len(self._payloads) > _KEPT_PAYLOADS:
            del self._payloads[next(iter(self._payloads))]

    def drain(self) -> None:
        while True:
            try:
                result = self.results.get_nowait()
            except queue.Empty:
                return
            try:
                self.deliver(result)
            except Exception as exc:  # noqa: BLE001 - a bug here must not stop the daemon
                log.exception("internal error delivering seq %d", result.job.seq)
                self.stats.count("internal_errors")
                session = self.sessions.get(result.job.key)
                if session is not None:
                    self.replies.error(session.envelope, ProtocolError(
                        ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}"), session, seq=result.job.seq, ref="pose")

    def deliver(self, result: RenderResult) -> None:
        """Send one result (I/O thread): the frame, or the error it got."""
        job = result.job
        spec = job.output
        session = self.sessions.get(job.key)
        if result.outcome.superseded:  # no longer in flight (the scheduler already let it go)
            if session is not None and session.id == job.session_id:
                session.superseded_since_frame += 1
                session.counters["superseded"] += 1
                self.stats.count("superseded")
            return
        self.scheduler.done(job.key)
        b = session.binding if session is not None else None
        ring_job = spec.mode == "shm"  # rendered for a ring: only that very binding's ring takes it
        # An inline frame may go to a later binding of the session only if that one wants the
        # same output: a re-bind to another size or format meanwhile would not fit its reply.
        rebound = b is None or (b.id != job.binding_id and (ring_job or b.output != spec))
        if session is None or session.id != job.session_id or rebound:
            self.stats.count("frames_orphaned")  # the session ended or re-bound meanwhile
            return
        err = result.outcome.error()
        rgba = result.outcome.rgba
        if err is None and not spec.encoded and (rgba is None or rgba.shape[:2] != (spec.height, spec.width)):
            err = ProtocolError(ErrorCode.RENDER_FAILED, f"the renderer returned a frame of "
                                f"{getattr(rgba, 'shape', None)}, not {spec.height} x {spec.width}")
        if err is not None:
            self.replies.error(session.envelope, err, session, seq=job.seq, ref="pose")
            return
        timings = result.timings()
        slot = slot_seq = None
        if ring_job and b is not None and b.ring is not None:
            try:
                slot, slot_seq = b.ring.write(rgba, job.seq, timings["render_end"])
            except RingTruncated as exc:  # another process broke this session's ring: end it alone
                self.stats.count("rings_truncated")
                self.replies.error(session.envelope, ProtocolError(ErrorCode.INTERNAL, f"{exc}; bind again"),
                                   session, seq=job.seq, ref="pose")
                if self.end_session is not None:
                    self.end_session(session)
                return
        timings["reply"] = time.time()
        self._publish(session, job.character.name, job.seq, rgba, timings["render_end"])
        if spec.mode == "shm":  # a notice of a few hundred bytes: the high-water mark bounds these
            self._send_frame(session, job, rgba, result.outcome.data, timings, slot, slot_seq)
            return
        budget = self._budget(session)
        if budget.held is None and budget.fits(_reply_bytes(spec, result.outcome.data)):
            self._send_frame(session, job, rgba, result.outcome.data, timings, slot, slot_seq)
            return
        # The peer is not keeping up: hold this frame (latest-wins) until its queue drains.
        if budget.held is not None:
            session.superseded_since_frame += budget.held.superseded + 1
            self._dropped_slow(session)
        payload = self._encode(session, job, rgba, result.outcome.data, timings, slot, slot_seq, reuse=False)
        budget.held = HeldFrame(bytes(payload), session.superseded_since_frame, timings)
        session.superseded_since_frame = 0
        self._holding[session.identity] = session

    def _budget(self, session: Session) -> ReplyBudget:
        if session.replies is None:
            session.replies = ReplyBudget(self.config.server.max_queued_reply_bytes)
        return session.replies

    def _dropped_slow(self, session: Session) -> None:
        session.counters["frames_dropped_slow"] += 1
        self.stats.count("frames_dropped_slow")

    def _encode(self, session: Session, job: RenderJob, rgba: np.ndarray | None, data: bytes | None,
                timings: dict[str, float], slot: int | None, slot_seq: int | None, reuse: bool) -> bytes | bytearray:
        """The frame reply for ``job``, as the job asked for it (the session may have bound
        another size or format since)."""
        spec = job.output
        frame = Frame(seq=job.seq, character=job.character.name, width=spec.width, height=spec.height,
                      pixel_format=spec.pixel_format, data=data or b"", timings=timings,
                      superseded=session.superseded_since_frame, slot=slot, slot_seq=slot_seq)
        if spec.mode == "inline" and not spec.encoded:  # raw pixels: written once, into the reply
            nbytes = spec.width * spec.height * RAW_PIXEL_FORMATS[spec.pixel_format]
            payload, hole = encode_with_blob(frame, "data", nbytes, self._payloads.get(nbytes) if reuse else None)
            write_raw_pixels(rgba, spec.pixel_format, hole)
            return payload
        return encode(frame)

    def _send_frame(self, session: Session, job: RenderJob, rgba: np.ndarray | None, data: bytes | None,
                    timings: dict[str, float], slot: int | None, slot_seq: int | None) -> None:
        spec = job.output
        raw_inline = spec.mode == "inline" and not spec.encoded
        # A probe is sent zero-copy, so it must not be a buffer kept for reuse.
        track = spec.mode != "shm" and self._budget(session).probe_next(_reply_bytes(spec, data))
        payload = self._encode(session, job, rgba, data, timings, slot, slot_seq, reuse=raw_inline and not track)
        self._send(session, payload, timings, track)
        if raw_inline and not track and isinstance(payload, bytearray):
            # ZeroMQ copied it: reusable at once
            self._keep_payload(spec.width * spec.height * RAW_PIXEL_FORMATS[spec.pixel_format], payload)

    def _send(self, session: Session, payload: bytes | bytearray, timings: dict[str, float], track: bool) -> None:
        sent = self.replies.send_payload(session.envelope, payload, track=track)
        if sent is not False:
            self._budget(session).record(len(payload), sent if track else None)
        session.superseded_since_frame = 0
        session.counters["frames"] += 1
        self.stats.frame_sent(timings)

    def flush_held(self) -> None:
        """Send held frames whose sessions' queues have drained (I/O thread, every loop)."""
        for key, session in list(self._holding.items()):
            budget = session.replies
            if budget is None or budget.held is None or self.sessions.get(key) is not session:
                del self._holding[key]
                continue
            held = budget.held
            if not budget.fits(len(held.payload)):
                continue
            budget.held = None
            del self._holding[key]
            held.timings["reply"] = time.time()
            self._send(session, held.payload, held.timings, track=True)

    def holding(self) -> bool:
        return bool(self._holding)

    def _publish(self, session: Session, character: str, seq: int, rgba: np.ndarray | None, render_end: float) -> None:
        wanted = self.config.sinks.character
        if not self.sinks or rgba is None or (wanted and wanted != character):
            return
        published = PublishedFrame(rgba=rgba, character=character, session=session.id, seq=seq,
                                   render_end=render_end)
        for sink in self.sinks:
            sink.publish(published)
