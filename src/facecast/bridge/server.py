"""The facecast daemon: a ZeroMQ ROUTER that turns pose messages into frame replies.

One I/O thread owns the socket, decodes and validates every message, answers control
messages at once, and hands poses to the latest-wins scheduler; one render thread renders
batches and hands results back (see render_worker). Bad input of any kind gets an error
reply with a code and a counter, and never disturbs another session.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from typing import Any

import zmq

from facecast import __version__
from facecast.bridge.characters import CharacterStore
from facecast.bridge.blendshape_input import BlendshapeInput
from facecast.bridge.endpoints import check_bind_endpoint
from facecast.bridge.loaded_characters import LoadedCharacters
from facecast.curve import CurveError, secure_server
from facecast.bridge.render_worker import PoseJob, RenderResult, RenderWorker
from facecast.bridge.scheduler import LatestWinsScheduler
from facecast.bridge.sessions import Binding, Session, SessionTable
from facecast.bridge.shm_ring import ShmRingWriter, ring_path, stop_resource_tracker
from facecast.bridge.sinks import PublishedFrame, Sink, create_sink
from facecast.bridge.stats import DaemonStats
from facecast.config import AppConfig
from facecast.inference.renderers.base import Renderer, create_renderer, renderer_config_keys
from facecast.protocol import (
    LANDMARK_FORMATS,
    OUTPUT_MODES,
    PIXEL_FORMATS,
    PROTOCOL_VERSION,
    Bind,
    Bound,
    Bye,
    CharacterList,
    Characters,
    DecodeError,
    Error,
    ErrorCode,
    Frame,
    Goodbye,
    Hello,
    Message,
    Ping,
    Pong,
    Pose,
    ProtocolError,
    Stats,
    StatsReport,
    Welcome,
    decode,
    encode,
)
from facecast.protocol.formats import MAX_FRAME_SIDE, MIN_FRAME_SIDE
from facecast.protocol.shm_layout import PIXEL_FORMAT_CODES, RingLayout
from facecast.protocol.shm_layout import VERSION as RING_VERSION

log = logging.getLogger(__name__)

REQUEST_TYPES = (Hello, Bind, Pose, Ping, Stats, Characters, Bye)
_WAKE_ENDPOINT = "inproc://facecast-render-wake-{}"


def make_renderer(config: AppConfig) -> Renderer:
    """The renderer ``[render] renderer`` names, given the ``[render]`` knobs it takes."""
    name = config.render.renderer
    options = {key: getattr(config.render, key) for key in renderer_config_keys(name)}
    return create_renderer(name, **options)


class Daemon:
    """Serve until ``stop()`` (or SIGINT/SIGTERM when run in the main thread)."""

    def __init__(self, config: AppConfig, store: CharacterStore, renderer: Renderer | None = None) -> None:
        self.config = config
        self.store = store
        self.renderer = renderer or make_renderer(config)
        self.stats = DaemonStats()
        self.sessions = SessionTable(config.server.max_sessions)
        self.scheduler = LatestWinsScheduler(config.scheduler.max_batch, config.scheduler.max_wait_ms)
        self._results: queue.SimpleQueue[RenderResult] = queue.SimpleQueue()
        self.sinks: list[Sink] = [create_sink(name, config) for name in config.sinks.enabled]
        self.characters = LoadedCharacters(store, self.renderer, config.server.max_characters, self.stats)
        self.blendshapes = BlendshapeInput()  # the shipped basis; blendshape poses -> landmarks
        self._stop = threading.Event()
        self._bound = threading.Event()
        self.endpoint: str | None = None
        self._ctx = zmq.Context()
        self._router: zmq.Socket | None = None
        self._thread: threading.Thread | None = None
        self._startup_error: BaseException | None = None
        self._auth: Any = None  # the ZAP authenticator thread when CurveZMQ is on

    # ----------------------------------------------------------------- lifecycle
    def bind(self) -> str:
        cfg = self.config.server
        curve = bool(cfg.curve_secret_key)
        if curve and not cfg.curve_clients_dir:
            raise CurveError("CurveZMQ needs an allow-list: set server.curve_clients_dir (--curve-clients DIR)")
        endpoint = check_bind_endpoint(cfg.bind, curve=curve)
        router = self._ctx.socket(zmq.ROUTER)
        if curve:
            self._auth = secure_server(self._ctx, router, cfg.curve_secret_key, cfg.curve_clients_dir)
        router.setsockopt(zmq.LINGER, 0)
        router.setsockopt(zmq.RCVHWM, cfg.rcv_hwm)
        router.setsockopt(zmq.SNDHWM, cfg.snd_hwm)
        router.setsockopt(zmq.MAXMSGSIZE, cfg.hard_max_message_bytes)
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)  # so replies that cannot be delivered are counted
        if endpoint.startswith("tcp://["):
            router.setsockopt(zmq.IPV6, 1)
        try:
            router.bind(endpoint)
        except zmq.ZMQError as exc:
            router.close(linger=0)
            if self._auth is not None:
                self._auth.stop()
            raise OSError(f"cannot bind {endpoint}: {exc.strerror} (another daemon on that port?)") from None
        self._router = router
        self.endpoint = router.getsockopt(zmq.LAST_ENDPOINT).decode()
        log.info("facecast daemon %s listening on %s (renderer %s, max_batch %d, max_wait %.1f ms)",
                 __version__, self.endpoint, self.renderer.name, self.config.scheduler.max_batch,
                 self.config.scheduler.max_wait_ms)
        return self.endpoint

    def stop(self) -> None:
        self._stop.set()

    def serve_forever(self, install_signal_handlers: bool = False) -> None:
        if self._router is None:
            self.bind()
        if install_signal_handlers:
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda signum, _frame: (log.info("signal %d: shutting down", signum), self.stop()))
        wake_id = _WAKE_ENDPOINT.format(id(self))
        wake_pull = self._ctx.socket(zmq.PULL)
        wake_pull.setsockopt(zmq.LINGER, 0)
        wake_pull.bind(wake_id)
        wake_push = self._ctx.socket(zmq.PUSH)  # used only by the render thread after start
        wake_push.setsockopt(zmq.LINGER, 0)
        wake_push.setsockopt(zmq.SNDHWM, 1)
        wake_push.connect(wake_id)

        def wake() -> None:
            try:
                wake_push.send(b"", zmq.NOBLOCK)
            except zmq.Again:  # a wake-up is already waiting; that one suffices
                pass

        started: list[Sink] = []
        worker = RenderWorker(self.renderer, self.scheduler, self.stats, self._results, wake)
        try:
            for sink in self.sinks:
                sink.start()
                started.append(sink)
                log.info("sink %s started", sink.name)
            worker.start()
            self._bound.set()
            self._loop(wake_pull)
        finally:
            worker.stop()
            if worker.is_alive():
                worker.join(timeout=5.0)
            for sink in started:
                sink.close()
            for session in self.sessions.all():
                self._end_session(session)
            if self.stats.counters.get("rings_created"):
                stop_resource_tracker()
            for sock in (wake_push, wake_pull, self._router):
                if sock is not None:
                    sock.close(linger=0)
            if self._auth is not None:
                self._auth.stop()
            self._ctx.term()
            self.renderer.close()
            log.info("facecast daemon stopped; %s", self.stats.snapshot(len(self.sessions))["counters"])

    def start_in_thread(self) -> str:
        """Bind, serve in a background thread, and return the endpoint (for demo and tests)."""
        endpoint = self.bind()

        def run() -> None:
            try:
                self.serve_forever()
            except BaseException as exc:  # reported to the starter, then re-raised in the thread
                self._startup_error = exc
                self._bound.set()
                raise

        self._thread = threading.Thread(target=run, name="facecast-daemon", daemon=True)
        self._thread.start()
        self._bound.wait(timeout=10.0)
        if self._startup_error is not None:
            raise RuntimeError("daemon failed to start") from self._startup_error
        return endpoint

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # ----------------------------------------------------------------- I/O loop
    def _loop(self, wake_pull: zmq.Socket) -> None:
        assert self._router is not None
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(wake_pull, zmq.POLLIN)
        next_log = time.monotonic() + self.config.server.stats_interval_s
        while not self._stop.is_set():
            events = dict(poller.poll(100))
            if wake_pull in events:
                while True:
                    try:
                        wake_pull.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
            self._send_results()
            if self._router in events:
                for _ in range(256):  # bounded, so results are not starved by a flood
                    try:
                        frames = self._router.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    self._handle(frames)
            now = time.monotonic()
            if now >= next_log:
                next_log = now + self.config.server.stats_interval_s
                self._periodic()

    def _periodic(self) -> None:
        fps, lat = self.stats.interval()
        if lat.get("count"):
            log.info("%.1f fps, %d sessions, latency p50 %.1f ms p99 %.1f ms", fps, len(self.sessions),
                     lat["p50_ms"], lat["p99_ms"])
        for session in self.sessions.expired(self.config.server.session_timeout_s):
            log.info("session %s timed out", session.id)
            self._end_session(session)
            self.stats.count("sessions_timed_out")

    def _send(self, envelope: list[bytes], message: Message) -> None:
        assert self._router is not None
        try:
            self._router.send_multipart([*envelope, encode(message)], zmq.NOBLOCK)
        except zmq.Again:  # the peer is not reading: its queue is at the high-water mark
            self.stats.count("replies_dropped_full")
        except zmq.ZMQError as exc:
            if exc.errno != zmq.EHOSTUNREACH:
                raise
            self.stats.count("replies_dropped_gone")  # the peer disconnected

    def _reply_error(self, envelope: list[bytes], err: ProtocolError, session: Session | None,
                     seq: int | None = None, ref: str | None = None) -> None:
        self.stats.error(err.code.name)
        if session is not None:
            session.counters["errors"] += 1
        self._send(envelope, Error.from_exception(err, seq=seq, ref=ref))

    def _send_results(self) -> None:
        while True:
            try:
                result = self._results.get_nowait()
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
                self._reply_error(session.envelope, result.error, session, seq=pose.seq, ref="pose")
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
            self._send(session.envelope, frame)
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

    # ----------------------------------------------------------------- messages
    def _handle(self, frames: list[bytes]) -> None:
        t_receive = time.time()
        self.stats.count("messages")
        if len(frames) < 2:
            return
        identity, envelope, payload = frames[0], frames[:-1], frames[-1]
        session = self.sessions.get_or_create(identity, envelope)
        if session is None:  # refused; name the request it answers so the client can match the reply
            ref = seq = None
            try:
                refused = decode(payload, self.config.server.max_message_bytes)
                ref, seq = refused.TYPE, getattr(refused, "seq", None)
            except DecodeError as err:
                ref, seq = err.msg_type, err.seq
            self._reply_error(envelope, ProtocolError(ErrorCode.SESSION_LIMIT,
                              f"the daemon already has {self.sessions.max_sessions} sessions"), None,
                              seq=seq, ref=ref)
            return
        try:
            msg = decode(payload, self.config.server.max_message_bytes)
        except DecodeError as err:
            self._reply_error(envelope, err, session, seq=err.seq, ref=err.msg_type)
            return
        if not isinstance(msg, REQUEST_TYPES):
            self._reply_error(envelope, ProtocolError(ErrorCode.UNKNOWN_TYPE,
                              f"{msg.TYPE!r} is sent by the daemon, not a request"), session, ref=msg.TYPE)
            return
        try:
            self._dispatch(session, msg, t_receive)
        except ProtocolError as err:
            self._reply_error(envelope, err, session, seq=getattr(msg, "seq", None), ref=msg.TYPE)
        except Exception as exc:  # a bug or an unreadable file must not stop the daemon
            log.exception("internal error handling %s", msg.TYPE)
            self._reply_error(envelope, ProtocolError(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}"), session,
                              seq=getattr(msg, "seq", None), ref=msg.TYPE)

    def _dispatch(self, session: Session, msg: Message, t_receive: float) -> None:
        env = session.envelope
        if isinstance(msg, Pose):
            self._on_pose(session, msg, t_receive)
        elif isinstance(msg, Hello):
            self._on_hello(session, msg)
        elif isinstance(msg, Bind):
            self._on_bind(session, msg)
        elif isinstance(msg, Ping):
            self._send(env, Pong(t_send=msg.t_send, t_server=time.time(), seq=msg.seq))
        elif isinstance(msg, Stats):
            daemon_stats = self.stats.snapshot(len(self.sessions))
            daemon_stats["characters_loaded"] = self.characters.names()
            daemon_stats["sinks"] = {sink.name: sink.stats() for sink in self.sinks}
            self._send(env, StatsReport(daemon=daemon_stats, session=session.summary()))
        elif isinstance(msg, Characters):
            self._send(env, CharacterList(characters=self.store.names()))
        elif isinstance(msg, Bye):
            self._end_session(session)
            self._send(env, Goodbye())

    def _on_hello(self, session: Session, msg: Hello) -> None:
        if PROTOCOL_VERSION not in msg.versions:
            raise ProtocolError(ErrorCode.UNSUPPORTED_VERSION,
                                f"client speaks {msg.versions}, daemon speaks [{PROTOCOL_VERSION}]")
        session.client = msg.client
        cfg = self.config
        self._send(session.envelope, Welcome(
            server=f"facecast/{__version__}",
            version=PROTOCOL_VERSION,
            session=session.id,
            capabilities={
                "renderer": self.renderer.name,
                "inputs": ["landmarks", "blendshapes"] if self.blendshapes.available else ["landmarks"],
                "landmark_formats": list(LANDMARK_FORMATS),
                "pixel_formats": list(PIXEL_FORMATS),
                "outputs": list(OUTPUT_MODES),
            },
            limits={
                "max_message_bytes": cfg.server.max_message_bytes,
                "max_batch": cfg.scheduler.max_batch,
                "min_frame_side": MIN_FRAME_SIDE,
                "max_frame_side": MAX_FRAME_SIDE,
                "session_timeout_s": cfg.server.session_timeout_s,
            },
        ))

    def _on_bind(self, session: Session, msg: Bind) -> None:
        if msg.output not in OUTPUT_MODES:
            raise ProtocolError(ErrorCode.UNSUPPORTED, f"output {msg.output!r} not offered; one of {list(OUTPUT_MODES)}")
        if msg.output == "shm" and msg.pixel_format not in PIXEL_FORMAT_CODES:
            raise ProtocolError(ErrorCode.UNSUPPORTED,
                                f"output 'shm' carries raw pixels: one of {list(PIXEL_FORMAT_CODES)}, "
                                f"not {msg.pixel_format!r}")
        handle, neutral = self.characters.get(msg.character)
        if session.binding is not None:
            session.binding.close()  # a re-bind replaces the old ring
            session.binding = None
        ring = None
        if msg.output == "shm":
            ring = ShmRingWriter(f"facecast-{session.id}",
                                 RingLayout(msg.width, msg.height, msg.pixel_format, msg.slots))
            self.stats.count("rings_created")
        session.binding = Binding(character=msg.character, width=msg.width, height=msg.height,
                                  pixel_format=msg.pixel_format, output=msg.output,
                                  jpeg_quality=msg.jpeg_quality, handle=handle, neutral=neutral, ring=ring)
        self.stats.count("binds")
        shm_info = None
        if ring is not None:
            shm_info = {"name": ring.name, "path": ring_path(ring.name), "size": ring.size,
                        "slots": msg.slots, "layout_version": RING_VERSION}
        self._send(session.envelope, Bound(character=msg.character, width=msg.width, height=msg.height,
                                           pixel_format=msg.pixel_format, output=msg.output, neutral=neutral,
                                           shm=shm_info))

    def _on_pose(self, session: Session, msg: Pose, t_receive: float) -> None:
        if session.binding is None:
            raise ProtocolError(ErrorCode.NOT_BOUND, "send bind before pose")
        limit = self.config.server.max_poses_per_second
        if limit > 0 and not session.rate.take(limit, t_receive):
            raise ProtocolError(ErrorCode.RATE_LIMITED,
                                f"more than {limit:g} poses per second from this client; slow down")
        if msg.landmarks is None:  # blendshapes (+ head): landmarks on the bound character's neutral face
            b = session.binding
            msg = self.blendshapes.to_landmarks(b.character, b.neutral, msg)
            self.stats.count("blendshape_poses")
        self.stats.count("poses")
        session.counters["poses"] += 1
        old = self.scheduler.submit(session.identity,
                                    PoseJob(session.identity, session.id, session.binding, msg, t_receive))
        if old is not None:
            self.stats.count("superseded")
            session.counters["superseded"] += 1
            session.superseded_since_frame += 1

    def _end_session(self, session: Session) -> None:
        self.scheduler.forget(session.identity)
        self.sessions.remove(session.identity)
        if session.binding is not None:
            session.binding.close()
