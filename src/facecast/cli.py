"""The `facecast` command line: a thin layer over config, daemon, store and demo."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

from facecast import __version__
from facecast.bench.engines import add_render_bench_arguments, run_render_bench
from facecast.bench.serve import add_serve_bench_arguments, run_serve_bench
from facecast.bench.soak import add_soak_arguments, run_soak_command
from facecast.bench.tracker import add_tracker_bench_arguments, run_tracker_bench
from facecast.bridge.sinks import SinkError
from facecast.config import AppConfig, ConfigError, load_config, parse_set_flags
from facecast.dataset.cli import add_dataset_build_arguments, run_dataset_build
from facecast.evaluation.reenactment import add_eval_arguments, run_eval_command
from facecast.inference.models.info import add_model_info_arguments, run_model_info
from facecast.inference.runtime.cli import add_export_arguments, run_export
from facecast.inference.training.train_cli import add_train_arguments, run_train
from facecast.neural_enroll import (
    add_enroll_checkpoint_arguments, add_finetune_arguments, check_enroll_arguments, run_enroll_checkpoint,
    run_finetune,
)
from facecast.obs_integration.obs_setup import add_obs_arguments, run_obs_setup
from facecast.tracker.vmc_forward import add_vmc_arguments, run_vmc
from facecast.track_cli import (
    add_record_arguments, add_replay_arguments, add_track_arguments, run_record_command, run_replay_command,
    run_track_command,
)

log = logging.getLogger("facecast.cli")


def _add_store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help="character store directory (default: the user data dir)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facecast", description="Real-time talking-head avatar backend.")
    parser.add_argument("--version", action="version", version=f"facecast {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="TOML config file ([server], [scheduler], [render], [store], [demo])")
    common.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config value (repeatable), e.g. --set scheduler.max_batch=16")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", parents=[common], help="run the daemon")
    p.add_argument("--bind", help="endpoint, e.g. tcp://127.0.0.1:5555 (port 0: a free one) or ipc:///tmp/fc.sock")
    p.add_argument("--renderer", help="warp (default), neural; copy and stamp are for benchmarks and tests")
    p.add_argument("--checkpoint", help="neural renderer's model checkpoint (implies --renderer neural)")
    p.add_argument("--device", help="neural renderer's device: auto (default), cpu, cuda, cuda:N")
    p.add_argument("--engine", choices=["torch", "onnx"], help="what runs the neural generator (default torch; "
                   "docs/engines.md)")
    p.add_argument("--onnx", metavar="MODEL.onnx", help="exported generator for --engine onnx (implies it; "
                   "write one with facecast export)")
    p.add_argument("--precision", choices=["auto", "fp32", "fp16", "bf16"],
                   help="torch engine precision (default auto: fp16 on CUDA, fp32 on CPU)")
    p.add_argument("--max-batch", type=int)
    p.add_argument("--max-wait-ms", type=float)
    p.add_argument("--sink", action="append", choices=["virtualcam", "overlay", "mjpeg"],
                   help="also send frames to a virtual camera, the OBS overlay page or an MJPEG stream (repeatable)")
    p.add_argument("--curve-secret-key", help="the daemon's CurveZMQ .key_secret file (turns authentication on; "
                   "required to bind anything but loopback or ipc://)")
    p.add_argument("--curve-clients", help="directory of allowed clients' public .key files")
    p.add_argument("--ready-file", help="write the bound endpoint to this file once listening")
    _add_store(p)

    p = sub.add_parser("demo", parents=[common], help="animate a character through the real daemon into a video")
    p.add_argument("--character", help="enrolled character (default: the built-in one)")
    p.add_argument("--video", type=Path, help="drive the character from this video's landmarks")
    p.add_argument("--out", help="output directory (default demo_out)")
    p.add_argument("--seconds", type=float, help="length of the procedural performance")
    p.add_argument("--size", type=int, help="output frame side in pixels (default 256)")
    p.add_argument("--connect", help="use a running daemon at this endpoint instead of starting one")
    _add_store(p)

    add_track_arguments(sub.add_parser("track", parents=[common],
                                       help="drive a character from a camera or video through the daemon"))
    add_record_arguments(sub.add_parser("record", parents=[common],
                                        help="record a pose stream (landmarks, blendshapes, head) from a camera or video"))
    add_replay_arguments(sub.add_parser("replay", parents=[common],
                                        help="send a recorded pose stream to the daemon with its original timing"))

    p = sub.add_parser("enroll", parents=[common], help="create a character from photos or a short video")
    p.add_argument("name")
    p.add_argument("sources", nargs="+", type=Path, help="images (first = reference) or videos")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--shots", type=int, default=8, help="frames taken from each video (default 8)")
    add_enroll_checkpoint_arguments(p)
    _add_store(p)

    p = sub.add_parser("finetune", parents=[common],
                       help="fine-tune the neural model on an enrolled character (the paper's few-shot stage)")
    add_finetune_arguments(p)
    _add_store(p)

    add_eval_arguments(sub.add_parser("eval", parents=[common],
                                      help="self-reenactment on a video: neural vs warp (SSIM, PSNR, L1)"))

    p = sub.add_parser("characters", parents=[common], help="list enrolled characters")
    _add_store(p)

    obs = sub.add_parser("obs", help="OBS integration").add_subparsers(dest="obs", required=True)
    add_obs_arguments(obs.add_parser("setup", parents=[common],
                                     help="create the facecast source in a running OBS (obs-websocket v5)"))

    add_vmc_arguments(sub.add_parser("vmc", parents=[common],
                                     help="forward VMC protocol blendshapes (VSeeFace, iFacialMocap) to the daemon"))

    keys = sub.add_parser("keys", help="CurveZMQ keys").add_subparsers(dest="keys", required=True)
    k = keys.add_parser("generate", parents=[common], help="write a new key pair (NAME.key, NAME.key_secret)")
    k.add_argument("directory", type=Path)
    k.add_argument("--name", default="server", help="file name stem (default server; use one per client)")

    add_model_info_arguments(sub.add_parser("model-info", help="parameter counts and FLOPs per frame of the model configs"))
    add_export_arguments(sub.add_parser("export", parents=[common],
                                        help="export a checkpoint's generator to ONNX (+ manifest) for --engine onnx"))

    dataset = sub.add_parser("dataset", help="training data sets").add_subparsers(dest="dataset", required=True)
    add_dataset_build_arguments(dataset.add_parser("build", parents=[common],
                                                   help="landmarks + head crops of every video, one file per video"))
    add_train_arguments(sub.add_parser("train", help="meta-learning of the talking-head model on a data set"))

    p = sub.add_parser("bench", help="benchmarks (print figures)")
    bench = p.add_subparsers(dest="bench", required=True)
    b = bench.add_parser("bridge", parents=[common], help="daemon round trip vs a raw ZeroMQ echo of the same bytes")
    b.add_argument("--frames", type=int, default=500)
    b.add_argument("--size", type=int, default=256)
    _add_store(b)
    b.add_argument("--json", type=Path, help="also write the figures as JSON here")
    b = bench.add_parser("delivery", parents=[common], help="frame delivery: inline reply vs shared-memory ring")
    b.add_argument("--frames", type=int, default=300)
    b.add_argument("--json", type=Path, help="also write the figures as JSON here")
    _add_store(b)
    b = bench.add_parser("warp", parents=[common], help="warp renderer frames/s at 256/512, batch 1/8")
    b.add_argument("--seconds", type=float, default=2.0)
    _add_store(b)
    b.add_argument("--json", type=Path, help="also write the figures as JSON here")
    b = bench.add_parser("render", parents=[common],
                         help="neural generator engines (torch, onnx): frames/s, p50/p99 per config and batch size")
    add_render_bench_arguments(b)
    b = bench.add_parser("soak", parents=[common], help="many clients at a fixed rate for minutes: memory, fairness")
    add_soak_arguments(b)
    _add_store(b)
    b = bench.add_parser("serve", parents=[common],
                         help="simulated clients through the real daemon: fps, p99 latency, drops per client count")
    add_serve_bench_arguments(b)
    _add_store(b)
    b = bench.add_parser("tracker", parents=[common],
                         help="tracker frames/s with and without blendshapes, One Euro jitter/lag, track --video stages")
    add_tracker_bench_arguments(b)
    _add_store(b)
    return parser


def _config(args: argparse.Namespace) -> AppConfig:
    overrides: dict[str, dict[str, Any]] = parse_set_flags(getattr(args, "set", []))

    def put(section: str, key: str, value: Any) -> None:
        if value is not None:
            overrides.setdefault(section, {})[key] = value

    put("store", "root", getattr(args, "store", None))
    if args.command == "serve":
        put("server", "bind", args.bind)
        put("render", "renderer", args.renderer or ("neural" if args.checkpoint or args.onnx else None))
        put("render", "checkpoint", args.checkpoint)
        put("render", "device", args.device)
        put("render", "engine", args.engine or ("onnx" if args.onnx else None))
        put("render", "onnx_model", args.onnx)
        put("render", "precision", args.precision)
        put("scheduler", "max_batch", args.max_batch)
        put("scheduler", "max_wait_ms", args.max_wait_ms)
        if args.sink:
            put("sinks", "enabled", tuple(dict.fromkeys(args.sink)))
        put("server", "curve_secret_key", args.curve_secret_key)
        put("server", "curve_clients_dir", args.curve_clients)
    elif args.command == "demo":
        put("demo", "out_dir", args.out)
        put("demo", "seconds", args.seconds)
        put("demo", "size", args.size)
    return load_config(getattr(args, "config", None), overrides)  # model-info has no TOML --config


def _cmd_serve(cfg: AppConfig, args: argparse.Namespace) -> int:
    from facecast.bridge.characters import CharacterStore
    from facecast.bridge.server import Daemon
    from facecast.tracker.model_files import ModelFileMissing

    store = CharacterStore(cfg.store.root or None)
    daemon = Daemon(cfg, store)  # the renderer first: a bad checkpoint fails before any slow work
    try:
        store.ensure_default()
    except ModelFileMissing as exc:
        log.warning("built-in character 'default' unavailable: %s", exc)
    endpoint = daemon.bind()
    if args.ready_file:
        tmp = Path(args.ready_file + ".tmp")
        tmp.write_text(endpoint)
        tmp.replace(args.ready_file)
    daemon.serve_forever(install_signal_handlers=True)
    return 0


def _cmd_demo(cfg: AppConfig, args: argparse.Namespace) -> int:
    from facecast.demo import run_demo

    result = run_demo(cfg, character=args.character, video=args.video, connect=args.connect)
    log.info("demo: %d frames through the daemon at %.1f fps; latency p50 %.1f ms, p99 %.1f ms; %d superseded",
             result.frames, result.fps, result.latency_p50_ms, result.latency_p99_ms, result.superseded)
    log.info("video: %s", result.video)
    log.info("contact sheet: %s", result.contact_sheet)
    return 0


def _cmd_enroll(cfg: AppConfig, args: argparse.Namespace) -> int:
    from facecast.bridge.characters import CharacterStore

    check_enroll_arguments(args)
    store = CharacterStore(cfg.store.root or None)
    char = store.enroll(args.name, args.sources, overwrite=args.overwrite, video_shots=args.shots)
    log.info("enrolled %r with %d shot(s) in %s", char.name, char.num_shots, char.path)
    run_enroll_checkpoint(store, args)
    return 0


def _cmd_characters(cfg: AppConfig, args: argparse.Namespace) -> int:
    from facecast.bridge.characters import CharacterStore

    store = CharacterStore(cfg.store.root or None)
    names = store.names()
    log.info("%d character(s) in %s", len(names), store.root)
    for name in names:
        sys.stdout.write(name + "\n")
    return 0


def _cmd_bench(cfg: AppConfig, args: argparse.Namespace) -> int:
    if args.bench == "soak":
        return run_soak_command(cfg, args)
    if args.bench == "render":
        return run_render_bench(cfg, args)
    if args.bench == "serve":
        return run_serve_bench(cfg, args)
    if args.bench == "tracker":
        return run_tracker_bench(cfg, args)
    if args.bench == "bridge":
        from facecast.bench.bridge import bench_bridge, format_bridge

        rows = bench_bridge(cfg, frames=args.frames, size=args.size)
        text = format_bridge(rows)
    elif args.bench == "delivery":
        from facecast.bench.delivery import bench_delivery, format_delivery

        rows = bench_delivery(cfg, frames=args.frames)
        text = format_delivery(rows)
    else:
        from facecast.bench.render import bench_renderer, format_render

        rows = bench_renderer(cfg, "warp", seconds=args.seconds)
        text = format_render(rows)
    sys.stdout.write(text + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def _cmd_keys(cfg: AppConfig, args: argparse.Namespace) -> int:
    from facecast.curve import generate_keys

    public, secret = generate_keys(args.directory, args.name)
    log.info("public key (give to clients, or put in the daemon's allow-list): %s", public)
    log.info("secret key (keep private, mode 600): %s", secret)
    return 0


_COMMANDS = {"serve": _cmd_serve, "demo": _cmd_demo, "enroll": _cmd_enroll,
             "characters": _cmd_characters, "bench": _cmd_bench, "obs": run_obs_setup, "keys": _cmd_keys,
             "model-info": run_model_info, "export": run_export, "dataset": run_dataset_build, "train": run_train, "vmc": run_vmc, "finetune": run_finetune, "eval": run_eval_command,
             "track": run_track_command, "record": run_record_command, "replay": run_replay_command}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname).1s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        cfg = _config(args)
        return _COMMANDS[args.command](cfg, args)
    except (ConfigError, SinkError, ValueError, LookupError, OSError) as exc:
        # Our own errors carry a full sentence; show it without a traceback.
        log.error("%s", exc)
        if args.verbose:
            log.exception("details")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
