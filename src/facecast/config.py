"""Configuration: one frozen dataclass per part, composed into AppConfig.

Each knob is defined exactly once, here, with ``knob(default, help, flag=...)``: its type,
default and help text, and — when it has one — its command-line flag. Commands add those
flags with ``add_knob_flags(parser, "section.key", ...)`` and ``knob_overrides(args)``
reads them back, so no flag, default or help is written twice. Values come from the
defaults below, then a TOML file (``--config FILE``; sections named like the AppConfig
fields), then ``--set SECTION.KEY=VALUE``, then flags. Defaults do no I/O: paths that
depend on the user (the character store) are resolved where they are used.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_KNOB_DEST = "knob:"  # argparse dest prefix of a flag made by add_knob_flags: "knob:section.key"


def knob(default: Any, help: str, *, flag: str | None = None, metavar: str | None = None,
         choices: tuple[str, ...] | None = None, implies: Mapping[str, Any] | None = None) -> Any:
    """A config field: its default and help text, and optionally its command-line ``flag``
    (``choices`` restrict it; ``implies`` sets other keys of the same section unless their own
    flags are given, e.g. ``--onnx`` implies ``--engine onnx``). Tuple knobs take a repeatable
    flag."""
    meta = {"help": help, "flag": flag, "metavar": metavar, "choices": choices, "implies": dict(implies or {})}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ServerConfig:
    bind: str = knob("tcp://127.0.0.1:5555", "endpoint, e.g. tcp://127.0.0.1:5555 (port 0: a free one) or "
                     "ipc:///tmp/fc.sock; non-loopback needs CurveZMQ", flag="--bind", metavar="ENDPOINT")
    curve_secret_key: str = knob("", "the daemon's CurveZMQ .key_secret file (facecast keys generate): turns "
                                 "authentication on; required to bind anything but loopback or ipc://",
                                 flag="--curve-secret-key", metavar="FILE")
    curve_clients_dir: str = knob("", "directory of allowed clients' public .key files (only public keys); "
                                  "re-read when it changes and on SIGHUP", flag="--curve-clients", metavar="DIR")
    curve_reload_s: float = knob(1.0, "how often the daemon compares the allow-list folder's listing and re-reads "
                                 "it when changed (0: only on SIGHUP)")
    max_poses_per_second: float = knob(2000.0, "per session; more get RATE_LIMITED (0 = no limit)")
    max_characters: int = knob(64, "characters kept loaded; the least recently bound is unloaded")
    character_check_s: float = knob(1.0, "how often loaded characters are checked for a re-enrollment (one stat "
                                    "each; a changed one is reloaded and its sessions switch to it); 0 = at bind only")
    max_message_bytes: int = knob(4 << 20, "larger messages get a TOO_LARGE error reply")
    hard_max_message_bytes: int = knob(8 << 20, "ZMQ_MAXMSGSIZE, per message part: a larger part drops the "
                                       "connection; libzmq buffers every part of a message before the daemon "
                                       "sees it (docs/protocol.md, limits)")
    max_queued_reply_bytes: int = knob(16 << 20, "frame bytes one session may have queued for a peer that is not "
                                       "reading; past it frames are held, latest-wins (one frame always fits)")
    rcv_hwm: int = knob(1000, "incoming ZeroMQ high-water mark (messages), so nothing queues without bound")
    snd_hwm: int = knob(1000, "outgoing high-water mark (messages)")
    max_sessions: int = knob(256, "sessions at once; more get SESSION_LIMIT")
    session_timeout_s: float = knob(60.0, "sessions silent this long are reclaimed")
    unbound_session_timeout_s: float = knob(10.0, "sessions that never bound a character are reclaimed after "
                                            "this long without a message")
    stats_interval_s: float = knob(5.0, "how often fps and latency percentiles are logged")


@dataclass(frozen=True)
class SchedulerConfig:
    max_batch: int = knob(8, "poses rendered together, across sessions and characters", flag="--max-batch",
                          metavar="N")
    max_wait_ms: float = knob(2.0, "how long a first pose waits for others to fill a batch",
                              flag="--max-wait-ms", metavar="MS")


@dataclass(frozen=True)
class RenderConfig:
    renderer: str = knob("warp", "warp, neural, or module:Class; copy and stamp are for benchmarks and tests",
                         flag="--renderer")
    checkpoint: str = knob("", "neural renderer's model checkpoint (facecast train ... --out CKPT); implies "
                           "--renderer neural", flag="--checkpoint", metavar="CKPT",
                           implies={"renderer": "neural"})
    pose_budget_ms: float = knob(1000.0, "warp: time one pose may take per megapixel of output before it gets "
                                 "RENDER_FAILED and the batch goes on (0 = no budget)")
    device: str = knob("auto", "neural model's device: auto (CUDA when available), cpu, cuda, cuda:N",
                       flag="--device")
    engine: str = knob("torch", "what runs the neural generator (docs/engines.md)", flag="--engine",
                       choices=("torch", "onnx"))
    onnx_model: str = knob("", "exported generator for --engine onnx (facecast export CKPT OUT.onnx); implies "
                           "--engine onnx", flag="--onnx", metavar="MODEL.onnx",
                           implies={"renderer": "neural", "engine": "onnx"})
    precision: str = knob("auto", "torch engine precision: auto (fp16 on CUDA, fp32 on CPU)", flag="--precision",
                          choices=("auto", "fp32", "fp16", "bf16"))
    compile: bool = knob(False, "engine torch, CUDA: torch.compile the generator")
    cuda_graph_batches: tuple[str, ...] = knob((), "engine torch, CUDA: batch sizes captured as CUDA graphs, e.g. 1,8,32")
    providers: tuple[str, ...] = knob((), "engine onnx: preference order; () = tensorrt,cuda,cpu")
    threads: int = knob(0, "engine onnx: intra-op threads (0 = onnxruntime's choice, one per physical core)")
    trt_cache_dir: str = knob("", "engine onnx, TensorRT: engine cache directory (\"\" = rebuild at every start)")
    trt_fp16: bool = knob(True, "engine onnx, TensorRT: allow fp16 kernels")
    trt_max_batch: int = knob(32, "engine onnx, TensorRT: largest batch of the optimisation profile (>= max_batch)")


@dataclass(frozen=True)
class ExecutorConfig:
    """Where batches are rendered (docs/scale.md)."""

    kind: str = knob("inprocess", "inprocess: one render thread; devices: one render thread per local device; "
                     "ray: Ray actors on a Ray cluster", flag="--executor", choices=("inprocess", "devices", "ray"))
    devices: tuple[str, ...] = knob((), "executor devices: e.g. cuda:0,cuda:1 (or cpu,cpu: two CPU threads); "
                                    "() = every local CUDA device, else one cpu", flag="--devices")
    inline_render_ms: float = knob(1.0, "executor inprocess: render a pose on the I/O thread, skipping two thread "
                                   "hand-offs, when nothing else is queued and renders average below this (0 = never)")
    ray_address: str = knob("", "executor ray: the cluster to join (ray://HOST:10001, HOST:6379, or auto); "
                            "\"\" = start a Ray instance on this machine", flag="--ray-address", metavar="ADDR")
    ray_workers: int = knob(0, "executor ray: render actors (0 = one per GPU in the cluster, else one per node)",
                            flag="--ray-workers", metavar="N")
    ray_gpus_per_worker: float = knob(-1.0, "executor ray: GPUs per actor (-1 = 1 when the cluster has GPUs, else 0)")
    ray_cpus_per_worker: float = knob(1.0, "executor ray: CPUs per actor")
    ray_batch_timeout_s: float = knob(30.0, "executor ray: a batch not back within this is lost: its poses are "
                                      "re-routed once, then answered RENDER_FAILED, and its actor restarted")
    ray_start_timeout_s: float = knob(120.0, "executor ray: how long to wait for the actors to load their renderer")


@dataclass(frozen=True)
class StoreConfig:
    root: str = knob("", "character store directory (default: the user data dir, facecast/characters)",
                     flag="--store", metavar="DIR")


@dataclass(frozen=True)
class DemoConfig:
    seconds: float = knob(6.0, "length of the procedural performance", flag="--seconds")
    fps: float = knob(25.0, "poses sent per second")
    size: int = knob(256, "output frame side in pixels", flag="--size", metavar="PX")
    out_dir: str = knob("demo_out", "output directory", flag="--out", metavar="DIR")


@dataclass(frozen=True)
class NpcConfig:
    """NPC portraits (facecast npc, and NPC sessions in the daemon); docs/npc.md."""

    fps: float = knob(30.0, "NPC frames per second (lip flap analyses one hop of audio per frame)", flag="--fps")
    seed: int = knob(0, "idle motion seed: the same seed, audio and emotion give the same frames", flag="--seed")
    emotion: str = knob("neutral", "emotion preset: neutral, happy, angry, sad or surprised (facecast.npc.EMOTIONS)",
                        flag="--emotion")
    blinks_per_minute: float = knob(17.0, "mean spontaneous blink rate (15-20 at rest in people)")
    size: int = knob(256, "facecast npc: output frame side in pixels", flag="--size", metavar="PX")
    tail_s: float = knob(1.0, "facecast npc: idle seconds after the audio ends")
    seconds: float = knob(8.0, "facecast npc without --audio: seconds of idle life", flag="--seconds")
    max_sessions: int = knob(64, "daemon: NPC sessions at once (each costs ~0.5 ms of the I/O thread per frame); "
                             "more get SESSION_LIMIT")
    max_audio_buffer_s: float = knob(20.0, "daemon: dialogue audio one NPC session may have buffered ahead of its "
                                     "lip sync (int16: 1.9 MB at 48 kHz); an audio chunk past it gets RATE_LIMITED")


@dataclass(frozen=True)
class SinksConfig:
    enabled: tuple[str, ...] = knob((), "also send frames to a virtual camera, the OBS overlay page or an MJPEG "
                                     "stream (repeatable)", flag="--sink",
                                     choices=("virtualcam", "overlay", "mjpeg"))
    character: str = knob("", "only frames of this character go to the sinks; \"\" = every frame")
    allowed_hosts: tuple[str, ...] = knob((), "overlay and mjpeg servers: more names they answer to besides "
                                          "localhost/127.0.0.1/[::1] (NAME or NAME:PORT, e.g. studio.lan) and "
                                          "more pages that may use them (an origin: http://tools.lan:3000, or "
                                          "null); other Host headers get 421, other Origins 403")


@dataclass(frozen=True)
class VirtualCamConfig:
    backend: str = knob("", "\"\" = pyvirtualcam's default for the OS; obs | unitycapture | v4l2loopback")
    device: str = knob("", "e.g. /dev/video10 for v4l2loopback; \"\" = the first free one")
    fps: float = knob(30.0, "frames are sent at this rate; the last frame repeats when none is new")
    width: int = knob(0, "0 = the first frame's size")
    height: int = knob(0, "0 = the first frame's size")


@dataclass(frozen=True)
class OverlayConfig:
    host: str = knob("127.0.0.1", "interface of the overlay page (loopback: only this machine)")
    port: int = knob(8770, "the page is http://HOST:PORT/ , its WebSocket feed ws://HOST:PORT/ws")


@dataclass(frozen=True)
class MjpegConfig:
    host: str = knob("127.0.0.1", "interface of the MJPEG stream (loopback: only this machine)")
    port: int = knob(8771, "the stream is http://HOST:PORT/stream.mjpg")
    fps: float = knob(30.0, "most frames sent per second")
    quality: int = knob(85, "JPEG quality, 1-100")


@dataclass(frozen=True)
class TrackerConfig:
    """Webcam/video tracker (facecast track, record, replay); docs/tracker.md."""

    # One Euro filter (Casiez et al. 2012) on the 478 landmarks, in image-normalised units
    # (x, y in 0..1): cutoff = min_cutoff + beta * speed (speed per landmark, units/s).
    # Chosen on the shared videos (docs/tracker.md): jitter on a still face / 3, lag < 1 frame.
    min_cutoff: float = knob(1.0, "Hz at rest: lower = less jitter, more lag on slow motion")
    beta: float = knob(30.0, "cutoff rise per unit/s of speed: higher = less lag on fast motion")
    d_cutoff: float = knob(1.0, "Hz, low-pass of the speed estimate")
    head_min_cutoff: float = knob(1.0, "the same filter on the head yaw/pitch/roll (radians)")
    head_beta: float = knob(5.0, "per rad/s")
    hold_s: float = knob(0.5, "face lost: hold the last pose this long ...")
    ease_s: float = knob(1.0, "... then ease to the neutral face over this long")
    no_face_warning_s: float = knob(5.0, "warn \"no face for N s\" after N s, then at most every N s")
    calibration_frames: int = knob(10, "driver neutral = mean of N consecutive frames judged neutral")
    calibration_search_s: float = knob(3.0, "no neutral window (eyes open, mouth closed, facing, steady) this "
                                       "long: take the best seen, warn, re-calibrate on a better one")
    min_detection_confidence: float = knob(0.5, "MediaPipe FaceLandmarker: face detection threshold")
    min_tracking_confidence: float = knob(0.5, "MediaPipe FaceLandmarker: tracking threshold")


@dataclass(frozen=True)
class AppConfig:
    server: ServerConfig = field(default_factory=ServerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)
    npc: NpcConfig = field(default_factory=NpcConfig)
    sinks: SinksConfig = field(default_factory=SinksConfig)
    virtualcam: VirtualCamConfig = field(default_factory=VirtualCamConfig)
    overlay: OverlayConfig = field(default_factory=OverlayConfig)
    mjpeg: MjpegConfig = field(default_factory=MjpegConfig)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)


class ConfigError(ValueError):
    """A config file or override names an unknown knob or gives a value of the wrong type."""


def _coerce(section: str, key: str, current: Any, value: Any) -> Any:
    target = type(current)
    if target is tuple:  # lists of names: a TOML array, or "a,b" from a flag
        items = [value] if isinstance(value, str) else value  # a repeated flag gives a list
        if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
            raise ConfigError(f"{section}.{key}: expected a list of strings")
        return tuple(part.strip() for v in items for part in v.split(",") if part.strip())
    if isinstance(value, str) and target is not str:
        try:
            value = {"true": True, "false": False}[value.lower()] if target is bool else target(value)
        except (KeyError, ValueError):
            raise ConfigError(f"{section}.{key}: cannot read {value!r} as {target.__name__}") from None
    if target is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, target) or (target is int and isinstance(value, bool)):
        raise ConfigError(f"{section}.{key}: expected {target.__name__}, got {type(value).__name__}")
    return value


def with_overrides(cfg: AppConfig, overrides: Mapping[str, Mapping[str, Any]]) -> AppConfig:
    """Return ``cfg`` with ``{section: {key: value}}`` applied; unknown names raise ConfigError."""
    sections = {f.name for f in dataclasses.fields(cfg)}
    updates: dict[str, Any] = {}
    for section, values in overrides.items():
        if section not in sections:
            raise ConfigError(f"unknown config section [{section}]; known: {sorted(sections)}")
        sub = getattr(cfg, section)
        known = {f.name for f in dataclasses.fields(sub)}
        changes = {}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(f"unknown config key {section}.{key}; known: {sorted(known)}")
            if value is None:
                continue
            changes[key] = _coerce(section, key, getattr(sub, key), value)
        updates[section] = dataclasses.replace(sub, **changes)
    return dataclasses.replace(cfg, **updates)


def load_config(path: str | Path | None = None, overrides: Mapping[str, Mapping[str, Any]] | None = None) -> AppConfig:
    """Defaults, then the TOML file at ``path`` (if given), then ``overrides``."""
    cfg = AppConfig()
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        if not all(isinstance(v, dict) for v in data.values()):
            raise ConfigError(f"config file {path}: every top-level entry must be a [section]")
        cfg = with_overrides(cfg, data)
    if overrides:
        cfg = with_overrides(cfg, overrides)
    return cfg


def parse_set_flags(items: list[str]) -> dict[str, dict[str, str]]:
    """``["server.bind=ipc:///tmp/x", ...]`` -> ``{"server": {"bind": "ipc:///tmp/x"}}``."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        section, dot, key = name.partition(".")
        if not sep or not dot:
            raise ConfigError(f"--set expects SECTION.KEY=VALUE, got {item!r}")
        out.setdefault(section, {})[key] = value
    return out


def _knob_field(name: str) -> tuple[str, str, dataclasses.Field]:
    section, _, key = name.partition(".")
    sections = {f.name: f for f in dataclasses.fields(AppConfig)}
    if section not in sections:
        raise KeyError(f"unknown config section {section!r}")
    fields = {f.name: f for f in dataclasses.fields(sections[section].default_factory)}  # type: ignore[misc]
    if key not in fields:
        raise KeyError(f"unknown config key {name!r}")
    return section, key, fields[key]


def add_knob_flags(parser: argparse.ArgumentParser, *names: str) -> None:
    """Add the flags of the knobs ``names`` ("section.key") to ``parser``: flag, type, help
    and default all come from the knob's one definition above."""
    for name in names:
        section, key, f = _knob_field(name)
        meta = f.metadata
        if not meta.get("flag"):
            raise KeyError(f"config knob {name} has no command-line flag")
        default = f.default
        metavar = meta["metavar"] or (None if meta["choices"] else key.upper())
        kwargs: dict[str, Any] = {"dest": f"{_KNOB_DEST}{name}", "default": None, "metavar": metavar,
                                  "choices": meta["choices"]}
        if isinstance(default, tuple):
            kwargs["action"] = "append"
            shown = ",".join(default) or "none"
        elif isinstance(default, bool):
            raise TypeError(f"config knob {name}: boolean knobs take --set {name}=true|false, not a flag")
        else:
            kwargs["type"] = type(default)
            shown = default if default != "" else None
        help_text = meta["help"] + (f" (default {shown}; [{section}] {key})" if shown is not None
                                    else f" ([{section}] {key})")
        parser.add_argument(meta["flag"], help=help_text.replace("%", "%%"), **kwargs)


def knob_overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The knob flags given on the command line (see add_knob_flags) as ``{section: {key: value}}``,
    with the values they imply for knobs whose own flags were not given."""
    given: dict[str, dict[str, Any]] = {}
    implied: dict[str, dict[str, Any]] = {}
    for dest, value in vars(args).items():
        if not dest.startswith(_KNOB_DEST) or value is None:
            continue
        section, key, f = _knob_field(dest[len(_KNOB_DEST):])
        given.setdefault(section, {})[key] = tuple(dict.fromkeys(value)) if isinstance(value, list) else value
        for other, other_value in f.metadata["implies"].items():
            implied.setdefault(section, {})[other] = other_value
    out = {section: dict(values) for section, values in given.items()}
    for section, values in implied.items():
        for key, value in values.items():
            out.setdefault(section, {}).setdefault(key, value)
    return out


def merge_overrides(*layers: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Later layers win, key by key."""
    out: dict[str, dict[str, Any]] = {}
    for layer in layers:
        for section, values in layer.items():
            out.setdefault(section, {}).update(values)
    return out
