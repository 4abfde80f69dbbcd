"""`facecast serve`: the daemon on its endpoint until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from facecast.config import AppConfig, add_knob_flags

log = logging.getLogger(__name__)


def add_serve_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `facecast serve` (besides --config/--set/-v): the knobs' own flags."""
    add_knob_flags(p, "server.bind", "render.renderer", "render.checkpoint", "render.device", "render.engine",
                   "render.onnx_model", "render.precision", "scheduler.max_batch", "scheduler.max_wait_ms",
                   "executor.kind", "executor.devices", "executor.ray_address", "executor.ray_workers",
                   "sinks.enabled", "server.curve_secret_key", "server.curve_clients_dir", "store.root")
    p.add_argument("--ready-file", help="write the bound endpoint to this file once listening")


def run_serve(cfg: AppConfig, args: argparse.Namespace) -> int:
    from facecast.capture.model_files import ModelFileMissing
    from facecast.characters.store import CharacterStore
    from facecast.server.daemon import Daemon

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
