"""The mjpeg sink with real HTTP clients on loopback, OpenCV reading the stream, and the
real daemon subprocess serving it."""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import pytest

from facecast.config import AppConfig, MjpegConfig
from facecast.sinks.base import PublishedFrame, SinkError, create_sink
from facecast.sinks.mjpeg import MjpegSink
from tests.integration.daemon_process import start_daemon
from tests.integration.raw_http import raw_request

log = logging.getLogger(__name__)


def _frame(k: int, h: int = 96, w: int = 128) -> np.ndarray:
    """A smooth RGBA frame whose blue level (10 + 20 k) tells which one it is."""
    rgba = np.empty((h, w, 4), np.uint8)
    rgba[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    rgba[..., 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]
    rgba[..., 2] = (10 + 20 * k) % 256
    rgba[..., 3] = 255
    return rgba


def _published(rgba: np.ndarray, seq: int = 0) -> PublishedFrame:
    rgba = rgba.copy()
    rgba.setflags(write=False)
    return PublishedFrame(rgba=rgba, character="default", session="s1", seq=seq, render_end=time.time())


def _decode(jpeg: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None, "not a JPEG"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


class StreamReader:
    """Reads the parts of a multipart/x-mixed-replace response, one JPEG at a time."""

    def __init__(self, port: int, path: str = "/stream.mjpg") -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.conn.request("GET", path)
        self.sock = self.conn.sock  # http.client lets go of it once the response is open
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200
        content_type = self.resp.getheader("Content-Type", "")
        assert content_type.startswith("multipart/x-mixed-replace"), content_type
        self.boundary = b"--" + content_type.split("boundary=", 1)[1].strip().encode()

    def next_jpeg(self) -> bytes:
        fp = self.resp.fp
        while (line := fp.readline()).strip() != self.boundary:
            assert line, "stream ended"
        headers = {}
        while (line := fp.readline().strip()):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg"
        data = fp.read(int(headers["content-length"]))
        assert fp.read(2) == b"\r\n"
        return data

    def close(self) -> None:
        self.resp.close()
        self.conn.close()
        self.sock.close()


def _get(port: int, path: str) -> tuple[int, str, bytes]:
    """GET a path on loopback: (status, content type, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.getheader("Content-Type", ""), resp.read()
    finally:
        conn.close()


class Publisher:
    """Publishes _frame(k), k = 0, 1, ..., at `fps` on a thread, like the daemon would."""

    def __init__(self, sink: MjpegSink, fps: float = 60.0) -> None:
        self.sink, self.interval = sink, 1.0 / fps
        self.published: list[np.ndarray] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        k = 0
        while not self._stop.is_set():
            frame = _frame(k)
            self.published.append(frame)
            self.sink.publish(_published(frame, seq=k))
            k += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> "Publisher":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def match(self, image: np.ndarray) -> tuple[int, float]:
        """Index and error of the published frame nearest to a decoded image."""
        errors = [_mae(image, f[..., :3]) for f in list(self.published)]
        best = int(np.argmin(errors))
        return best, errors[best]


@pytest.fixture
def sink() -> Iterator[MjpegSink]:
    s = create_sink("mjpeg", AppConfig(mjpeg=MjpegConfig(port=0, fps=30.0)))
    assert isinstance(s, MjpegSink)
    s.start()
    yield s
    s.close()


def _port(sink: MjpegSink) -> int:
    return int(sink.url.rsplit(":", 1)[1].split("/", 1)[0])


def test_stream_parts_are_the_published_frames(sink: MjpegSink):
    assert sink.url.startswith("http://127.0.0.1:") and sink.url.endswith("/stream.mjpg")
    reader = StreamReader(_port(sink))
    try:
        with Publisher(sink, fps=60.0) as pub:
            parts = [_decode(reader.next_jpeg()) for _ in range(6)]
            matches = [pub.match(p) for p in parts]
            start = time.monotonic()
            for _ in range(15):
                reader.next_jpeg()
            rate = 15 / (time.monotonic() - start)
    finally:
        reader.close()
    log.info("mjpeg: %.1f parts/s for 60 published frames/s and mjpeg.fps=30", rate)
    assert rate < 30.0 * 1.2, f"{rate:.1f} parts/s exceeds mjpeg.fps=30"
    for image, (index, error) in zip(parts, matches):
        assert image.shape == (96, 128, 3)
        assert error < 3.0, f"part differs from published frame {index} by {error:.2f}"
    indices = [i for i, _ in matches]
    assert indices == sorted(indices) and len(set(indices)) >= 5, indices  # new frames, in order
    stats = sink.stats()
    assert stats["frames_published"] >= 6 and stats["frames_encoded"] >= 6 and stats["jpeg_ms"] > 0


def test_two_clients_at_once_and_quiet_disconnects(sink: MjpegSink, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG, logger="facecast.sinks.mjpeg")
    readers = [StreamReader(_port(sink)) for _ in range(2)]
    results: dict[int, list[float]] = {0: [], 1: []}
    with Publisher(sink) as pub:
        def read(i: int) -> None:
            for _ in range(4):
                results[i].append(pub.match(_decode(readers[i].next_jpeg()))[1])

        threads = [threading.Thread(target=read, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        assert sink.stats()["clients"] == 2
        for r in readers:  # hang up in the middle of the stream
            r.sock.shutdown(socket.SHUT_RDWR)
            r.close()
        deadline = time.monotonic() + 5
        while sink.stats()["clients"] and time.monotonic() < deadline:
            time.sleep(0.05)
    assert all(len(results[i]) == 4 and max(results[i]) < 3.0 for i in range(2)), results
    assert sink.stats()["clients"] == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], "a disconnect was not quiet"
    assert _get(_port(sink), "/snapshot.jpg")[0] == 200  # still serving


def test_snapshot_page_and_alpha_over_black(sink: MjpegSink):
    port = _port(sink)
    assert _get(port, "/snapshot.jpg")[0] == 503  # nothing published yet
    status, ctype, body = _get(port, "/")
    assert status == 200 and ctype.startswith("text/html") and b"/stream.mjpg" in body
    assert _get(port, "/nope")[0] == 404
    frame = _frame(3)
    frame[:, :64, 3] = 0  # left half transparent
    sink.publish(_published(frame))
    deadline = time.monotonic() + 5
    while sink.stats()["frames_encoded"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    status, ctype, body = _get(port, "/snapshot.jpg")
    assert status == 200 and ctype == "image/jpeg"
    image = _decode(body)
    assert _mae(image[:, :60], np.zeros_like(image[:, :60])) < 3.0
    assert _mae(image[:, 68:], frame[:, 68:, :3]) < 3.0


def test_hostile_host_or_origin_is_refused_and_counted(sink: MjpegSink):
    port = _port(sink)
    sink.publish(_published(_frame(1)))
    deadline = time.monotonic() + 5
    while sink.stats()["frames_encoded"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    paths = ("/", "/snapshot.jpg", "/stream.mjpg", "/nope")
    for path in paths:
        # DNS rebinding: a page of evil.example, resolved to 127.0.0.1, reading the snapshot
        for host in (f"evil.example:{port}", "evil.example", ""):
            reply = raw_request(port, path, {"Host": host} if host else {})
            assert reply.status == 421, (path, host, reply)
            assert b"sinks.allowed_hosts" in reply.body and b"Host" in reply.body, reply.body
        for origin in ("https://evil.example", "null"):
            reply = raw_request(port, path, {"Host": f"127.0.0.1:{port}", "Origin": origin})
            assert reply.status == 403, (path, origin, reply)
            assert b"sinks.allowed_hosts" in reply.body and b"Origin" in reply.body, reply.body
    stats = sink.stats()
    assert (stats["refused_host"], stats["refused_origin"]) == (3 * len(paths), 2 * len(paths)), stats
    assert stats["clients"] == 0 and stats["parts_sent"] == 0
    # the server's own names, with or without the port, and its own page's origin
    for host in ("127.0.0.1", f"127.0.0.1:{port}", f"localhost:{port}", "[::1]"):
        reply = raw_request(port, "/snapshot.jpg", {"Host": host, "Origin": f"http://localhost:{port}"})
        assert reply.status == 200 and reply.body.startswith(b"\xff\xd8"), (host, reply.status)
    reader = StreamReader(port)  # http.client: Host 127.0.0.1:PORT, no Origin
    try:
        assert _decode(reader.next_jpeg()).shape == (96, 128, 3)
    finally:
        reader.close()
    assert (sink.stats()["refused_host"], sink.stats()["refused_origin"]) == (3 * len(paths), 2 * len(paths))


def test_taken_port_and_non_loopback_host_are_refused():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        sink = create_sink("mjpeg", AppConfig(mjpeg=MjpegConfig(port=port)))
        with pytest.raises(SinkError) as info:
            sink.start()
        assert str(port) in str(info.value) and "--set mjpeg.port=" in str(info.value)
        sink.close()
    for host in ("0.0.0.0", "192.168.1.10", "example.com"):
        with pytest.raises(SinkError, match="loopback"):
            create_sink("mjpeg", AppConfig(mjpeg=MjpegConfig(host=host, port=0))).start()


def test_opencv_reads_the_stream(sink: MjpegSink):
    if not cv2.videoio_registry.hasBackend(cv2.CAP_FFMPEG):
        pytest.skip("this OpenCV build has no FFMPEG backend to read HTTP streams")
    with Publisher(sink) as pub:
        cap = cv2.VideoCapture(sink.url, cv2.CAP_FFMPEG)
        try:
            assert cap.isOpened(), f"OpenCV cannot open {sink.url}"
            ok, bgr = cap.read()
        finally:
            cap.release()
        assert ok and bgr is not None
        index, error = pub.match(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    assert error < 3.0, f"OpenCV's frame differs from published frame {index} by {error:.2f}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_daemon_streams_mjpeg(default_store, tmp_path: Path):
    from facecast.client import Client

    port = _free_port()
    daemon = start_daemon(tmp_path, default_store.root, "--sink", "mjpeg", "--set", f"mjpeg.port={port}",
                          "--set", "sinks.allowed_hosts=studio.lan")
    try:
        with Client(daemon.endpoint) as client:
            bound = client.bind("default", width=160, height=160, pixel_format="rgba8")
            reader = StreamReader(port)
            try:
                frame = client.render(bound.neutral)
                rgba = frame.image.astype(np.float32)
                want = rgba[..., :3] * (rgba[..., 3:4] / 255.0)  # alpha over black
                for _ in range(20):  # the part for this pose arrives within a few
                    image = _decode(reader.next_jpeg())
                    if image.shape == want.shape and _mae(image, want) < 3.0:
                        break
                    client.render(bound.neutral)
                else:
                    raise AssertionError("no stream part matched the client's frame")
                # the knob lets a LAN name in; any other name is refused, and the stats reply counts it
                assert raw_request(port, "/snapshot.jpg", {"Host": f"studio.lan:{port}"}).status == 200
                assert raw_request(port, "/snapshot.jpg", {"Host": f"evil.example:{port}"}).status == 421
                stats = client.stats().daemon["sinks"]["mjpeg"]
                assert stats["clients"] == 1 and stats["frames_published"] >= 1
                assert (stats["refused_host"], stats["refused_origin"]) == (1, 0), stats
                assert stats["url"] == f"http://127.0.0.1:{port}/stream.mjpg"
            finally:
                reader.close()
    finally:
        rc = daemon.stop()
    assert rc == 0, daemon.log()
    assert f"http://127.0.0.1:{port}/stream.mjpg" in daemon.log()
