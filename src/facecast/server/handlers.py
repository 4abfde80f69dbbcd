"""The daemon's answers to each decoded request of a session: hello, bind, pose (to the
latest-wins scheduler), npc and audio (NPC sessions, whose poses the daemon generates),
ping, stats, characters, bye. Runs on the I/O thread; a
ProtocolError raised here becomes the error reply (see daemon)."""

from __future__ import annotations

import itertools
import logging
import time
from typing import Sequence

import numpy as np

from facecast import __version__
from facecast.characters.store import CharacterStore
from facecast.config import AppConfig
from facecast.protocol import (
    LANDMARK_FORMATS,
    MAX_AUDIO_CHUNK_BYTES,
    OUTPUT_MODES,
    PIXEL_FORMATS,
    PROTOCOL_VERSION,
    Audio,
    Bind,
    Bound,
    Bye,
    CharacterList,
    Characters,
    ErrorCode,
    Goodbye,
    Hello,
    Message,
    Npc,
    Ping,
    Pong,
    Pose,
    ProtocolError,
    Stats,
    StatsReport,
    Welcome,
)
from facecast.protocol.formats import MAX_FRAME_SIDE, MIN_FRAME_SIDE
from facecast.protocol.shm_layout import PIXEL_FORMAT_CODES, RingLayout
from facecast.protocol.shm_layout import VERSION as RING_VERSION
from facecast.server.blendshape_input import BlendshapeInput
from facecast.server.executor import RenderExecutor
from facecast.server.loaded_characters import LoadedCharacters
from facecast.server.npc_sessions import NpcSessions
from facecast.server.output import FrameOutput, Replies
from facecast.server.render_jobs import OutputSpec, RenderJob
from facecast.server.ring_writer import ShmRingWriter, ring_path
from facecast.server.scheduler import LatestWinsScheduler
from facecast.server.sessions import Binding, Session, SessionTable
from facecast.server.stats import DaemonStats
from facecast.sinks.base import Sink

log = logging.getLogger(__name__)

REQUEST_TYPES = (Hello, Bind, Pose, Audio, Npc, Ping, Stats, Characters, Bye)
SESSION_OPENERS = (Hello, Bind)  # the only requests that create a session


class RequestHandlers:
    """One method per request type; replies go through ``replies``."""

    def __init__(self, config: AppConfig, store: CharacterStore, stats: DaemonStats,
                 sessions: SessionTable, scheduler: LatestWinsScheduler, characters: LoadedCharacters,
                 blendshapes: BlendshapeInput, sinks: Sequence[Sink], replies: Replies,
                 executor: RenderExecutor, output: FrameOutput) -> None:
        self.config = config
        self.store = store
        self.stats = stats
        self.sessions = sessions
        self.scheduler = scheduler
        self.characters = characters
        self.blendshapes = blendshapes
        self.sinks = sinks
        self.replies = replies
        self.executor = executor
        self.output = output
        self._binding_ids = itertools.count(1)
        self.npcs = NpcSessions(config.npc)

    def dispatch(self, session: Session, msg: Message, t_receive: float) -> None:
        env = session.envelope
        if isinstance(msg, Pose):
            self._on_pose(session, msg, t_receive)
        elif isinstance(msg, Audio):
            self._on_audio(session, msg)
        elif isinstance(msg, Npc):
            self._on_npc(session, msg)
        elif isinstance(msg, Hello):
            self._on_hello(session, msg)
        elif isinstance(msg, Bind):
            self._on_bind(session, msg)
        elif isinstance(msg, Ping):
            self.replies.send(env, Pong(t_send=msg.t_send, t_server=time.time(), seq=msg.seq))
        elif isinstance(msg, Stats):
            self.replies.send(env, StatsReport(daemon=self._daemon_stats(), session=session.summary()))
        elif isinstance(msg, Characters):
            self.replies.send(env, CharacterList(characters=self.store.names()))
        elif isinstance(msg, Bye):
            self.end_session(session)
            self.replies.send(env, Goodbye())

    def dispatch_sessionless(self, envelope: list[bytes], msg: Message) -> None:
        """Answer a client that has no session (it never sent hello or bind, or its session
        was reclaimed) without creating one."""
        if isinstance(msg, (Pose, Npc, Audio)):
            raise ProtocolError(ErrorCode.NOT_BOUND, f"send bind before {msg.TYPE}")
        if isinstance(msg, Ping):
            self.replies.send(envelope, Pong(t_send=msg.t_send, t_server=time.time(), seq=msg.seq))
        elif isinstance(msg, Stats):
            no_session = {"id": "", "client": "", "counters": {}}
            self.replies.send(envelope, StatsReport(daemon=self._daemon_stats(), session=no_session))
        elif isinstance(msg, Characters):
            self.replies.send(envelope, CharacterList(characters=self.store.names()))
        elif isinstance(msg, Bye):
            self.replies.send(envelope, Goodbye())

    def _daemon_stats(self) -> dict:
        daemon_stats = self.stats.snapshot(len(self.sessions))
        daemon_stats["characters_loaded"] = self.characters.names()
        daemon_stats["sinks"] = {sink.name: sink.stats() for sink in self.sinks}
        daemon_stats["executor"] = self.executor.describe()
        return daemon_stats

    def end_session(self, session: Session) -> None:
        """Forget the session's pending pose, remove it, close its ring (bye, timeout, stop)."""
        self.scheduler.forget(session.identity)
        self.npcs.stop(session.identity)
        self.sessions.remove(session.identity)
        if session.binding is not None:
            session.binding.close()

    def _on_hello(self, session: Session, msg: Hello) -> None:
        if PROTOCOL_VERSION not in msg.versions:
            raise ProtocolError(ErrorCode.UNSUPPORTED_VERSION,
                                f"client speaks {msg.versions}, daemon speaks [{PROTOCOL_VERSION}]")
        session.client = msg.client
        cfg = self.config
        self.replies.send(session.envelope, Welcome(
            server=f"facecast/{__version__}",
            version=PROTOCOL_VERSION,
            session=session.id,
            capabilities={
                "renderer": self.executor.renderer_name(),
                "inputs": ["landmarks", "blendshapes"] if self.blendshapes.available else ["landmarks"],
                "landmark_formats": list(LANDMARK_FORMATS),
                "pixel_formats": list(PIXEL_FORMATS),
                "outputs": list(OUTPUT_MODES),
                "npc": True,
            },
            limits={
                "max_message_bytes": cfg.server.max_message_bytes,
                "max_batch": cfg.scheduler.max_batch,
                "min_frame_side": MIN_FRAME_SIDE,
                "max_frame_side": MAX_FRAME_SIDE,
                "session_timeout_s": cfg.server.session_timeout_s,
                "max_audio_chunk_bytes": MAX_AUDIO_CHUNK_BYTES,
                "max_audio_buffer_s": cfg.npc.max_audio_buffer_s,
                "max_npc_sessions": cfg.npc.max_sessions,
            },
        ))

    def _on_bind(self, session: Session, msg: Bind) -> None:
        if msg.output not in OUTPUT_MODES:
            raise ProtocolError(ErrorCode.UNSUPPORTED, f"output {msg.output!r} not offered; one of {list(OUTPUT_MODES)}")
        if msg.output == "shm" and msg.pixel_format not in PIXEL_FORMAT_CODES:
            raise ProtocolError(ErrorCode.UNSUPPORTED,
                                f"output 'shm' carries raw pixels: one of {list(PIXEL_FORMAT_CODES)}, "
                                f"not {msg.pixel_format!r}")
        loaded = self.characters.get(msg.character)
        if session.binding is not None:
            session.binding.close()  # a re-bind replaces the old ring
            session.binding = None
        self.npcs.stop(session.identity)  # and ends NPC mode (the NPC was made for the old character)
        ring = None
        if msg.output == "shm":
            ring = ShmRingWriter(f"facecast-{session.id}",
                                 RingLayout(msg.width, msg.height, msg.pixel_format, msg.slots))
            self.stats.count("rings_created")
        wanted = self.config.sinks.character
        to_sinks = bool(self.sinks) and (not wanted or wanted == msg.character)
        spec = OutputSpec(width=msg.width, height=msg.height, pixel_format=msg.pixel_format,
                          jpeg_quality=msg.jpeg_quality, mode=msg.output, to_sinks=to_sinks)
        session.binding = Binding(id=next(self._binding_ids), character=loaded.ref, output=spec,
                                  neutral=loaded.neutral, ring=ring)
        neutral = loaded.neutral
        self.stats.count("binds")
        shm_info = None
        if ring is not None:
            shm_info = {"name": ring.name, "path": ring_path(ring.name), "size": ring.size,
                        "slots": msg.slots, "layout_version": RING_VERSION}
        self.replies.send(session.envelope, Bound(character=msg.character, width=msg.width, height=msg.height,
                                                  pixel_format=msg.pixel_format, output=msg.output,
                                                  neutral=neutral, shm=shm_info))

    def _on_pose(self, session: Session, msg: Pose, t_receive: float) -> None:
        if session.binding is None:
            raise ProtocolError(ErrorCode.NOT_BOUND, "send bind before pose")
        limit = self.config.server.max_poses_per_second
        if limit > 0 and not session.rate.take(limit, t_receive):
            raise ProtocolError(ErrorCode.RATE_LIMITED,
                                f"more than {limit:g} poses per second from this client; slow down")
        b = session.binding
        if msg.landmarks is None:  # blendshapes (+ head): landmarks on the bound character's neutral face
            msg = self.blendshapes.to_landmarks(b.character.name, b.neutral, msg)
            self.stats.count("blendshape_poses")
        self.stats.count("poses")
        session.counters["poses"] += 1
        self._submit(session, msg.seq, msg.landmarks, msg.landmark_format, msg.t_send, t_receive)

    def _on_npc(self, session: Session, msg: Npc) -> None:
        if session.binding is None:
            raise ProtocolError(ErrorCode.NOT_BOUND, "send bind before npc")
        self.replies.send(session.envelope, self.npcs.command(session.identity, msg, session.binding.neutral))
        self.stats.count("npc_requests")

    def _on_audio(self, session: Session, msg: Audio) -> None:
        limit = self.config.server.max_poses_per_second  # audio chunks share the pose rate limit
        if limit > 0 and not session.rate.take(limit, time.time()):
            raise ProtocolError(ErrorCode.RATE_LIMITED, f"more than {limit:g} messages per second from this client")
        try:
            self.npcs.audio(session.identity, msg)
        except ProtocolError:
            self.stats.count("audio_refused")
            raise
        self.stats.count("audio_chunks")
        session.counters["audio_chunks"] += 1

    def tick_npcs(self, now: float) -> None:
        """Render the frames of NPC sessions that are due (the daemon loop calls this)."""
        t = time.time()
        for key, seq, landmarks in self.npcs.due(now):
            session = self.sessions.get(key)
            if session is None or session.binding is None:
                self.npcs.stop(key)
                continue
            self.stats.count("npc_frames")
            session.counters["npc_frames"] += 1
            try:
                self._submit(session, seq, landmarks, "mediapipe478", t, t)
            except Exception as exc:  # as for a request (daemon._handle): never stop the daemon; end this NPC
                log.exception("NPC frame %d of session %s failed; NPC mode ended", seq, session.id)
                self.stats.count("npc_failures")
                self.npcs.stop(key)
                self.replies.error(session.envelope, ProtocolError(ErrorCode.INTERNAL, f"NPC frame failed, NPC mode "
                                   f"ended: {type(exc).__name__}: {exc}"), session, seq=seq, ref="npc")

    def _submit(self, session: Session, seq: int, landmarks: np.ndarray, landmark_format: str, t_send: float,
                t_receive: float) -> None:
        """One pose of a bound session into the render path: rendered at once when that is
        cheap, else to the latest-wins scheduler."""
        b = session.binding
        assert b is not None
        job = RenderJob(key=session.identity, session_id=session.id, binding_id=b.id, seq=seq,
                        character=b.character, landmarks=landmarks, landmark_format=landmark_format,
                        output=b.output, t_send=t_send, t_receive=t_receive)
        result = self.executor.render_now(job)
        if result is not None:  # rendered right here: nothing was queued and renders are cheap
            self.output.deliver(result)
            return
        old = self.scheduler.submit(session.identity, job)
        if old is not None:
            self.stats.count("superseded")
            session.counters["superseded"] += 1
            session.superseded_since_frame += 1
