"""The `facecast` command line: one parser, one runner per command.

Each command's arguments live beside its runner in ``facecast.apps`` (light modules:
heavy imports happen when a command runs, so `facecast --help` stays fast); flags that
set a config knob come from the knob's one definition (``facecast.config.add_knob_flags``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

from facecast import __version__
from facecast.apps.bench.cli import add_bench_parsers, run_bench
from facecast.apps.dataset import add_dataset_build_arguments, run_dataset_build
from facecast.apps.enroll import (
    add_characters_arguments, add_enroll_arguments, add_finetune_arguments, run_characters, run_enroll, run_finetune,
)
from facecast.apps.evaluation.reenactment import add_eval_arguments, run_eval_command
from facecast.apps.export import add_export_arguments, run_export
from facecast.apps.keys import add_keys_arguments, run_keys
from facecast.apps.model_info import add_model_info_arguments, run_model_info
from facecast.apps.npc import add_npc_arguments, run_npc_command
from facecast.apps.obs_setup import add_obs_arguments, run_obs_setup
from facecast.apps.serve import add_serve_arguments, run_serve
from facecast.apps.track_cli import (
    add_record_arguments, add_replay_arguments, add_track_arguments, run_record_command, run_replay_command,
    run_track_command,
)
from facecast.apps.train import add_train_arguments, run_train
from facecast.apps.vmc import add_vmc_arguments, run_vmc
from facecast.config import (
    AppConfig, ConfigError, add_knob_flags, knob_overrides, load_config, merge_overrides, parse_set_flags,
)
from facecast.server.errors import ExecutorError
from facecast.sinks.base import SinkError

log = logging.getLogger("facecast.apps.cli")  # not __name__: `python -m facecast.apps.cli` runs it as __main__


def _add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--character", help="enrolled character (default: the built-in one)")
    p.add_argument("--video", type=Path, help="drive the character from this video's landmarks")
    add_knob_flags(p, "demo.out_dir", "demo.seconds", "demo.size", "store.root")
    p.add_argument("--connect", help="use a running daemon at this endpoint instead of starting one")


def _run_demo(cfg: AppConfig, args: argparse.Namespace) -> int:
    from facecast.apps.demo import run_demo

    result = run_demo(cfg, character=args.character, video=args.video, connect=args.connect)
    log.info("demo: %d frames through the daemon at %.1f fps; latency p50 %.1f ms, p99 %.1f ms; %d superseded",
             result.frames, result.fps, result.latency_p50_ms, result.latency_p99_ms, result.superseded)
    log.info("video: %s", result.video)
    log.info("contact sheet: %s", result.contact_sheet)
    return 0


# name: (help, arguments, runner); model-info and train take no --config/--set (their --config is a model's)
_COMMANDS = {
    "serve": ("run the daemon", add_serve_arguments, run_serve),
    "demo": ("animate a character through the real daemon into a video", _add_demo_arguments, _run_demo),
    "npc": ("an NPC portrait: idle life, an emotion and lip flap from a WAV line, into a video",
            add_npc_arguments, run_npc_command),
    "track": ("drive a character from a camera or video through the daemon", add_track_arguments, run_track_command),
    "record": ("record a pose stream (landmarks, blendshapes, head) from a camera or video", add_record_arguments,
               run_record_command),
    "replay": ("send a recorded pose stream to the daemon with its original timing", add_replay_arguments,
               run_replay_command),
    "enroll": ("create a character from photos or a short video", add_enroll_arguments, run_enroll),
    "finetune": ("fine-tune the neural model on an enrolled character (the paper's few-shot stage)",
                 add_finetune_arguments, run_finetune),
    "eval": ("self-reenactment on a video: warp and/or neural vs a still frame (SSIM, PSNR, L1)", add_eval_arguments, run_eval_command),
    "characters": ("list enrolled characters", add_characters_arguments, run_characters),
    "vmc": ("forward VMC protocol blendshapes (VSeeFace, iFacialMocap) to the daemon", add_vmc_arguments, run_vmc),
    "model-info": ("parameter counts and FLOPs per frame of the model configs", add_model_info_arguments,
                   run_model_info),
    "export": ("export a checkpoint's generator to ONNX (+ manifest) for --engine onnx", add_export_arguments,
               run_export),
    "train": ("meta-learning of the talking-head model on a data set", add_train_arguments, run_train),
}
_NO_COMMON = ("model-info", "train")
# groups: name -> (help, dest, {sub: (help, arguments)}, runner)
_GROUPS = {
    "obs": ("OBS integration", "obs",
            {"setup": ("create the facecast source in a running OBS (obs-websocket v5)", add_obs_arguments)},
            run_obs_setup),
    "keys": ("CurveZMQ keys", "keys",
             {"generate": ("write a new key pair (NAME.key, NAME.key_secret)", add_keys_arguments)}, run_keys),
    "dataset": ("training data sets", "dataset",
                {"build": ("landmarks + head crops of every video, one file per video", add_dataset_build_arguments)},
                run_dataset_build),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facecast", description="Real-time talking-head avatar backend.")
    parser.add_argument("--version", action="version", version=f"facecast {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="TOML config file ([server], [scheduler], [render], [store], [demo])")
    common.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override one config value (repeatable), e.g. --set scheduler.max_batch=16")
    common.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (text, add_arguments, _run) in _COMMANDS.items():
        add_arguments(sub.add_parser(name, parents=[] if name in _NO_COMMON else [common], help=text))
    for name, (text, dest, subs, _run) in _GROUPS.items():
        group = sub.add_parser(name, help=text).add_subparsers(dest=dest, required=True)
        for sub_name, (sub_text, add_arguments) in subs.items():
            add_arguments(group.add_parser(sub_name, parents=[common], help=sub_text))
    add_bench_parsers(sub.add_parser("bench", help="benchmarks (print figures)").add_subparsers(
        dest="bench", required=True), common)
    return parser


def _config(args: argparse.Namespace) -> AppConfig:
    overrides = merge_overrides(parse_set_flags(getattr(args, "set", [])), knob_overrides(args))
    return load_config(getattr(args, "config", None), overrides)  # model-info has no TOML --config


def _runner(command: str):  # -> Callable[[AppConfig, argparse.Namespace], int]
    if command == "bench":
        return run_bench
    return _COMMANDS[command][2] if command in _COMMANDS else _GROUPS[command][3]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname).1s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        cfg = _config(args)
        return _runner(args.command)(cfg, args)
    except (ConfigError, SinkError, ExecutorError, ValueError, LookupError, OSError) as exc:
        # Our own errors carry a full sentence; show it without a traceback.
        log.error("%s", exc)
        if args.verbose:
            log.exception("details")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
