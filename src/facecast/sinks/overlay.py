"""The OBS overlay sink: a transparent page for an OBS Browser Source, fed over a WebSocket.

    facecast serve --sink overlay          # page at http://127.0.0.1:8770/

One server thread runs an asyncio loop (the ``websockets`` library) that answers:

- ``GET /``        the overlay page (``static/overlay.html``): a canvas on a transparent
                   background that draws every frame it receives;
- ``GET /ws``      the WebSocket feed: each binary message is one frame as a PNG with alpha;
                   the page answers each drawn frame with the text message ``ack``;
- ``GET /health``  JSON counters (clients, frames_sent, refused_host, ...).

Every request, the WebSocket upgrade included, must name this server in ``Host`` and, when
it has an ``Origin``, come from the page itself (``host_guard``): other web pages open in
a browser on this machine get 421 or 403, not the feed.

Latest-wins all the way: ``publish`` only swaps in a copy of the newest frame and wakes
the loop; frames are PNG-encoded on the sink's own encoder thread, and only while a page
is connected. Each page has at most ``MAX_IN_FLIGHT`` unacknowledged frames; while it is
busy (a slow or hidden page) newer frames replace the one waiting for it, so it always
gets the newest frame next and never a backlog.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import importlib.resources
import ipaddress
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import cv2
import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from facecast.sinks.base import PublishedFrame, Sink, SinkError, register_sink
from facecast.sinks.host_guard import RequestGuard, refusal_stats

log = logging.getLogger(__name__)
# websockets logs every HTTP request and connection at INFO; keep the daemon's log readable
_ws_log = logging.getLogger(f"{__name__}.websockets")
_ws_log.setLevel(logging.WARNING)

MAX_IN_FLIGHT = 2  # frames sent to a page and not yet acknowledged
START_TIMEOUT_S = 10.0


def _load_page() -> bytes:
    return importlib.resources.files("facecast.sinks").joinpath("static/overlay.html").read_bytes()


def _loopback_host(host: str) -> str:
    """The address to bind: loopback only (like the daemon), 'localhost' pinned to IPv4."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise SinkError(f"overlay: refusing to serve on {host!r}: the overlay page is loopback only; "
                    "use --set overlay.host=127.0.0.1 and run OBS on the same machine")


@dataclass(eq=False)  # hashed by identity: kept in a set
class _Client:
    ws: ServerConnection
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: int = 0
    sent_version: int = 0  # version of the newest payload sent to this page
    frames_sent: int = 0


class OverlaySink(Sink):
    """Serves the overlay page and pushes every published frame to the connected pages."""

    name = "overlay"

    # PNG level 0 (stored, no deflate): the feed never leaves loopback, so bytes are free and
    # CPU is not; level 0 encodes 2-3x faster than level 1 (bench delivery).
    def __init__(self, host: str = "127.0.0.1", port: int = 8770, png_compression: int = 0,
                 allowed_hosts: tuple[str, ...] = ()) -> None:
        self.host = host
        self.allowed_hosts = allowed_hosts  # sinks.allowed_hosts: more Host names and Origins (host_guard)
        self.port = port  # the requested port until start(), the bound one after
        self.png_compression = png_compression
        self.url: str | None = None  # http://HOST:PORT/ once started
        self.ws_url: str | None = None  # ws://HOST:PORT/ws once started
        self._page = _load_page()
        self._lock = threading.Lock()
        self._latest: np.ndarray | None = None  # BGRA copy of the newest published frame
        self._latest_version = 0
        self._latest_meta = b""  # JSON text sent before each frame: seq, character, render_end
        self._frames_published = 0
        self._wake_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._encoder: concurrent.futures.ThreadPoolExecutor | None = None
        self._stop: asyncio.Event | None = None
        self._new_frame: asyncio.Event | None = None
        self._clients: set[_Client] = set()
        self._payload: bytes | None = None
        self._payload_version = 0
        self._payload_meta = b""
        self._frames_encoded = 0
        self._encode_s_total = 0.0
        self._frames_sent = 0
        self._closed = False
        self._guard: RequestGuard | None = None  # made once the port is bound

    # ------------------------------------------------------------------ contract
    def start(self) -> None:
        if self._thread is not None:
            return
        bind_host = _loopback_host(self.host)
        started = threading.Event()
        failure: list[BaseException] = []
        self._encoder = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="facecast-overlay-encode")
        self._thread = threading.Thread(target=self._run, args=(bind_host, started, failure),
                                        name="facecast-overlay", daemon=True)
        self._thread.start()
        if not started.wait(START_TIMEOUT_S):
            self.close()
            raise SinkError(f"overlay: server on {bind_host}:{self.port} did not start within {START_TIMEOUT_S:.0f} s")
        if failure:
            self._thread.join(timeout=5.0)
            self._thread = None
            self._encoder.shutdown(wait=False)
            exc = failure[0]
            if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
                raise SinkError(f"overlay: port {self.port} on {bind_host} is already in use (another facecast "
                                "daemon or program?); choose another with --set overlay.port=N "
                                "(0 picks a free port)") from exc
            raise SinkError(f"overlay: cannot serve on {bind_host}:{self.port}: {exc}") from exc
        self.url = f"http://{bind_host}:{self.port}/"
        self.ws_url = f"ws://{bind_host}:{self.port}/ws"
        log.info("overlay page at %s (OBS: add a Browser Source with this URL)", self.url)

    def publish(self, frame: PublishedFrame) -> None:
        rgba = frame.rgba
        # the conversion is also the copy the contract asks for (the caller's pixels are shared)
        bgra = cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA if rgba.shape[2] == 4 else cv2.COLOR_RGB2BGRA)
        with self._lock:
            self._latest = bgra
            self._latest_meta = json.dumps({"seq": frame.seq, "character": frame.character,
                                            "render_end": frame.render_end}).encode()
            self._latest_version += 1
            self._frames_published += 1
            if self._wake_pending or self._loop is None or self._closed:
                return
            self._wake_pending = True
            loop = self._loop
        try:
            loop.call_soon_threadsafe(self._on_published)
        except RuntimeError:  # the loop closed between the check and the call
            log.debug("overlay loop already closed; frame dropped")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, stop = self._loop, self._stop
        if loop is not None and stop is not None:
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:
                log.debug("overlay loop already closed")
        if self._thread is not None:
            self._thread.join(timeout=10.0)
            if self._thread.is_alive():
                log.warning("overlay server thread did not stop within 10 s")
        if self._encoder is not None:
            self._encoder.shutdown(wait=True)
        log.info("overlay sink closed (%d frames published, %d sent)", self._frames_published, self._frames_sent)

    def stats(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "clients": len(self._clients),
            "frames_published": self._frames_published,
            "frames_encoded": self._frames_encoded,
            "frames_sent": self._frames_sent,
            "encode_ms": (self._encode_s_total / self._frames_encoded * 1000.0) if self._frames_encoded else 0.0,
            **refusal_stats(self._guard),
        }

    # ------------------------------------------------------------------ server thread
    def _run(self, bind_host: str, started: threading.Event, failure: list[BaseException]) -> None:
        try:
            asyncio.run(self._main(bind_host, started))
        except Exception as exc:  # reported to start() if it happens before listening
            if started.is_set():
                log.exception("overlay server stopped with an error")
            else:
                failure.append(exc)
        finally:
            with self._lock:
                self._loop = None
            started.set()

    async def _main(self, bind_host: str, started: threading.Event) -> None:
        self._stop = asyncio.Event()
        self._new_frame = asyncio.Event()
        server: Server
        # compression=None: frames are PNG already; per-message deflate on top of them cost
        # ~85 us per KB on both ends (bench delivery: 157 ms -> see docs/benchmarks.md at 512²).
        async with serve(self._handle_ws, bind_host, self.port, process_request=self._http, compression=None,
                         max_size=64 * 1024, ping_interval=20, ping_timeout=20, logger=_ws_log) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._guard = RequestGuard("overlay", bind_host, self.port, self.allowed_hosts)
            with self._lock:
                self._loop = asyncio.get_running_loop()
                pending = self._latest is not None
            started.set()
            if pending:
                self._new_frame.set()
            pump = asyncio.create_task(self._pump())
            await self._stop.wait()
            pump.cancel()
            server.close()  # closes every page's socket (1001 going away)
            await server.wait_closed()

    def _on_published(self) -> None:  # runs on the loop
        with self._lock:
            self._wake_pending = False
        if self._new_frame is not None:
            self._new_frame.set()

    async def _pump(self) -> None:
        """Encode the newest frame whenever one is published and a page is connected."""
        assert self._new_frame is not None and self._encoder is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._new_frame.wait()
            self._new_frame.clear()
            if not self._clients:
                continue  # a page that connects later wakes the pump again
            with self._lock:
                bgra, version, meta = self._latest, self._latest_version, self._latest_meta
            if bgra is None or version == self._payload_version:
                continue
            try:
                payload, seconds = await loop.run_in_executor(self._encoder, self._encode, bgra)
            except (cv2.error, ValueError) as exc:
                log.warning("overlay: cannot encode a %s frame: %s", getattr(bgra, "shape", "?"), exc)
                continue
            self._frames_encoded += 1
            self._encode_s_total += seconds
            self._payload, self._payload_version, self._payload_meta = payload, version, meta
            for client in self._clients:
                client.wake.set()

    def _encode(self, bgra: np.ndarray) -> tuple[bytes, float]:  # runs on the encoder thread
        t0 = time.perf_counter()
        ok, buf = cv2.imencode(".png", bgra, [cv2.IMWRITE_PNG_COMPRESSION, self.png_compression])
        if not ok:
            raise ValueError("cv2.imencode returned false")
        return buf.tobytes(), time.perf_counter() - t0

    # ------------------------------------------------------------------ HTTP and WebSocket
    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        assert self._guard is not None
        refusal = self._guard.check(request.headers.get_all("Host"), request.headers.get_all("Origin"))
        if refusal is not None:  # before any path, /ws included: no page, counters or feed for strangers
            return self._response(connection, HTTPStatus(refusal.status), refusal.body.encode(),
                                  "text/plain; charset=utf-8")
        path = request.path.split("?", 1)[0]
        if path == "/ws":
            return None  # go on with the WebSocket handshake
        if path in ("/", "/index.html", "/overlay.html"):
            return self._response(connection, HTTPStatus.OK, self._page, "text/html; charset=utf-8")
        if path == "/health":
            body = json.dumps({"status": "ok", **self.stats()}).encode()
            return self._response(connection, HTTPStatus.OK, body, "application/json")
        if path == "/favicon.ico":
            return self._response(connection, HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        return connection.respond(HTTPStatus.NOT_FOUND, "not found: the overlay page is at / and its feed at /ws\n")

    @staticmethod
    def _response(connection: ServerConnection, status: HTTPStatus, body: bytes, content_type: str) -> Response:
        response = connection.respond(status, "")
        replaced = {"Content-Type": content_type, "Content-Length": str(len(body)), "Cache-Control": "no-store",
                    "X-Content-Type-Options": "nosniff"}
        # Headers is multi-valued: drop the plain-text response's values instead of adding second ones
        headers = Headers([(k, v) for k, v in response.headers.raw_items() if k.title() not in replaced])
        headers.update(replaced)
        return Response(response.status_code, response.reason_phrase, headers, body)

    async def _handle_ws(self, ws: ServerConnection) -> None:
        client = _Client(ws)
        self._clients.add(client)
        log.info("overlay page connected from %s (%d connected)", ws.remote_address, len(self._clients))
        assert self._new_frame is not None
        if self._payload_version != self._latest_version:
            self._new_frame.set()  # encode the newest frame for the new page
        elif self._payload is not None:
            client.wake.set()
        sender = asyncio.create_task(self._send_loop(client))
        try:
            async for message in ws:
                if message == "ack" and client.in_flight > 0:
                    client.in_flight -= 1
                    client.wake.set()
        except ConnectionClosed:
            pass
        finally:
            sender.cancel()
            self._clients.discard(client)
            log.info("overlay page disconnected (%d connected)", len(self._clients))

    async def _send_loop(self, client: _Client) -> None:
        while True:
            await client.wake.wait()
            client.wake.clear()
            payload, version, meta = self._payload, self._payload_version, self._payload_meta
            if payload is None or version == client.sent_version or client.in_flight >= MAX_IN_FLIGHT:
                continue
            client.in_flight += 1
            client.sent_version = version
            try:
                await client.ws.send(meta.decode())  # text: which frame follows (pages may ignore it)
                await client.ws.send(payload)
            except ConnectionClosed:
                return
            client.frames_sent += 1
            self._frames_sent += 1


@register_sink("overlay")
def _create_overlay(config: Any) -> OverlaySink:
    return OverlaySink(host=config.overlay.host, port=config.overlay.port,
                       allowed_hosts=config.sinks.allowed_hosts)
