"""`facecast obs setup` against a real OBS Studio (obs-websocket v5).

OBS runs headless under Xvfb with Mesa's software OpenGL, from a throwaway config dir
that has its WebSocket server enabled with a password, a profile and a scene collection
whose program scene is "Facecast Test". The source shown is either a recognisable
colour pattern served here as MJPEG, or (where the MJPEG sink exists) the real daemon's
face. Needs the Debian packages obs-studio and xvfb; without them only the tests that
need no OBS run.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import importlib.util
import io
import json
import logging
import os
import select
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import numpy as np
import obsws_python
import pytest
from PIL import Image

from facecast.config import AppConfig, MjpegConfig
from facecast.apps.obs_setup import (BROWSER_KIND, MEDIA_KIND, RESOURCE_NOT_FOUND, ObsSetupError, _Obs,
                                                _setup, add_obs_arguments, choose_source, quiet_obsws_logging,
                                                run_obs_setup, setup_obs_source)

log = logging.getLogger(__name__)

PASSWORD = "facecast-test-secret"
SCENE = "Facecast Test"
PATTERN = {(0, 0): (230, 30, 30), (1, 0): (30, 200, 40), (0, 1): (30, 40, 230), (1, 1): (240, 230, 40)}
SIDE = 256  # the pattern is SIDE x SIDE, quadrant (col, row) filled with PATTERN[col, row]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ a colour-pattern stream
def _pattern_jpeg() -> bytes:
    img = np.zeros((SIDE, SIDE, 3), np.uint8)
    half = SIDE // 2
    for (col, row), rgb in PATTERN.items():
        img[row * half:(row + 1) * half, col * half:(col + 1) * half] = rgb
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=92)
    return buf.getvalue()


_PAGE = ("<!doctype html><html><body style='margin:0;background:transparent'>"
         + "".join(f"<div style='position:absolute;left:{c * SIDE // 2}px;top:{r * SIDE // 2}px;width:{SIDE // 2}px;"
                   f"height:{SIDE // 2}px;background:rgb{rgb}'></div>" for (c, r), rgb in PATTERN.items())
         + "</body></html>").encode()


class _PatternHandler(BaseHTTPRequestHandler):
    frame = _pattern_jpeg()

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.split("?", 1)[0] != "/stream.mjpg":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(_PAGE)))
            self.end_headers()
            self.wfile.write(_PAGE)
            return
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        try:
            while not self.server.stopping:  # type: ignore[attr-defined]
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n"
                                 % len(self.frame) + self.frame + b"\r\n")
                time.sleep(1 / 15)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def pattern_server() -> Iterator[str]:
    """Base URL of a server with the pattern as MJPEG (/stream.mjpg) and as a page (/)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PatternHandler)
    server.daemon_threads = True
    server.stopping = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.stopping = True  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


# ------------------------------------------------------------------ a headless OBS
def _write_obs_config(config_home: Path, port: int) -> None:
    obs_dir = config_home / "obs-studio"
    (obs_dir / "basic" / "profiles" / "facecast").mkdir(parents=True)
    (obs_dir / "basic" / "scenes").mkdir(parents=True)
    (obs_dir / "global.ini").write_text(
        "[General]\nFirstRun=true\nEnableAutoUpdates=false\nConfirmOnExit=false\n\n"
        "[Basic]\nProfile=facecast\nProfileDir=facecast\nSceneCollection=facecast\nSceneCollectionFile=facecast\n\n"
        "[BasicWindow]\nSysTrayEnabled=false\n\n"
        # obs-websocket 5.1 (OBS 29.0) reads these; 5.2+ migrates them to plugin_config/obs-websocket/config.json
        f"[OBSWebSocket]\nFirstLoad=false\nServerEnabled=true\nServerPort={port}\nAlertsEnabled=false\n"
        f"AuthRequired=true\nServerPassword={PASSWORD}\n")
    ws_dir = obs_dir / "plugin_config" / "obs-websocket"
    ws_dir.mkdir(parents=True)
    (ws_dir / "config.json").write_text(json.dumps({
        "first_load": False, "server_enabled": True, "server_port": port, "alerts_enabled": False,
        "auth_required": True, "server_password": PASSWORD}))
    (obs_dir / "basic" / "profiles" / "facecast" / "basic.ini").write_text(
        "[General]\nName=facecast\n\n[Video]\nBaseCX=640\nBaseCY=360\nOutputCX=640\nOutputCY=360\nFPSType=0\n"
        "FPSCommon=30\n\n[Audio]\nSampleRate=48000\nChannelSetup=Mono\n")
    # The program scene holds a browser source "facecast-old", as left by a run on a machine
    # with the browser plugin; where OBS lacks the plugin it is kept as a placeholder.
    old_uuid = "6a0b5c3e-0f4e-4a8e-9f55-f2d1c0de0002"
    old = {"id": "browser_source", "versioned_id": "browser_source", "name": "facecast-old", "uuid": old_uuid,
           "settings": {"url": "http://127.0.0.1:8770/", "width": SIDE, "height": SIDE}, "enabled": True}
    item = {"name": "facecast-old", "source_uuid": old_uuid, "visible": True, "locked": False, "id": 1,
            "pos": {"x": 0.0, "y": 0.0}, "scale": {"x": 1.0, "y": 1.0}, "rot": 0.0, "align": 5, "bounds_type": 0}
    scene = {"id": "scene", "versioned_id": "scene", "name": SCENE, "uuid": "6a0b5c3e-0f4e-4a8e-9f55-f2d1c0de0001",
             "settings": {"items": [item], "id_counter": 1, "custom_size": False}, "enabled": True}
    (obs_dir / "basic" / "scenes" / "facecast.json").write_text(json.dumps({
        "name": "facecast", "current_scene": SCENE, "current_program_scene": SCENE,
        "scene_order": [{"name": SCENE}], "sources": [scene, old], "groups": [], "transitions": [],
        "current_transition": "Fade", "transition_duration": 300}))


def _start_xvfb(log_file: io.BufferedWriter) -> tuple[subprocess.Popen, str]:
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x720x24", "-nolisten", "tcp",
                             "-noreset"],
                            pass_fds=(write_fd,), stdout=log_file, stderr=subprocess.STDOUT)
    os.close(write_fd)
    answer = b""
    try:  # Xvfb writes the number, then "\n" separately: read both, or its second write fails
        deadline = time.monotonic() + 15
        while not answer.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([read_fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(read_fd, 64) if ready else b""
            if not chunk:
                break
            answer += chunk
    finally:
        os.close(read_fd)
    number = answer.decode().strip() if answer.endswith(b"\n") else ""
    if not number:
        proc.kill()
        pytest.skip("Xvfb did not report a display within 15 s")
    return proc, f":{number}"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def obs_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Port of a freshly started, headless OBS's WebSocket server (password PASSWORD)."""
    obs_bin = shutil.which(os.environ.get("FACECAST_OBS_BIN", "obs"))
    if obs_bin is None:
        pytest.skip("OBS Studio not installed (Debian: apt-get install obs-studio xvfb)")
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb not installed (Debian: apt-get install xvfb), needed to run OBS headless")
    root = tmp_path_factory.mktemp("obs")
    port = _free_port()
    _write_obs_config(root / "config", port)
    xvfb_log = open(root / "xvfb.log", "wb")
    xvfb, display = _start_xvfb(xvfb_log)
    # Importing cv2 (opencv-python, via mediapipe) points QT_QPA_PLATFORM_PLUGIN_PATH at its own Qt
    # plugins, which crash OBS's Qt: start OBS with no QT_* variables.
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_") and k != "WAYLAND_DISPLAY"}
    env.update(HOME=str(root), XDG_CONFIG_HOME=str(root / "config"), DISPLAY=display, LIBGL_ALWAYS_SOFTWARE="1")
    obs_log_path = root / "obs.log"
    obs_log = open(obs_log_path, "wb")
    cmd = [obs_bin, "--minimize-to-tray", "--multi", "--profile", "facecast", "--collection", "facecast"]
    obs = subprocess.Popen(cmd, cwd=root, env=env, stdout=obs_log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if obs.poll() is not None:
                tail = obs_log_path.read_text(errors="replace")[-1500:]
                pytest.skip(f"OBS exited with {obs.returncode} at startup under Xvfb + software GL:\n{tail}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.skip(f"OBS's WebSocket server not listening on {port} after 60 s:\n"
                                f"{obs_log_path.read_text(errors='replace')[-1500:]}")
                time.sleep(0.2)
        yield port
    finally:
        _stop(obs)
        _stop(xvfb)
        obs_log.close()
        xvfb_log.close()


@pytest.fixture
def obs(obs_port: int) -> Iterator[obsws_python.ReqClient]:
    with quiet_obsws_logging():
        client = obsws_python.ReqClient(host="127.0.0.1", port=obs_port, password=PASSWORD, timeout=10)
    yield client
    client.disconnect()


def _screenshot(obs: obsws_python.ReqClient, source: str, timeout: float = 20.0) -> np.ndarray:
    """RGB screenshot of a source, waiting until it has a frame (OBS answers 702 before)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with quiet_obsws_logging():
                shot = obs.send("GetSourceScreenshot", {"sourceName": source, "imageFormat": "png"}, raw=True)
            data = base64.b64decode(shot["imageData"].split(",", 1)[1])
            return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        except obsws_python.error.OBSSDKRequestError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _pattern_colours(img: np.ndarray) -> dict[tuple[int, int], tuple[int, ...]]:
    """Mean colour around each quadrant centre of the pattern at the image's top left."""
    q = SIDE // 4
    return {(c, r): tuple(int(v) for v in img[(2 * r + 1) * q - 8:(2 * r + 1) * q + 8,
                                              (2 * c + 1) * q - 8:(2 * c + 1) * q + 8].reshape(-1, 3).mean(0))
            for (c, r) in PATTERN}


def _wait_for_pattern(obs: obsws_python.ReqClient, source: str, timeout: float = 20.0) -> np.ndarray:
    deadline = time.monotonic() + timeout
    while True:
        img = _screenshot(obs, source, timeout)
        seen = _pattern_colours(img) if img.shape[0] >= SIDE and img.shape[1] >= SIDE else {}
        if seen and all(np.abs(np.subtract(seen[k], PATTERN[k])).max() <= 40 for k in PATTERN):
            return img
        if time.monotonic() > deadline:
            raise AssertionError(f"pattern not in {source!r} ({img.shape}); colours {seen}, expected {PATTERN}")
        time.sleep(0.3)


def _scene_sources(obs: obsws_python.ReqClient, scene: str) -> list[str]:
    return [i["sourceName"] for i in obs.send("GetSceneItemList", {"sceneName": scene}, raw=True)["sceneItems"]]


# ------------------------------------------------------------------ tests without OBS
def test_browser_source_preferred_where_obs_has_it() -> None:
    kind, url, settings = choose_source([MEDIA_KIND, BROWSER_KIND], "http://o/", "http://m/s.mjpg", 300, 200)
    assert (kind, url) == (BROWSER_KIND, "http://o/")
    assert (settings["url"], settings["width"], settings["height"]) == ("http://o/", 300, 200)
    kind, url, settings = choose_source([MEDIA_KIND], "http://o/", "http://m/s.mjpg", 300, 200)
    assert (kind, url) == (MEDIA_KIND, "http://m/s.mjpg")
    assert settings["is_local_file"] is False and settings["input"] == "http://m/s.mjpg"
    with pytest.raises(ObsSetupError, match="neither a Browser Source"):
        choose_source(["image_source"], "http://o/", "http://m/s.mjpg", 300, 200)


def test_closed_port_says_how_to_enable_the_websocket_server() -> None:
    port = _free_port()
    with pytest.raises(ObsSetupError, match="is OBS running") as info:
        setup_obs_source(port=port, password="x", timeout=2)
    assert "Tools → WebSocket Server Settings" in str(info.value)


def _cli_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_obs_arguments(parser)
    return parser.parse_args(list(argv))


def test_cli_entry_reports_failure_as_exit_code_2(caplog: pytest.LogCaptureFixture) -> None:
    args = _cli_args("--port", str(_free_port()), "--timeout", "2")
    assert (args.host, args.name, args.password, args.scene) == ("127.0.0.1", "facecast", None, None)
    assert run_obs_setup(AppConfig(), args) == 2
    assert "WebSocket Server Settings" in caplog.text


# ------------------------------------------------------------------ tests with a real OBS
def test_creates_source_in_program_scene_showing_the_stream(obs, obs_port: int, pattern_server: str) -> None:
    result = setup_obs_source(port=obs_port, password=PASSWORD, overlay_url=pattern_server + "/",
                              mjpeg_url=pattern_server + "/stream.mjpg", name="facecast", width=SIDE, height=SIDE)
    assert result.created_or_updated == "created"
    assert result.scene == SCENE
    kinds = obs.send("GetInputKindList", {"unversioned": True}, raw=True)["inputKinds"]
    assert result.input_kind == (BROWSER_KIND if BROWSER_KIND in kinds else MEDIA_KIND)
    assert _scene_sources(obs, SCENE).count("facecast") == 1
    _wait_for_pattern(obs, "facecast")
    _wait_for_pattern(obs, SCENE)  # and in the program output, at the scene's top left


def test_second_run_updates_instead_of_failing(obs, obs_port: int, pattern_server: str) -> None:
    kwargs = dict(port=obs_port, password=PASSWORD, overlay_url=pattern_server + "/?v=1",
                  mjpeg_url=pattern_server + "/stream.mjpg?v=1", name="facecast-twice", width=SIDE, height=SIDE)
    first = setup_obs_source(**kwargs)
    second = setup_obs_source(**{**kwargs, "overlay_url": pattern_server + "/?v=2",
                                 "mjpeg_url": pattern_server + "/stream.mjpg?v=2"})
    assert (first.created_or_updated, second.created_or_updated) == ("created", "updated")
    names = [i["inputName"] for i in obs.send("GetInputList", raw=True)["inputs"]]
    assert names.count("facecast-twice") == 1
    settings = obs.send("GetInputSettings", {"inputName": "facecast-twice"}, raw=True)["inputSettings"]
    assert second.url.endswith("v=2") and second.url in (settings.get("url"), settings.get("input"))
    assert _scene_sources(obs, SCENE).count("facecast-twice") == 1
    _wait_for_pattern(obs, "facecast-twice")

    # Removed from the scene by hand: a third run puts it back. OBS releases an input whose
    # last scene item is gone, but asynchronously: the run finds it still there (updated) or
    # already released (created) — either way the scene must hold it exactly once again.
    item = obs.send("GetSceneItemId", {"sceneName": SCENE, "sourceName": "facecast-twice"}, raw=True)
    obs.send("RemoveSceneItem", {"sceneName": SCENE, "sceneItemId": item["sceneItemId"]})
    assert _scene_sources(obs, SCENE).count("facecast-twice") == 0
    assert setup_obs_source(**kwargs).created_or_updated in ("created", "updated")
    assert _scene_sources(obs, SCENE).count("facecast-twice") == 1
    names = [i["inputName"] for i in obs.send("GetInputList", raw=True)["inputs"]]
    assert names.count("facecast-twice") == 1


class _ReleasedAfterListing(_Obs):
    """A real OBS connection that, right after OBS answers GetInputList, removes the input
    `name` and waits until OBS has let it go: what OBS itself does, asynchronously, to an input
    whose last scene item was removed by hand, put at the moment `obs setup` is most exposed
    (it saw the input listed and is about to update it)."""

    def __init__(self, client: obsws_python.ReqClient, name: str) -> None:
        super().__init__(client)
        self.name: str | None = name

    def send(self, request: str, data: dict | None = None) -> dict:
        reply = super().send(request, data)
        if request == "GetInputList" and self.name is not None:
            name, self.name = self.name, None
            assert name in [i["inputName"] for i in reply.get("inputs", [])]
            self.client.send("RemoveInput", {"inputName": name})
            deadline = time.monotonic() + 10
            while True:
                try:
                    self.client.send("GetInputSettings", {"inputName": name}, raw=True)
                except obsws_python.error.OBSSDKRequestError as exc:
                    assert exc.code == RESOURCE_NOT_FOUND, exc
                    break
                assert time.monotonic() < deadline, f"OBS still has {name!r} 10 s after RemoveInput"
                time.sleep(0.1)
        return reply


def test_input_released_by_obs_during_the_run_is_created_again(obs, obs_port: int, pattern_server: str) -> None:
    name = "facecast-released"
    urls = dict(overlay_url=pattern_server + "/", mjpeg_url=pattern_server + "/stream.mjpg")
    assert setup_obs_source(port=obs_port, password=PASSWORD, name=name, width=SIDE, height=SIDE,
                            **urls).created_or_updated == "created"
    with quiet_obsws_logging():
        client = obsws_python.ReqClient(host="127.0.0.1", port=obs_port, password=PASSWORD, timeout=10)
    try:
        result = _setup(_ReleasedAfterListing(client, name), urls["overlay_url"], urls["mjpeg_url"], name,
                        SIDE, SIDE, None)
    finally:
        client.disconnect()
    assert (result.created_or_updated, result.scene) == ("created", SCENE)
    names = [i["inputName"] for i in obs.send("GetInputList", raw=True)["inputs"]]
    assert names.count(name) == 1
    assert _scene_sources(obs, SCENE).count(name) == 1
    _wait_for_pattern(obs, name)


def test_name_of_an_existing_scene_is_refused_with_advice(obs, obs_port: int, pattern_server: str) -> None:
    obs.send("CreateScene", {"sceneName": "facecast-scene"})
    with pytest.raises(ObsSetupError, match="scene or group named 'facecast-scene'.*--name") as err:
        setup_obs_source(port=obs_port, password=PASSWORD, overlay_url=pattern_server + "/",
                         mjpeg_url=pattern_server + "/stream.mjpg", name="facecast-scene")
    assert err.value.code == 601


def test_other_kind_of_facecast_source_is_replaced_but_a_foreign_input_is_kept(obs, obs_port: int,
                                                                               pattern_server: str) -> None:
    kinds = obs.send("GetInputKindList", {"unversioned": True}, raw=True)["inputKinds"]
    if BROWSER_KIND in kinds:
        pytest.skip("this OBS has the browser plugin, so the browser source stays; nothing to replace")
    before = {i["inputName"]: i["unversionedInputKind"] for i in obs.send("GetInputList", raw=True)["inputs"]}
    assert before.get("facecast-old") == BROWSER_KIND, f"the scene collection's placeholder is missing: {before}"
    result = setup_obs_source(port=obs_port, password=PASSWORD, mjpeg_url=pattern_server + "/stream.mjpg",
                              name="facecast-old")
    assert (result.input_kind, result.created_or_updated) == (MEDIA_KIND, "created")
    deadline = time.monotonic() + 10  # OBS removes the old input on its UI thread, a moment later
    while True:
        inputs = [(i["inputName"], i["unversionedInputKind"]) for i in obs.send("GetInputList", raw=True)["inputs"]]
        if [k for n, k in inputs if n.startswith("facecast-old")] == [MEDIA_KIND] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [k for n, k in inputs if n.startswith("facecast-old")] == [MEDIA_KIND], inputs
    assert _scene_sources(obs, SCENE).count("facecast-old") == 1
    _wait_for_pattern(obs, "facecast-old")

    versioned = obs.send("GetInputKindList", {"unversioned": False}, raw=True)["inputKinds"]
    colour_kind = next(k for k in versioned if k.startswith("color_source"))  # e.g. color_source_v3
    obs.send("CreateInput", {"sceneName": SCENE, "inputName": "mine", "inputKind": colour_kind,
                             "inputSettings": {}, "sceneItemEnabled": False})
    with pytest.raises(ObsSetupError, match="choose another name"):
        setup_obs_source(port=obs_port, password=PASSWORD, mjpeg_url=pattern_server + "/stream.mjpg", name="mine")
    kinds_now = {i["inputName"]: i["unversionedInputKind"] for i in obs.send("GetInputList", raw=True)["inputs"]}
    assert kinds_now["mine"] == "color_source"


def test_cli_entry_uses_the_configured_stream_url(obs, obs_port: int, pattern_server: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    port = int(pattern_server.rsplit(":", 1)[1])
    cfg = dataclasses.replace(AppConfig(), mjpeg=MjpegConfig(port=port))
    monkeypatch.setenv("FACECAST_OBS_PASSWORD", PASSWORD)
    assert run_obs_setup(cfg, _cli_args("--port", str(obs_port), "--name", "facecast-cli")) == 0
    settings = obs.send("GetInputSettings", {"inputName": "facecast-cli"}, raw=True)["inputSettings"]
    if settings.get("input") is not None:  # a media source (no browser plugin)
        assert settings["input"] == pattern_server + "/stream.mjpg"
        _wait_for_pattern(obs, "facecast-cli")


def test_wrong_or_missing_password_is_reported(obs_port: int) -> None:
    with pytest.raises(ObsSetupError, match="rejected the password"):
        setup_obs_source(port=obs_port, password="not-the-password")
    with pytest.raises(ObsSetupError, match="requires a password"):
        setup_obs_source(port=obs_port, password="")


def _first_jpeg(url: str, timeout: float = 20.0) -> np.ndarray:
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as resp:
        data = b""
        while True:
            data += resp.read1(65536)
            start = data.find(b"\xff\xd8")
            end = data.find(b"\xff\xd9", start + 2) if start >= 0 else -1
            if end >= 0:
                return np.asarray(Image.open(io.BytesIO(data[start:end + 2])).convert("RGB"))


@pytest.mark.slow
def test_daemon_face_appears_in_obs(obs, obs_port: int, default_store, tmp_path: Path) -> None:
    if importlib.util.find_spec("facecast.sinks.mjpeg") is None:
        pytest.skip("the MJPEG sink (facecast.sinks.mjpeg) is not there yet")
    from facecast.client import Client
    from tests.integration.daemon_process import start_daemon

    port = _free_port()
    daemon = start_daemon(tmp_path, default_store.root, "--sink", "mjpeg", "--set", f"mjpeg.port={port}")
    stop = threading.Event()

    def perform() -> None:
        with Client(daemon.endpoint) as client:
            bound = client.bind("default")
            while not stop.is_set():
                client.render(bound.neutral)
                time.sleep(1 / 30)

    performer = threading.Thread(target=perform, daemon=True)
    performer.start()
    try:
        url = f"http://127.0.0.1:{port}/stream.mjpg"
        result = setup_obs_source(port=obs_port, password=PASSWORD, mjpeg_url=url, name="facecast-daemon")
        if result.input_kind != MEDIA_KIND:
            pytest.skip("this OBS has a browser source; the overlay page is tested by the overlay tests")
        face = _first_jpeg(url).astype(np.float32)
        deadline = time.monotonic() + 20
        while True:
            shot = _screenshot(obs, "facecast-daemon").astype(np.float32)
            diff = float(np.abs(shot - face).mean()) if shot.shape == face.shape else float("inf")
            if diff < 12 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        log.info("daemon face %s (std %.1f) vs OBS screenshot %s: mean abs diff %.2f",
                 face.shape, face.std(), shot.shape, diff)
        assert face.std() > 10, "the daemon's stream is a blank image"
        assert diff < 12, f"OBS shows something else than the daemon's face: shapes {shot.shape} vs {face.shape}, " \
                          f"mean abs diff {diff:.1f}"
    finally:
        stop.set()
        performer.join(timeout=10)
        assert daemon.stop() == 0, daemon.log()
