"""The ``mjpeg`` sink: rendered frames as an MJPEG stream over HTTP on loopback, for OBS's
Media Source (or a browser, VLC, ffmpeg, OpenCV) where no virtual camera driver exists.

Endpoints (``http://HOST:PORT``):
- ``/stream.mjpg``: ``multipart/x-mixed-replace`` JPEG parts, at most ``mjpeg.fps`` a second;
- ``/snapshot.jpg``: the newest frame (503 until the first one);
- ``/``: a tiny page showing the stream.

How frames travel: ``publish`` (the daemon's I/O thread) only swaps in a copy of the newest
frame. The sink's encoder thread JPEG-encodes the newest frame (alpha composited over black)
at most ``fps`` times a second, once for all clients; each client's handler thread sends
the newest encoded frame when it changes (latest-wins: a slow client skips frames, nothing
queues). When nothing new arrives the last frame is re-sent every ``KEEPALIVE_S`` seconds so
players do not time out. Only loopback hosts are served: the stream has no authentication.
Every request must name this server in ``Host`` and, when it has an ``Origin``, come from
the server's own page (``host_guard``), so other web pages on this machine (DNS rebinding
included) get 421 or 403 instead of the frames.
"""

from __future__ import annotations

import collections
import errno
import ipaddress
import logging
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

from facecast.config import AppConfig, MjpegConfig
from facecast.sinks.base import PublishedFrame, Sink, SinkError, register_sink
from facecast.sinks.host_guard import RequestGuard, refusal_stats
from facecast.sinks.virtualcam import composite_over

log = logging.getLogger(__name__)

BOUNDARY = "facecastframe"
KEEPALIVE_S = 1.0  # an idle stream re-sends its last frame this often
CLIENT_TIMEOUT_S = 10.0  # a client that takes no data for this long is dropped
_PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>facecast MJPEG stream</title>
<style>html,body{margin:0;height:100%;background:#000}
img{display:block;margin:auto;max-width:100%;max-height:100vh}</style></head>
<body><img src="/stream.mjpg" alt="facecast stream"></body></html>
"""
_QUIET_ERRORS = (ConnectionError, TimeoutError)  # a client that went away: not worth a traceback


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def encode_jpeg(rgba: np.ndarray, quality: int) -> bytes:
    """H x W x 4 RGBA -> JPEG bytes, alpha composited over black."""
    bgr = np.ascontiguousarray(composite_over(rgba)[..., ::-1])
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"could not encode a {rgba.shape[1]}x{rgba.shape[0]} frame as JPEG")
    return buf.tobytes()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = sys.platform != "win32"  # on Windows SO_REUSEADDR would share a taken port

    def __init__(self, address: tuple[str, int], sink: "MjpegSink") -> None:
        self.sink = sink
        self.guard: RequestGuard | None = None  # set by the sink once the port is bound, before serving
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, _QUIET_ERRORS):
            log.debug("mjpeg client %s went away: %s", client_address, exc)
        else:
            log.warning("mjpeg: error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = CLIENT_TIMEOUT_S
    server_version = "facecast-mjpeg"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        log.debug("mjpeg %s: " + format, self.address_string(), *args)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        assert self.server.guard is not None
        refusal = self.server.guard.check(self.headers.get_all("Host") or [], self.headers.get_all("Origin") or [])
        if refusal is not None:  # before any path: no frame for another site's page
            self._reply(refusal.status, "text/plain; charset=utf-8", refusal.body.encode())
            return
        path = self.path.split("?", 1)[0]
        if path in ("/stream.mjpg", "/stream.mjpeg", "/stream"):
            self.server.sink._serve_stream(self)
        elif path in ("/snapshot.jpg", "/snapshot.jpeg"):
            jpeg, _ = self.server.sink._latest()
            if jpeg is None:
                self._reply(503, "text/plain; charset=utf-8", b"no frame yet\n", retry_after=True)
            else:
                self._reply(200, "image/jpeg", jpeg)
        elif path in ("/", "/index.html"):
            self._reply(200, "text/html; charset=utf-8", _PAGE)
        else:
            self._reply(404, "text/plain; charset=utf-8", b"not found; try /stream.mjpg or /snapshot.jpg\n")

    def _reply(self, status: int, content_type: str, body: bytes, retry_after: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if retry_after:
            self.send_header("Retry-After", "1")
        self.end_headers()
        self.wfile.write(body)


class MjpegSink(Sink):
    """Frames as an MJPEG stream on loopback (see the module docstring)."""

    name = "mjpeg"

    def __init__(self, config: MjpegConfig, allowed_hosts: tuple[str, ...] = ()) -> None:
        self.config = config
        self.allowed_hosts = allowed_hosts  # sinks.allowed_hosts: more Host names and Origins (host_guard)
        self._lock = threading.Lock()
        self._pending: np.ndarray | None = None  # newest published RGBA, not yet encoded
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._encoded = threading.Condition()
        self._jpeg: bytes | None = None  # newest encoded frame
        self._jpeg_id = 0  # bumps with every encoded frame
        self._server: _Server | None = None
        self._guard: RequestGuard | None = None  # its counters outlive the server, for the last stats
        self._threads: list[threading.Thread] = []
        self._jpeg_times: collections.deque[float] = collections.deque(maxlen=100)
        self.frames_published = 0
        self.frames_encoded = 0
        self.parts_sent = 0
        self.clients = 0
        self.url = ""  # the stream's URL once started
        self.base_url = ""

    # ----------------------------------------------------------------- contract
    def start(self) -> None:
        if self._server is not None:
            return
        cfg = self.config
        if not is_loopback_host(cfg.host):
            raise SinkError(f"mjpeg.host={cfg.host!r} is not a loopback address; the stream has no authentication, "
                            "so only 127.0.0.1, ::1 or localhost are served (OBS on this machine reads it there)")
        if not cfg.fps > 0:
            raise SinkError(f"mjpeg.fps must be > 0, got {cfg.fps}")
        if not 1 <= cfg.quality <= 100:
            raise SinkError(f"mjpeg.quality must be 1..100, got {cfg.quality}")
        try:
            server = _Server((cfg.host, cfg.port), self)
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", errno.EADDRINUSE)):
                raise SinkError(f"mjpeg: port {cfg.port} on {cfg.host} is already in use (another facecast daemon "
                                f"or program?); choose another with --set mjpeg.port=N (0 = any free port)") from None
            raise SinkError(f"mjpeg: cannot listen on {cfg.host}:{cfg.port}: {exc.strerror or exc}") from None
        self._server = server
        host, port = server.server_address[:2]
        server.guard = self._guard = RequestGuard("mjpeg", host, port, self.allowed_hosts)
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"http://{shown}:{port}"
        self.url = f"{self.base_url}/stream.mjpg"
        self._stop.clear()
        self._threads = [
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                             name="facecast-mjpeg-http", daemon=True),
            threading.Thread(target=self._encode_loop, name="facecast-mjpeg-encoder", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        log.info("MJPEG stream at %s (snapshot %s/snapshot.jpg, up to %.0f fps)", self.url, self.base_url, cfg.fps)

    def publish(self, frame: PublishedFrame) -> None:
        rgba = frame.rgba.copy()  # the daemon's array is shared; encoding happens later
        with self._lock:
            self._pending = rgba
            self.frames_published += 1
        self._wake.set()

    def close(self) -> None:
        server, self._server = self._server, None
        self._stop.set()
        self._wake.set()
        with self._encoded:
            self._encoded.notify_all()
        if server is not None:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5.0)
        self._threads = []

    def stats(self) -> dict[str, Any]:
        times = list(self._jpeg_times)
        return {
            "clients": self.clients,
            "frames_published": self.frames_published,
            "frames_encoded": self.frames_encoded,
            "parts_sent": self.parts_sent,
            "jpeg_ms": round(sum(times) / len(times), 3) if times else 0.0,
            "url": self.url,
            **refusal_stats(self._guard),
        }

    # ----------------------------------------------------------------- encoder
    def _encode_loop(self) -> None:
        interval = 1.0 / self.config.fps
        next_due = 0.0
        while not self._stop.is_set():
            if not self._wake.wait(timeout=0.5):
                continue
            delay = next_due - time.monotonic()
            if delay > 0 and self._stop.wait(delay):  # frames arriving meanwhile replace each other
                break
            with self._lock:
                rgba, self._pending = self._pending, None
                self._wake.clear()
            if rgba is None:
                continue
            start = time.perf_counter()
            try:
                jpeg = encode_jpeg(rgba, self.config.quality)
            except (ValueError, cv2.error) as exc:
                log.error("mjpeg: %s", exc)
                continue
            self._jpeg_times.append((time.perf_counter() - start) * 1000.0)
            next_due = time.monotonic() + interval
            with self._encoded:
                self._jpeg, self._jpeg_id = jpeg, self._jpeg_id + 1
                self.frames_encoded += 1
                self._encoded.notify_all()

    def _latest(self) -> tuple[bytes | None, int]:
        with self._encoded:
            return self._jpeg, self._jpeg_id

    # ----------------------------------------------------------------- clients
    def _serve_stream(self, handler: _Handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        handler.send_header("Cache-Control", "no-store, no-cache, must-revalidate")
        handler.send_header("Pragma", "no-cache")
        handler.send_header("Connection", "close")
        handler.end_headers()
        with self._lock:
            self.clients += 1
        log.info("mjpeg client %s connected (%d watching)", handler.address_string(), self.clients)
        sent_id, sent_at = 0, 0.0
        try:
            while not self._stop.is_set():
                with self._encoded:
                    self._encoded.wait_for(lambda: self._stop.is_set() or self._jpeg_id != sent_id, KEEPALIVE_S)
                    jpeg, jpeg_id = self._jpeg, self._jpeg_id
                if self._stop.is_set() or jpeg is None:
                    continue
                if jpeg_id == sent_id and time.monotonic() - sent_at < KEEPALIVE_S:
                    continue
                head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(jpeg)}\r\n\r\n").encode("ascii")
                handler.wfile.write(head + jpeg + b"\r\n")
                handler.wfile.flush()
                sent_id, sent_at = jpeg_id, time.monotonic()
                with self._lock:
                    self.parts_sent += 1
        except _QUIET_ERRORS as exc:
            log.debug("mjpeg client %s went away: %s", handler.address_string(), exc)
        finally:
            with self._lock:
                self.clients -= 1
            log.info("mjpeg client %s disconnected (%d watching)", handler.address_string(), self.clients)
        handler.close_connection = True


@register_sink("mjpeg")
def create_mjpeg_sink(config: AppConfig) -> MjpegSink:
    """The registry's factory: the sink reads the ``[mjpeg]`` section."""
    return MjpegSink(config.mjpeg, allowed_hosts=config.sinks.allowed_hosts)
