"""What goes back out of the daemon: replies on the ROUTER socket, and render results turned
into frames — inline pixels or a shared-memory ring slot plus a notice, the session's
superseded count, and a copy to the daemon-wide sinks. Runs on the I/O thread."""

from __future__ import annotations

import queue
import time
from typing import Sequence

import zmq

from facecast.config import AppConfig
from facecast.protocol import Error, Frame, Message, ProtocolError, encode
from facecast.server.render_worker import RenderResult
from facecast.server.scheduler import LatestWinsScheduler
from facecast.server.sessions import Session, SessionTable
from facecast.server.stats import DaemonStats
from facecast.sinks.base import PublishedFrame, Sink


class Replies:
    """Sends on the daemon's ROUTER socket without ever blocking the I/O thread: a reply to
    a peer that is not reading (high-water mark) or gone is dropped and counted."""

    def __init__(self, stats: DaemonStats) -> None:
        self.stats = stats
        self.router: zmq.Socket | None = None  # set once the daemon is bound

    def send(self, envelope: list[bytes], message: Message) -> None:
        assert self.router is not None
        try:
            self.router.send_multipart([*envelope, encode(message)], zmq.NOBLOCK)
        except zmq.Again:  # the peer is not reading: its queue is at the high-water mark
            self.stats.count("replies_dropped_full")
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EHOSTUNREACH:
                raise
            self.stats.count("replies_dropped_gone")  # the peer disconnected

    def error(self, envelope: list[bytes], err: ProtocolError, session: Session | None,
              seq: int | None = None, ref: str | None = None) -> None:
        """An error reply with ``err``'s code; counted per code and against ``session``."""
        self.stats.error(err.code.name)
        if session is not None:
            session.counters["errors"] += 1
        self.send(envelope, Error.from_exception(err, seq=seq, ref=ref))


class FrameOutput:
    """Drains the render worker's results: each becomes a frame reply (or an error reply)
    to a session that is still there and still bound as the job was, and goes to the sinks."""

    def __init__(self, config: AppConfig, sessions: SessionTable, scheduler: LatestWinsScheduler,
                 stats: DaemonStats, sinks: Sequence[Sink], replies: Replies) -> None:
        self.config = config
        self.sessions = sessions
        self.scheduler = scheduler
        self.stats = stats
        self.sinks = sinks
        self.replies = replies
        self.results: queue.SimpleQueue[RenderResult] = queue.SimpleQueue()  # filled by the render thread

    def drain(self) -> None:
        while True:
            try:
                result = self.results.get_nowait()
            except queue.Empty:
                return
            self.scheduler.done(result.identity)
            session = self.sessions.get(result.identity)
            b = result.job.binding
            if session is None or session.id != result.job.session_id or (b.ring is not None and b is not session.binding):
                self.stats.count("frames_orphaned")  # the session ended or re-bound its ring meanwhile
                continue
            pose = result.job.pose
            if result.error is not None:
                self.replies.error(session.envelope, result.error, session, seq=pose.seq, ref="pose")
                continue
            slot = slot_seq = None
            if b.ring is not None and result.rgba is not None:
                slot, slot_seq = b.ring.write(result.rgba, pose.seq, result.timings["render_end"])
            result.timings["reply"] = time.time()
            frame = Frame(seq=pose.seq, character=b.character, width=b.width, height=b.height,
                          pixel_format=b.pixel_format, data=result.data or b"", timings=result.timings,
                          superseded=session.superseded_since_frame, slot=slot, slot_seq=slot_seq)
            session.superseded_since_frame = 0
            session.counters["frames"] += 1
            self.replies.send(session.envelope, frame)
            self.stats.frame_sent(result.timings)
            self._publish(session, result)

    def _publish(self, session: Session, result: RenderResult) -> None:
        wanted = self.config.sinks.character
        if not self.sinks or result.rgba is None or (wanted and wanted != result.job.binding.character):
            return
        published = PublishedFrame(rgba=result.rgba, character=result.job.binding.character, session=session.id,
                                   seq=result.job.pose.seq, render_end=result.timings["render_end"])
        for sink in self.sinks:
            sink.publish(published)
