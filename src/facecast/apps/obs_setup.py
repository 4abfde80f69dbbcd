"""`facecast obs setup`: create (or update) the facecast source in a running OBS.

Talks obs-websocket v5 (built into OBS 28 and newer) through obsws-python. The source
goes into the current program scene:

- a Browser Source showing the overlay page (``facecast serve --sink overlay``) where
  OBS has the browser plugin (``browser_source`` in ``GetInputKindList``);
- else a Media Source reading the MJPEG stream (``facecast serve --sink mjpeg``), with
  network buffering off so the face follows the daemon closely.

Running it again is safe: an input of that name is updated in place (and put back into
the scene if it was removed from it), or replaced when it is the other facecast kind. An
input OBS lets go of while the run updates it (OBS releases an input whose last scene item
was removed, asynchronously) is created anew.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any, Iterator

import obsws_python
import websocket
from obsws_python.error import OBSSDKError, OBSSDKRequestError, OBSSDKTimeoutError

from facecast.config import AppConfig, MjpegConfig, OverlayConfig

log = logging.getLogger("facecast.obs_setup")

BROWSER_KIND = "browser_source"
MEDIA_KIND = "ffmpeg_source"
PASSWORD_ENV = "FACECAST_OBS_PASSWORD"
ENABLE_HELP = ("In OBS (28 or newer): Tools → WebSocket Server Settings → tick 'Enable WebSocket server'; "
               "'Show Connect Info' there shows the port and password.")


class ObsSetupError(RuntimeError):
    """OBS could not be reached or refused a request; the message says what to do.

    code: the obs-websocket v5 RequestStatus of a refused request (None otherwise)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


RESOURCE_NOT_FOUND = 600  # obs-websocket v5 RequestStatus: the input or scene named is gone
RESOURCE_ALREADY_EXISTS = 601  # ... a scene, group or input of that name exists


@dataclass(frozen=True)
class SetupResult:
    scene: str  # the scene the source was placed in
    input_name: str
    input_kind: str  # browser_source | ffmpeg_source
    url: str  # what the source shows
    created_or_updated: str  # "created" | "updated"


def _loopback(host: str) -> str:
    """An address OBS can reach for a server bound to `host` (a wildcard bind means loopback)."""
    if host in ("", "0.0.0.0", "::", "[::]"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def overlay_page_url(cfg: OverlayConfig) -> str:
    return f"http://{_loopback(cfg.host)}:{cfg.port}/"


def mjpeg_stream_url(cfg: MjpegConfig) -> str:
    return f"http://{_loopback(cfg.host)}:{cfg.port}/stream.mjpg"


DEFAULT_OVERLAY_URL = overlay_page_url(OverlayConfig())
DEFAULT_MJPEG_URL = mjpeg_stream_url(MjpegConfig())


def browser_source_settings(url: str, width: int, height: int) -> dict[str, Any]:
    return {"url": url, "is_local_file": False, "width": width, "height": height,
            "shutdown": False, "restart_when_active": False}


def media_source_settings(url: str) -> dict[str, Any]:
    """ffmpeg_source settings for a live MJPEG stream: no network buffer, quick reconnect."""
    return {
        "is_local_file": False,
        "input": url,
        "input_format": "mpjpeg",  # ffmpeg's multipart-JPEG demuxer
        "buffering_mb": 0,
        "reconnect_delay_sec": 1,
        "restart_on_activate": False,
        "close_when_inactive": False,
        "hw_decode": False,
        "ffmpeg_options": "fflags=nobuffer",  # read by OBS 29+, ignored by older versions
    }


def choose_source(input_kinds: list[str], overlay_url: str, mjpeg_url: str,
                  width: int, height: int) -> tuple[str, str, dict[str, Any]]:
    """(kind, url, settings) for the best source this OBS offers."""
    if BROWSER_KIND in input_kinds:
        return BROWSER_KIND, overlay_url, browser_source_settings(overlay_url, width, height)
    if MEDIA_KIND in input_kinds:
        return MEDIA_KIND, mjpeg_url, media_source_settings(mjpeg_url)
    raise ObsSetupError("this OBS has neither a Browser Source (obs-browser plugin) nor a Media Source "
                        f"(obs-ffmpeg plugin); its input kinds are: {', '.join(input_kinds) or 'none'}")


@contextlib.contextmanager
def quiet_obsws_logging() -> Iterator[None]:
    """obsws-python logs the password at INFO and tracebacks for errors we report ourselves."""
    lib_log = logging.getLogger("obsws_python")
    level = lib_log.level
    lib_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        lib_log.setLevel(level)


def _connect(host: str, port: int, password: str, timeout: float) -> obsws_python.ReqClient:
    where = f"ws://{host}:{port}"
    try:
        return obsws_python.ReqClient(host=host, port=port, password=password, timeout=timeout)
    except ConnectionRefusedError as exc:
        raise ObsSetupError(f"nothing is listening at {where} ({exc.strerror or exc}): is OBS running, and is its "
                            f"WebSocket server enabled on port {port}? {ENABLE_HELP}") from exc
    except (OBSSDKTimeoutError, websocket.WebSocketTimeoutException, TimeoutError, socket.timeout) as exc:
        raise ObsSetupError(f"no obs-websocket v5 greeting from {where} within {timeout:g}s: is this OBS 28 or "
                            f"newer with its WebSocket server on port {port}? {ENABLE_HELP}") from exc
    except OBSSDKError as exc:
        if "no password" in str(exc):
            raise ObsSetupError(f"OBS at {where} requires a password: pass --password or set ${PASSWORD_ENV} "
                                "(Tools → WebSocket Server Settings → Show Connect Info shows it)") from exc
        if password:
            raise ObsSetupError(f"OBS at {where} rejected the password; check it under Tools → "
                                "WebSocket Server Settings → Show Connect Info") from exc
        raise ObsSetupError(f"OBS at {where} did not accept the connection: {exc}") from exc
    except websocket.WebSocketConnectionClosedException as exc:
        hint = "rejected the password (see Tools → WebSocket Server Settings)" if password else "closed the connection"
        raise ObsSetupError(f"OBS at {where} {hint}") from exc
    except websocket.WebSocketException as exc:
        raise ObsSetupError(f"{where} is not an obs-websocket server ({exc}); {ENABLE_HELP}") from exc
    except (OSError, ValueError) as exc:
        raise ObsSetupError(f"could not connect to OBS at {where}: {exc}. {ENABLE_HELP}") from exc


class _Obs:
    """The few requests setup needs, with OBS's failures turned into ObsSetupError."""

    def __init__(self, client: obsws_python.ReqClient) -> None:
        self.client = client

    def send(self, request: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            return self.client.send(request, data, raw=True) or {}
        except OBSSDKRequestError as exc:
            raise ObsSetupError(f"OBS refused {request}: {exc}", exc.code) from exc
        except (OBSSDKError, websocket.WebSocketException, OSError) as exc:
            raise ObsSetupError(f"lost the connection to OBS during {request}: {exc}") from exc


def _ensure_in_scene(obs: _Obs, scene: str, name: str) -> None:
    items = obs.send("GetSceneItemList", {"sceneName": scene}).get("sceneItems", [])
    item = next((i for i in items if i.get("sourceName") == name), None)
    if item is None:
        obs.send("CreateSceneItem", {"sceneName": scene, "sourceName": name, "sceneItemEnabled": True})
        log.info("added existing input %r to scene %r", name, scene)
    elif not item.get("sceneItemEnabled", True):
        obs.send("SetSceneItemEnabled", {"sceneName": scene, "sceneItemId": item["sceneItemId"],
                                         "sceneItemEnabled": True})
        log.info("made input %r visible in scene %r", name, scene)


def _retire(obs: _Obs, name: str) -> None:
    """Remove an input so its name can be used again at once: OBS keeps a removed source's
    name taken until its last reference goes (a media source may hold one for a while), so
    rename it first."""
    retired = f"{name} (replaced by facecast {os.getpid()})"
    obs.send("SetInputName", {"inputName": name, "newInputName": retired})
    obs.send("RemoveInput", {"inputName": retired})


def setup_obs_source(host: str = "127.0.0.1", port: int = 4455, password: str = "",
                     overlay_url: str = DEFAULT_OVERLAY_URL, mjpeg_url: str = DEFAULT_MJPEG_URL,
                     name: str = "facecast", width: int = 512, height: int = 512, *,
                     scene: str | None = None, timeout: float = 5.0) -> SetupResult:
    """Create or update the input `name` in OBS's current program scene (or `scene`)."""
    with quiet_obsws_logging():
        client = _connect(host, port, password, timeout)
        try:
            return _setup(_Obs(client), overlay_url, mjpeg_url, name, width, height, scene)
        finally:
            with contextlib.suppress(OSError, websocket.WebSocketException):
                client.disconnect()


def _setup(obs: _Obs, overlay_url: str, mjpeg_url: str, name: str, width: int, height: int,
           scene: str | None) -> SetupResult:
    version = obs.send("GetVersion")
    log.debug("OBS %s, obs-websocket %s", version.get("obsVersion"), version.get("obsWebSocketVersion"))
    if scene is None:
        scene = obs.send("GetCurrentProgramScene")["currentProgramSceneName"]
    kinds = obs.send("GetInputKindList", {"unversioned": True}).get("inputKinds", [])
    kind, url, settings = choose_source(kinds, overlay_url, mjpeg_url, width, height)

    inputs = obs.send("GetInputList").get("inputs", [])
    existing = next((i for i in inputs if i.get("inputName") == name), None)
    if existing is not None:
        old_kind = existing.get("unversionedInputKind") or existing.get("inputKind", "")
        if old_kind == kind:
            try:
                obs.send("SetInputSettings", {"inputName": name, "inputSettings": settings, "overlay": True})
                _ensure_in_scene(obs, scene, name)
                log.info("updated OBS %s %r in scene %r -> %s", kind, name, scene, url)
                return SetupResult(scene, name, kind, url, "updated")
            except ObsSetupError as exc:
                if exc.code != RESOURCE_NOT_FOUND:
                    raise
                # OBS releases an input whose last scene item was removed, asynchronously: it
                # was in GetInputList a moment ago and is gone now, so make it anew
                log.info("OBS released input %r while facecast was updating it; creating it again", name)
        elif old_kind not in (BROWSER_KIND, MEDIA_KIND):
            raise ObsSetupError(f"OBS already has an input named {name!r} of kind {old_kind!r}, which facecast "
                                "did not make; choose another name with --name")
        else:
            log.info("replacing OBS %s %r with a %s", old_kind, name, kind)
            _retire(obs, name)

    try:
        obs.send("CreateInput", {"sceneName": scene, "inputName": name, "inputKind": kind,
                                 "inputSettings": settings, "sceneItemEnabled": True})
    except ObsSetupError as exc:
        if exc.code == RESOURCE_ALREADY_EXISTS:  # a scene or group of that name
            raise ObsSetupError(f"OBS already has a scene or group named {name!r}; choose another source name "
                                "with --name", exc.code) from exc
        raise
    log.info("created OBS %s %r in scene %r -> %s", kind, name, scene, url)
    return SetupResult(scene, name, kind, url, "created")


def add_obs_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `facecast obs setup`."""
    parser.add_argument("--host", default="127.0.0.1", help="OBS WebSocket host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=4455, help="OBS WebSocket port (default 4455)")
    parser.add_argument("--password", default=None,
                        help=f"OBS WebSocket password (default: ${PASSWORD_ENV}, else none)")
    parser.add_argument("--name", default="facecast", help="name of the OBS source (default facecast)")
    parser.add_argument("--scene", default=None, help="scene to add it to (default: the current program scene)")
    parser.add_argument("--width", type=int, default=512, help="browser source width (default 512)")
    parser.add_argument("--height", type=int, default=512, help="browser source height (default 512)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for OBS (default 5)")


def run_obs_setup(cfg: AppConfig, args: argparse.Namespace) -> int:
    """`facecast obs setup`: URLs come from the [overlay] and [mjpeg] config sections."""
    password = args.password if args.password is not None else os.environ.get(PASSWORD_ENV, "")
    try:
        result = setup_obs_source(host=args.host, port=args.port, password=password,
                                  overlay_url=overlay_page_url(cfg.overlay), mjpeg_url=mjpeg_stream_url(cfg.mjpeg),
                                  name=args.name, width=args.width, height=args.height,
                                  scene=args.scene, timeout=args.timeout)
    except ObsSetupError as exc:
        log.error("obs setup: %s", exc)
        return 2
    sink = "overlay" if result.input_kind == BROWSER_KIND else "mjpeg"
    log.info("%s %s %r in scene %r showing %s; run `facecast serve --sink %s` to feed it",
             result.created_or_updated, result.input_kind, result.input_name, result.scene, result.url, sink)
    return 0
