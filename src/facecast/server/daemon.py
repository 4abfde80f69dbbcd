"""The facecast daemon: a ZeroMQ ROUTER that turns pose messages into frame replies.

One I/O thread owns the socket: it decodes and validates every message, answers requests
(handlers) and hands poses to the latest-wins scheduler; the executor's lanes render
batches (render threads, or Ray actors) and hand results back, which the I/O thread sends
out (output). Bad input of any kind gets an error reply with a code and a counter, and
never disturbs another session. This module is the transport and the lifecycle: bind,
serve, stop.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

import zmq

from facecast import __version__
from facecast.characters.store import CharacterStore
from facecast.config import AppConfig
from facecast.protocol import REQUEST_BOUNDS, DecodeError, ErrorCode, ProtocolError, decode
from facecast.render.base import Renderer, local_devices
from facecast.server.blendshape_input import BlendshapeInput
from facecast.server.curve_guard import CurveGuard
from facecast.server.envelope import Request, receive_request
from facecast.server.executor import ExecutorContext, LocalExecutor, RenderExecutor
from facecast.server.handlers import REQUEST_TYPES, SESSION_OPENERS, RequestHandlers
from facecast.server.loaded_characters import LoadedCharacter, LoadedCharacters
from facecast.server.output import FrameOutput, Replies
from facecast.server.render_jobs import CharacterRef, RenderResult
from facecast.server.render_worker import make_renderer
from facecast.server.ring_writer import stop_resource_tracker
from facecast.server.scheduler import LatestWinsScheduler
from facecast.server.sessions import SessionTable
from facecast.server.stats import DaemonStats
from facecast.sinks.base import Sink, create_sink
from facecast.transport.curve import CurveError, secure_server
from facecast.transport.endpoints import check_bind_endpoint

log = logging.getLogger(__name__)

_WAKE_ENDPOINT = "inproc://facecast-render-wake-{}"


def make_executor(config: AppConfig, renderer: Renderer | None = None) -> RenderExecutor:
    """The executor ``[executor] kind`` names. Local renderers are built here, so a bad
    checkpoint fails before the daemon binds; Ray actors build theirs when started."""
    ex = config.executor
    capacity = config.server.max_characters
    if renderer is not None or ex.kind == "inprocess":
        return LocalExecutor([renderer or make_renderer(config)], capacity, ex.inline_render_ms)
    if ex.kind == "devices":
        devices = list(ex.devices) or local_devices()
        return LocalExecutor([make_renderer(config, d) for d in devices], capacity, 0.0, name="devices")
    if ex.kind == "ray":
        from facecast.server.ray_executor import RayExecutor

        return RayExecutor(config)
    raise ValueError(f"unknown executor {ex.kind!r}; one of inprocess, devices, ray")


class Daemon:
    """Serve until ``stop()`` (or SIGINT/SIGTERM when run in the main thread)."""

    def __init__(self, config: AppConfig, store: CharacterStore, renderer: Renderer | None = None,
                 executor: RenderExecutor | None = None) -> None:
        """``renderer`` (tests, benchmarks): render in-process with this one instead of the
        configured executor; ``executor``: a ready-made executor."""
        self.config = config
        self.store = store
        self.executor = executor or make_executor(config, renderer)
        self.stats = DaemonStats()
        self.sessions = SessionTable(config.server.max_sessions)
        self.scheduler = LatestWinsScheduler(config.scheduler.max_batch, config.scheduler.max_wait_ms)
        self.sinks: list[Sink] = [create_sink(name, config) for name in config.sinks.enabled]
        self.characters = LoadedCharacters(store, config.server.max_characters, self.stats,
                                           on_unload=self.executor.forget, on_reload=self._character_reloaded)
        self.replies = Replies(self.stats)
        self.output = FrameOutput(config, self.sessions, self.scheduler, self.stats, self.sinks, self.replies)
        self.handlers = RequestHandlers(config, store, self.stats, self.sessions,
                                        self.scheduler, self.characters, BlendshapeInput(), self.sinks,
                                        self.replies, self.executor, self.output)
        self.output.end_session = self.handlers.end_session
        self._stop = threading.Event()
        self._bound = threading.Event()
        self.endpoint: str | None = None
        self._ctx = zmq.Context()
        self._router: zmq.Socket | None = None
        self._thread: threading.Thread | None = None
        self._startup_error: BaseException | None = None
        self._auth: Any = None  # the ZAP authenticator thread when CurveZMQ is on
        self._guard: CurveGuard | None = None  # and its per-message allow-list check

    # ----------------------------------------------------------------- lifecycle
    def bind(self) -> str:
        cfg = self.config.server
        curve = bool(cfg.curve_secret_key)
        if curve and not cfg.curve_clients_dir:
            raise CurveError("CurveZMQ needs an allow-list: set server.curve_clients_dir (--curve-clients DIR)")
        endpoint = check_bind_endpoint(cfg.bind, curve=curve)
        router = self._ctx.socket(zmq.ROUTER)
        if curve:
            self._auth, allow = secure_server(self._ctx, router, cfg.curve_secret_key, cfg.curve_clients_dir,
                                              cfg.curve_reload_s)
            self._guard = CurveGuard(allow, self.sessions, self.stats, self.replies, self.handlers.end_session)
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
        self.replies.router = router
        self.endpoint = router.getsockopt(zmq.LAST_ENDPOINT).decode()
        log.info("facecast daemon %s listening on %s (renderer %s, executor %s, max_batch %d, max_wait %.1f ms)",
                 __version__, self.endpoint, self.executor.renderer_name(), self.executor.name,
                 self.config.scheduler.max_batch, self.config.scheduler.max_wait_ms)
        return self.endpoint

    def stop(self) -> None:
        self._stop.set()

    def serve_forever(self, install_signal_handlers: bool = False) -> None:
        if self._router is None:
            self.bind()
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

        def deliver(results: list[RenderResult]) -> None:  # from a render lane
            for result in results:
                self.output.results.put(result)
            wake()

        started: list[Sink] = []
        try:
            for sink in self.sinks:
                sink.start()
                started.append(sink)
                log.info("sink %s started", sink.name)
            self.executor.start(ExecutorContext(self.scheduler, self.characters.assets, deliver, self.stats))
            if install_signal_handlers:  # after the executor: Ray installs handlers of its own
                for sig in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, lambda signum, _frame: (log.info("signal %d: shutting down", signum),
                                                               self.stop()))
                guard = self._guard
                if guard is not None:  # SIGHUP: re-read the CurveZMQ allow-list now
                    signal.signal(signal.SIGHUP, lambda _signum, _frame: guard.allow.request_reload())
            self._bound.set()
            self._loop(wake_pull)
        finally:
            self.executor.stop()
            for sink in started:
                sink.close()
            for session in self.sessions.all():
                self.handlers.end_session(session)
            if self.stats.counters.get("rings_created"):
                stop_resource_tracker()
            for sock in (wake_push, wake_pull, self._router):
                if sock is not None:
                    sock.close(linger=0)
            if self._auth is not None:
                self._auth.stop()
            self._ctx.term()
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
        check_s = self.config.server.character_check_s
        next_check = time.monotonic() + check_s
        router = self._router
        while not self._stop.is_set():
            wait_ms = 5.0 if self.output.holding() else 100.0
            npc_s = self.handlers.npcs.seconds_to_next(time.monotonic())
            if npc_s is not None:
                wait_ms = min(wait_ms, npc_s * 1000.0)
            events = dict(poller.poll(int(round(wait_ms))))
            if self.output.holding():
                self.output.flush_held()  # frames held for peers that were not keeping up
            if wake_pull in events:
                while wake_pull.getsockopt(zmq.EVENTS) & zmq.POLLIN:  # (no exception per empty read)
                    wake_pull.recv(zmq.NOBLOCK)
            if not self.output.results.empty():
                self.output.drain()
            if router in events:
                for _ in range(256):  # bounded, so results are not starved by a flood
                    try:
                        request = receive_request(router, with_key=self._guard is not None)
                    except zmq.Again:
                        break
                    if request is not None and self._guard is None:
                        self._handle(request)
                    elif request is not None:  # it carries its sender's CurveZMQ key
                        self._guard.receive(request, self._handle)
                    if not router.getsockopt(zmq.EVENTS) & zmq.POLLIN:  # (rather than an exception)
                        break
            if self._guard is not None:
                self._guard.poll()
            now = time.monotonic()
            if len(self.handlers.npcs):
                self.handlers.tick_npcs(now)  # NPC sessions: the daemon's own poses, at their frame rate
            if check_s > 0 and now >= next_check:
                next_check = now + check_s
                self.characters.refresh()  # a stat per loaded character; reads files only when one changed
            if now >= next_log:
                next_log = now + self.config.server.stats_interval_s
                self._periodic()

    def _periodic(self) -> None:
        fps, lat = self.stats.interval()
        if lat.get("count"):
            log.info("%.1f fps, %d sessions, latency p50 %.1f ms p99 %.1f ms", fps, len(self.sessions),
                     lat["p50_ms"], lat["p99_ms"])
        cfg = self.config.server
        gone = self.replies.take_gone()
        for session in self.sessions.expired(cfg.session_timeout_s, cfg.unbound_session_timeout_s):
            if session.identity in self.handlers.npcs and session.identity not in gone:
                continue  # an NPC client only receives: silent is normal while its frames still reach it
            log.info("session %s timed out", session.id)
            self.handlers.end_session(session)
            self.stats.count("sessions_timed_out")

    def _character_reloaded(self, old: CharacterRef, new: LoadedCharacter) -> None:
        """A loaded character changed in the store: sessions bound to its old version render
        the new one from their next pose (blendshape poses start from its new neutral;
        landmark clients get the new neutral when they bind again)."""
        moved = 0
        for session in self.sessions.all():
            binding = session.binding
            if binding is not None and binding.character == old:
                binding.character, binding.neutral = new.ref, new.neutral
                moved += 1
        if moved:
            log.info("%d session(s) of %r now render version %s", moved, old.name, new.ref.version)

    # ----------------------------------------------------------------- requests
    def _handle(self, request: Request) -> None:
        t_receive = time.time()
        self.stats.count("messages")
        identity, envelope = request.identity, request.envelope
        if request.refusal is not None:  # not the shape of a request (envelope.py): nothing of it is kept
            self.stats.count("bad_envelopes")
            self.replies.error(envelope, request.refusal, self.sessions.get(identity))
            return
        session = self.sessions.touch(identity, envelope)
        try:
            msg = decode(request.payload, self.config.server.max_message_bytes, REQUEST_BOUNDS)
        except DecodeError as err:
            if err.over_bounds:
                self.stats.count("decode_bounds_hit")
            self.replies.error(envelope, err, session, seq=err.seq, ref=err.msg_type)
            return
        if not isinstance(msg, REQUEST_TYPES):
            self.replies.error(envelope, ProtocolError(ErrorCode.UNKNOWN_TYPE,
                               f"{msg.TYPE!r} is sent by the daemon, not a request"), session, ref=msg.TYPE)
            return
        if session is None:
            # Only hello and bind open a session, so no flood of pings or garbage can fill
            # the table; other requests from an unknown client are answered without one.
            if not isinstance(msg, SESSION_OPENERS):
                try:
                    self.handlers.dispatch_sessionless(envelope, msg)
                except ProtocolError as err:
                    self.replies.error(envelope, err, None, seq=getattr(msg, "seq", None), ref=msg.TYPE)
                return
            session = self.sessions.create(identity, envelope)
            if session is None:  # refused; name the request it answers so the client can match the reply
                self.replies.error(envelope, ProtocolError(ErrorCode.SESSION_LIMIT,
                                   f"the daemon already has {self.sessions.max_sessions} sessions"), None,
                                   seq=getattr(msg, "seq", None), ref=msg.TYPE)
                return
        try:
            self.handlers.dispatch(session, msg, t_receive)
        except ProtocolError as err:
            self.replies.error(envelope, err, session, seq=getattr(msg, "seq", None), ref=msg.TYPE)
        except Exception as exc:  # a bug or an unreadable file must not stop the daemon
            log.exception("internal error handling %s", msg.TYPE)
            self.replies.error(envelope, ProtocolError(ErrorCode.INTERNAL, f"{type(exc).__name__}: {exc}"), session,
                               seq=getattr(msg, "seq", None), ref=msg.TYPE)
