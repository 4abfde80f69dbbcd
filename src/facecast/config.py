"""Configuration: one frozen dataclass per part, composed into AppConfig.

Each knob is defined exactly once, here. Values come from the defaults below, then a
TOML file (``--config FILE``; sections named like the AppConfig fields), then CLI flags.
Defaults do no I/O: paths that depend on the user (the character store) are resolved
where they are used.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class ServerConfig:
    bind: str = "tcp://127.0.0.1:5555"  # tcp://HOST:PORT or ipc://PATH; non-loopback needs CurveZMQ
    curve_secret_key: str = ""  # the daemon's .key_secret file: turns CurveZMQ on (facecast keys generate)
    curve_clients_dir: str = ""  # directory of allowed clients' public .key files
    max_poses_per_second: float = 2000.0  # per session; more get RATE_LIMITED (0 = no limit)
    max_characters: int = 64  # characters kept loaded; the least recently bound is unloaded
    max_message_bytes: int = 4 << 20  # larger messages get a TOO_LARGE error reply
    hard_max_message_bytes: int = 64 << 20  # ZMQ_MAXMSGSIZE: larger ones drop the connection
    rcv_hwm: int = 1000  # ZeroMQ high-water marks (messages), so nothing queues without bound
    snd_hwm: int = 1000
    max_sessions: int = 256
    session_timeout_s: float = 60.0  # sessions silent this long are reclaimed
    stats_interval_s: float = 5.0  # how often fps and latency percentiles are logged


@dataclass(frozen=True)
class SchedulerConfig:
    max_batch: int = 8  # poses rendered together, across sessions and characters
    max_wait_ms: float = 2.0  # how long a first pose waits for others to fill a batch


@dataclass(frozen=True)
class RenderConfig:
    renderer: str = "warp"  # warp | neural | copy (copy: a fixed frame, for transport benchmarks)
    checkpoint: str = ""  # neural: the model checkpoint (facecast train ... --out CKPT); required for neural
    device: str = "auto"  # neural: auto (CUDA when available) | cpu | cuda | cuda:N
    # neural: what runs the generator (docs/engines.md). torch | onnx
    engine: str = "torch"
    onnx_model: str = ""  # engine onnx: the exported model (facecast export CKPT OUT.onnx); required for onnx
    precision: str = "auto"  # engine torch: auto (fp16 on CUDA, fp32 on CPU) | fp32 | fp16 | bf16
    compile: bool = False  # engine torch, CUDA: torch.compile the generator
    cuda_graph_batches: tuple[str, ...] = ()  # engine torch, CUDA: batch sizes captured as CUDA graphs, e.g. 1,8,32
    providers: tuple[str, ...] = ()  # engine onnx: preference order; () = tensorrt,cuda,cpu
    threads: int = 0  # engine onnx: intra-op threads (0 = onnxruntime's choice, one per physical core)
    trt_cache_dir: str = ""  # engine onnx, TensorRT: engine cache directory ("" = rebuild at every start)
    trt_fp16: bool = True  # engine onnx, TensorRT: allow fp16 kernels
    trt_max_batch: int = 32  # engine onnx, TensorRT: largest batch of the optimisation profile (>= max_batch)


@dataclass(frozen=True)
class StoreConfig:
    root: str = ""  # character store directory; "" = the user data dir (facecast/characters)


@dataclass(frozen=True)
class DemoConfig:
    seconds: float = 6.0
    fps: float = 25.0
    size: int = 256
    out_dir: str = "demo_out"


@dataclass(frozen=True)
class SinksConfig:
    enabled: tuple[str, ...] = ()  # daemon-wide sinks: virtualcam, overlay, mjpeg
    character: str = ""  # only frames of this character go to the sinks; "" = every frame


@dataclass(frozen=True)
class VirtualCamConfig:
    backend: str = ""  # "" = pyvirtualcam's default for the OS; obs | unitycapture | v4l2loopback
    device: str = ""  # e.g. /dev/video10 for v4l2loopback; "" = the first free one
    fps: float = 30.0  # frames are sent at this rate; the last frame repeats when none is new
    width: int = 0  # 0 = the first frame's size
    height: int = 0


@dataclass(frozen=True)
class OverlayConfig:
    host: str = "127.0.0.1"
    port: int = 8770  # the page is http://HOST:PORT/ , its WebSocket feed ws://HOST:PORT/ws


@dataclass(frozen=True)
class MjpegConfig:
    host: str = "127.0.0.1"
    port: int = 8771  # the stream is http://HOST:PORT/stream.mjpg
    fps: float = 30.0
    quality: int = 85


@dataclass(frozen=True)
class TrackerConfig:
    """Webcam/video tracker (facecast track, record, replay); docs/tracker.md."""

    # One Euro filter (Casiez et al. 2012) on the 478 landmarks, in image-normalised units
    # (x, y in 0..1): cutoff = min_cutoff + beta * speed (speed per landmark, units/s).
    # Chosen on the shared videos (docs/tracker.md): jitter on a still face / 3, lag < 1 frame.
    min_cutoff: float = 1.0  # Hz at rest: lower = less jitter, more lag on slow motion
    beta: float = 30.0  # cutoff rise per unit/s of speed: higher = less lag on fast motion
    d_cutoff: float = 1.0  # Hz, low-pass of the speed estimate
    head_min_cutoff: float = 1.0  # the same filter on the head yaw/pitch/roll (radians)
    head_beta: float = 5.0  # per rad/s
    hold_s: float = 0.5  # face lost: hold the last pose this long ...
    ease_s: float = 1.0  # ... then ease to the neutral face over this long
    no_face_warning_s: float = 5.0  # warn "no face for N s" after N s, then at most every N s
    calibration_frames: int = 10  # driver neutral = mean of the first N tracked frames
    min_detection_confidence: float = 0.5  # MediaPipe FaceLandmarker thresholds
    min_tracking_confidence: float = 0.5


@dataclass(frozen=True)
class AppConfig:
    server: ServerConfig = field(default_factory=ServerConfig)
    scheduler: SchedulerConfig = field(default_factory=SchedulerConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)
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
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
            raise ConfigError(f"{section}.{key}: expected a list of strings")
        return tuple(v.strip() for v in items if v.strip())
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
