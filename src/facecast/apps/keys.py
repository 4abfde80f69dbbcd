"""`facecast keys generate`: a CurveZMQ key pair for the daemon or a client."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from facecast.config import AppConfig

log = logging.getLogger(__name__)


def add_keys_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory", type=Path, help="where to write the pair; created 0700 if missing "
                   "(an existing folder keeps its mode)")
    p.add_argument("--name", default="server", help="file name stem (default server; use one per client)")


def run_keys(cfg: AppConfig, args: argparse.Namespace) -> int:
    from facecast.transport.curve import generate_keys

    public, secret = generate_keys(args.directory, args.name)
    log.info("public key (the daemon's: give to clients; a client's: copy into the daemon's allow-list "
             "folder): %s", public)
    log.info("secret key (keep private, mode 600; never put it in an allow-list folder): %s", secret)
    return 0
