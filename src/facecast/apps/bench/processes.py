"""Start benchmark servers as their own processes (so the measuring client does not share
their interpreter lock) and wait until they listen."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from facecast.config import AppConfig, RenderConfig


class ServerProcess:
    def __init__(self, args: list[str], timeout_s: float = 60.0) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="facecast-bench-")
        ready = Path(self._dir.name) / "ready"
        self.log_path = Path(self._dir.name) / "log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen([sys.executable, *args, "--ready-file", str(ready)],
                                         stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while not ready.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"benchmark server {args} did not start:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        self.endpoint = ready.read_text().strip()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._dir.cleanup()

    def __enter__(self) -> "ServerProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_options(cfg: AppConfig) -> list[str]:
    """The `facecast serve` flags that give a bench's daemon the bench's own [render] knobs
    (its --renderer, --checkpoint, --engine, --onnx, --device, --precision)."""
    render, defaults = cfg.render, RenderConfig()
    options = ["--renderer", render.renderer]
    for flag, key in (("--checkpoint", "checkpoint"), ("--engine", "engine"), ("--onnx", "onnx_model"),
                      ("--device", "device"), ("--precision", "precision")):
        if getattr(render, key) != getattr(defaults, key):
            options += [flag, str(getattr(render, key))]
    return options


def start_bench_daemon(cfg: AppConfig, args: argparse.Namespace) -> ServerProcess:
    """`facecast serve` on a free loopback port over the store ``cfg`` names (the built-in
    character made first), with the bench's own --config/--set passed on and its render
    knobs as ``serve_options``."""
    from facecast.characters.store import CharacterStore

    store = CharacterStore(cfg.store.root or None)
    store.ensure_default()
    passed: list[str] = ["--config", args.config] if getattr(args, "config", None) else []
    for item in getattr(args, "set", None) or []:
        passed += ["--set", item]
    return ServerProcess(["-m", "facecast.apps.cli", "serve", "--bind", "tcp://127.0.0.1:0", "--store", str(store.root),
                          *serve_options(cfg), *passed])
