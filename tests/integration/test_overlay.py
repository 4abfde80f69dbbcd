"""The OBS overlay sink, seen by a real headless Chromium: transparent page, newest frames,
several pages, the real daemon feeding it."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import threading
import time
import urllib.request
from collections import deque
from pathlib import Path
from typing import Any, Callable, Iterator

import cv2
import numpy as np
import pytest

from facecast.client import Client
from facecast.config import AppConfig, OverlayConfig
from facecast.sinks.base import PublishedFrame, SinkError, create_sink
from facecast.sinks.overlay import MAX_IN_FLIGHT, OverlaySink
from tests.integration.daemon_process import start_daemon
from tests.integration.raw_http import raw_request

log = logging.getLogger(__name__)

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (640, 480)
SIZE = 256
DISC_RADIUS = 80

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
    reason="needs Debian chromium and chromium-driver at /usr/bin (run scripts/system_deps.sh)")


# ---------------------------------------------------------------------- helpers
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def disc_colour(i: int) -> tuple[int, int, int]:
    """A different RGB colour for each of many consecutive frames."""
    return 40 + (i * 29) % 180, 40 + (i * 67) % 180, 40 + (i * 113) % 180


def disc_frame(i: int) -> np.ndarray:
    rgba = np.zeros((SIZE, SIZE, 4), np.uint8)  # fully transparent
    cv2.circle(rgba, (SIZE // 2, SIZE // 2), DISC_RADIUS, (*disc_colour(i), 255), -1)
    rgba.setflags(write=False)  # as the daemon hands them over: read-only, shared
    return rgba


class Publisher:
    """Publishes disc frames to a sink at ~fps from a thread; remembers what it sent."""

    def __init__(self, sink: OverlaySink, fps: float = 30.0) -> None:
        self.sink, self.period = sink, 1.0 / fps
        self.count = 0
        self.recent: deque[tuple[int, tuple[int, int, int]]] = deque(maxlen=120)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t_next = time.monotonic()
        while not self._stop.is_set():
            i = self.count
            self.sink.publish(PublishedFrame(rgba=disc_frame(i), character="test", session="s", seq=i,
                                             render_end=time.time()))
            self.recent.append((i, disc_colour(i)))
            self.count = i + 1
            t_next += self.period
            self._stop.wait(max(0.0, t_next - time.monotonic()))

    def __enter__(self) -> "Publisher":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def page_state(driver: Any) -> dict[str, Any]:
    return driver.execute_script("return Object.assign({}, window.facecastOverlay || {});")


def open_page(driver: Any, url: str) -> None:
    # a fixed viewport (headless windows lose some height to invisible browser chrome), like a Browser Source
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1, "mobile": False})
    driver.get(url)
    driver.execute_cdp_cmd("Emulation.setDefaultBackgroundColorOverride", {"color": {"r": 0, "g": 0, "b": 0, "a": 0}})
    wait_for(lambda: page_state(driver).get("framesDrawn", 0) > 0, 20, f"the page at {url} to draw a frame")


def screenshot(driver: Any) -> np.ndarray:
    """The page as BGRA (the transparent background kept)."""
    img = cv2.imdecode(np.frombuffer(driver.get_screenshot_as_png(), np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.ndim == 3 and img.shape[2] == 4, "screenshot has no alpha channel"
    return img


def canvas_box(driver: Any) -> tuple[int, int, int, int]:
    """The canvas on the screenshot, in device pixels: x0, y0, x1, y1."""
    left, top, width, height, dpr = driver.execute_script(
        "const r = document.getElementById('facecast').getBoundingClientRect();"
        "return [r.left, r.top, r.width, r.height, window.devicePixelRatio];")
    return (round(left * dpr), round(top * dpr), round((left + width) * dpr), round((top + height) * dpr))


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[Any]:
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip("needs Debian chromium and chromium-driver at /usr/bin (run scripts/system_deps.sh)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--hide-scrollbars", "--force-device-scale-factor=1", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    drv = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield drv
    finally:
        drv.quit()


@pytest.fixture
def sink() -> Iterator[OverlaySink]:
    config = dataclasses.replace(AppConfig(), overlay=OverlayConfig(port=0))
    s = create_sink("overlay", config)
    assert isinstance(s, OverlaySink)
    s.start()
    try:
        yield s
    finally:
        s.close()


# ---------------------------------------------------------------------- (a) the sink in a real page
@needs_chromium
def test_page_shows_newest_frame_with_transparency(sink: OverlaySink, driver: Any, tmp_path: Path):
    assert sink.url == f"http://127.0.0.1:{sink.port}/" and sink.ws_url == f"ws://127.0.0.1:{sink.port}/ws"
    with Publisher(sink) as pub:
        open_page(driver, sink.url)
        time.sleep(1.5)  # a full second of streaming for the page's fps
        before = page_state(driver)
        time.sleep(1.0)
        after = page_state(driver)
        assert after["connected"] is True
        assert after["framesDrawn"] > before["framesDrawn"] + 10, (before, after)
        fps = after["fps"]
        log.info("overlay page fps %.1f (publisher at 30), frames drawn %d", fps, after["framesDrawn"])
        assert fps >= 15, f"page draws only {fps} fps of a 30 fps feed"

        first_published = pub.count
        img = screenshot(driver)
        recent = [entry for entry in list(pub.recent) if entry[0] >= first_published - 15]
        x0, y0, x1, y1 = canvas_box(driver)
    cv2.imwrite(str(tmp_path / "overlay.png"), img)
    cv2.imwrite("/tmp/facecast_overlay_test.png", img)

    assert img.shape[:2] == (WINDOW[1], WINDOW[0])
    assert (x1 - x0, y1 - y0) == (WINDOW[1], WINDOW[1])  # contain: a square frame fills the height
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    centre = img[cy - 3:cy + 4, cx - 3:cx + 4].reshape(-1, 4).astype(int)
    assert (centre[:, 3] == 255).all(), "disc centre is not opaque"
    b, g, r = (int(v) for v in np.median(centre[:, :3], axis=0))
    errors = [(max(abs(r - c[0]), abs(g - c[1]), abs(b - c[2])), i) for i, c in recent]
    best_err, best_i = min(errors)
    assert best_err <= 4, f"centre colour {(r, g, b)} matches none of the frames published in the last 0.5 s"
    log.info("screenshot shows frame %d; %d frames published by then", best_i, first_published)

    h, w = img.shape[:2]
    for x, y in ((0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1),  # window corners
                 (x0 + 4, y0 + 4), (x1 - 5, y0 + 4), (x0 + 4, y1 - 5), (x1 - 5, y1 - 5)):  # frame corners
        assert img[y, x, 3] == 0, f"pixel ({x}, {y}) is not transparent: {img[y, x]}"

    stats = sink.stats()
    assert stats["clients"] == 1 and stats["frames_sent"] > 0 and stats["frames_published"] >= stats["frames_sent"]
    assert stats["encode_ms"] > 0


# ---------------------------------------------------------------------- (b) the real daemon
@needs_chromium
def test_daemon_feeds_overlay_page(default_store, driver: Any, tmp_path: Path):
    port = free_port()
    d = start_daemon(tmp_path, default_store.root, "--sink", "overlay", "--set", f"overlay.port={port}")
    stop = threading.Event()
    received: dict[str, Any] = {}
    errors: list[BaseException] = []

    def stream() -> None:
        try:
            with Client(d.endpoint) as client:
                bound = client.bind("default")
                while not stop.is_set():
                    received["frame"] = client.render(bound.neutral).image
                    time.sleep(1 / 60)
                received["sink_stats"] = client.stats().daemon.get("sinks", {}).get("overlay", {})
        except Exception as exc:  # reported by the main thread
            errors.append(exc)

    thread = threading.Thread(target=stream, daemon=True)
    try:
        thread.start()
        open_page(driver, f"http://127.0.0.1:{port}/")
        before = page_state(driver)["framesDrawn"]
        time.sleep(1.0)
        state = page_state(driver)
        assert state["framesDrawn"] > before + 5, (before, state)
        log.info("overlay page fed by the daemon: %.1f fps", state["fps"])
        img = screenshot(driver)
        x0, y0, x1, y1 = canvas_box(driver)
        frame = received["frame"]
    finally:
        stop.set()
        thread.join(timeout=15.0)
        rc = d.stop()
    assert not errors, errors
    assert rc == 0, f"daemon exited with {rc}:\n{d.log()}"
    cv2.imwrite(str(tmp_path / "overlay_daemon.png"), img)
    cv2.imwrite("/tmp/facecast_overlay_daemon.png", img)

    sink_stats = received["sink_stats"]
    assert sink_stats["frames_sent"] > 0 and sink_stats["frames_published"] > 0, sink_stats

    # Compare the page with the client's frame away from matte edges (scaling blends them):
    # colours where the frame is opaque; transparency where it is transparent (once a head
    # matte cuts the background out; before that every frame is opaque).
    page = cv2.resize(img[y0:y1, x0:x1], (frame.shape[1], frame.shape[0]), interpolation=cv2.INTER_AREA)
    assert page[..., 3].max() == 255 and page[..., :3].std() > 10, "the page shows no face"
    kernel = np.ones((7, 7), np.uint8)
    opaque = cv2.erode((frame[..., 3] == 255).astype(np.uint8), kernel).astype(bool)
    clear = cv2.erode((frame[..., 3] == 0).astype(np.uint8), kernel).astype(bool)
    assert opaque.mean() > 0.1, "the client's frame has almost no opaque pixels"
    page_rgb = cv2.cvtColor(page, cv2.COLOR_BGRA2RGB).astype(np.float32)
    diff = np.abs(page_rgb - frame[..., :3].astype(np.float32))[opaque].mean()
    assert diff < 12, f"page differs from the client's frame by {diff:.1f} per channel on average"
    assert (page[..., 3][opaque] == 255).all(), "opaque face pixels are not opaque on the page"
    if clear.any():
        assert (page[..., 3][clear] == 0).all(), "pixels transparent in the frame are not transparent on the page"
    log.info("daemon frame: %.0f%% opaque, %.0f%% transparent; page colour diff %.1f",
             opaque.mean() * 100, clear.mean() * 100, diff)


# ---------------------------------------------------------------------- (c) ports, pages, lifecycle
def test_taken_port_and_remote_host_raise_sink_error():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sink = OverlaySink(port=port)
        with pytest.raises(SinkError, match=rf"port {port}.*overlay\.port="):
            sink.start()
        sink.close()
    with pytest.raises(SinkError, match="loopback"):
        OverlaySink(host="0.0.0.0", port=0).start()


def test_close_is_idempotent_and_frees_the_port():
    sink = OverlaySink(port=0)
    sink.start()
    port = sink.port
    sink.publish(PublishedFrame(rgba=disc_frame(0), character="c", session="s", seq=1, render_end=time.time()))
    sink.close()
    sink.close()
    sink.publish(PublishedFrame(rgba=disc_frame(1), character="c", session="s", seq=2, render_end=time.time()))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
    OverlaySink(port=0).close()  # never started


def test_health_and_slow_page_gets_newest_frame(sink: OverlaySink):
    from websockets.sync.client import connect

    def centre_colour(png: bytes) -> tuple[int, int, int]:
        bgra = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
        assert bgra.shape == (SIZE, SIZE, 4) and bgra[0, 0, 3] == 0 and bgra[SIZE // 2, SIZE // 2, 3] == 255
        b, g, r = (int(v) for v in bgra[SIZE // 2, SIZE // 2, :3])
        return r, g, b

    def recv_frame() -> tuple[dict, bytes]:  # each frame: a JSON text message, then the PNG
        meta, png = ws.recv(timeout=5), ws.recv(timeout=5)
        assert isinstance(meta, str) and isinstance(png, bytes)
        return json.loads(meta), png

    with Publisher(sink) as pub, connect(sink.ws_url) as ws:
        first = [recv_frame() for _ in range(MAX_IN_FLIGHT)]  # sent ahead without acks
        with pytest.raises(TimeoutError):
            ws.recv(timeout=1.0)  # a page that does not ack gets nothing more ...
        assert all({"seq", "character", "render_end"} <= set(meta) for meta, _ in first)
        published = pub.count
        ws.send("ack")
        colour = centre_colour(recv_frame()[1])  # ... and then the newest frame, not a backlog
        recent = {c for i, c in list(pub.recent) if i >= published - 3}
        assert colour in recent, f"slow page got {colour}, not one of the newest frames"
        with urllib.request.urlopen(sink.url + "health", timeout=5) as resp:
            health = json.load(resp)
        assert health["clients"] == 1 and health["frames_sent"] >= MAX_IN_FLIGHT + 1
        with urllib.request.urlopen(sink.url, timeout=5) as resp:
            assert resp.headers["Content-Type"].startswith("text/html") and b"facecastOverlay" in resp.read()


@needs_chromium
def test_second_page_also_receives_frames(sink: OverlaySink, driver: Any):
    with Publisher(sink):
        open_page(driver, sink.url + "?fit=cover")
        first = driver.current_window_handle
        driver.switch_to.new_window("window")
        open_page(driver, sink.url)
        second = driver.current_window_handle
        assert sink.stats()["clients"] == 2
        counts = {}
        for handle in (first, second):
            driver.switch_to.window(handle)
            counts[handle] = page_state(driver)["framesDrawn"]
        time.sleep(1.0)
        for handle in (first, second):
            driver.switch_to.window(handle)
            state = page_state(driver)
            assert state["framesDrawn"] > counts[handle] + 5, (handle, counts[handle], state)
        driver.switch_to.window(first)
        assert page_state(driver)["fit"] == "cover"
        x0, y0, x1, y1 = canvas_box(driver)
        assert x1 - x0 == WINDOW[0]  # cover: the square frame fills the width, cropped top and bottom


# ---------------------------------------------------------------------- (d) Host and Origin checks
HOSTILE_ORIGINS = ("https://evil.example", "null", "http://127.0.0.1:1")  # another site, a file/sandbox, another local port


def _health(sink: OverlaySink) -> dict[str, Any]:
    with urllib.request.urlopen(sink.url + "health", timeout=5) as resp:
        return json.load(resp)


def test_hostile_host_or_origin_is_refused_on_every_endpoint(sink: OverlaySink):
    port = sink.port
    refused_host = refused_origin = 0
    for path, websocket in (("/", False), ("/health", False), ("/favicon.ico", False), ("/ws", True)):
        # DNS rebinding: the browser sends the attacker's name as Host (with and without the port)
        for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}", ""):
            headers = {"Host": host} if host else {}
            reply = raw_request(port, path, headers, websocket=websocket)
            assert reply.status == 421, (path, host, reply)
            assert b"sinks.allowed_hosts" in reply.body and b"Host" in reply.body, reply.body
            refused_host += 1
        # a page of another site (or a sandboxed / file:// page: Origin null) opening the feed
        for origin in HOSTILE_ORIGINS:
            reply = raw_request(port, path, {"Host": f"127.0.0.1:{port}", "Origin": origin}, websocket=websocket)
            assert reply.status == 403, (path, origin, reply)
            assert b"sinks.allowed_hosts" in reply.body and b"Origin" in reply.body, reply.body
            refused_origin += 1
    assert sink.stats()["clients"] == 0 and sink.stats()["frames_sent"] == 0
    health = _health(sink)
    assert (health["refused_host"], health["refused_origin"]) == (refused_host, refused_origin), health


def test_own_pages_and_loopback_names_still_stream(sink: OverlaySink):
    from websockets.sync.client import connect

    port = sink.port
    for host in ("127.0.0.1", f"127.0.0.1:{port}", "localhost", f"LOCALHOST:{port}", "[::1]", f"[::1]:{port}"):
        assert raw_request(port, "/health", {"Host": host}).status == 200, host
        assert raw_request(port, "/ws", {"Host": host}, websocket=True).status == 101, host
    with Publisher(sink):
        # the page's own origin, under each loopback name; and no Origin (a non-browser client)
        for origin in (f"http://127.0.0.1:{port}", f"http://localhost:{port}", None):
            with connect(sink.ws_url, origin=origin) as ws:  # type: ignore[arg-type]
                meta, png = ws.recv(timeout=5), ws.recv(timeout=5)
                assert isinstance(meta, str) and isinstance(png, bytes) and png.startswith(b"\x89PNG"), origin
    health = _health(sink)
    assert (health["refused_host"], health["refused_origin"]) == (0, 0), health


def test_allowed_hosts_knob_admits_a_lan_name_and_an_extra_origin():
    from facecast.config import with_overrides

    config = with_overrides(AppConfig(), {"overlay": {"port": 0},
                                          "sinks": {"allowed_hosts": "studio.lan,http://tools.lan:3000"}})
    s = create_sink("overlay", config)
    s.start()
    try:
        port = s.port
        assert raw_request(port, "/health", {"Host": f"studio.lan:{port}"}).status == 200
        assert raw_request(port, "/ws", {"Host": f"studio.lan:{port}", "Origin": f"http://studio.lan:{port}"},
                           websocket=True).status == 101
        assert raw_request(port, "/ws", {"Host": f"127.0.0.1:{port}", "Origin": "http://tools.lan:3000"},
                           websocket=True).status == 101
        # only what was named: another port of the extra origin, another LAN name
        assert raw_request(port, "/ws", {"Host": f"127.0.0.1:{port}", "Origin": "http://tools.lan:3001"},
                           websocket=True).status == 403
        assert raw_request(port, "/health", {"Host": f"other.lan:{port}"}).status == 421
    finally:
        s.close()
