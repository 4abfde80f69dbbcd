"""`facecast model-info`: parameter counts and per-frame compute of the model configs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from facecast.model.networks.config import CONFIGS, get_config
from facecast.model.networks.info import format_model_info, model_info


def add_model_info_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``facecast model-info``."""
    parser.add_argument("--config", dest="model_config", default="all",
                        help=f"model config: {', '.join(CONFIGS)} or all (default all)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def run_model_info(cfg: Any, args: argparse.Namespace) -> int:
    """``facecast model-info``: print the table (stdout); ValueError for an unknown config."""
    names = list(CONFIGS) if args.model_config == "all" else [get_config(args.model_config).name]
    rows = [model_info(get_config(name)) for name in names]
    sys.stdout.write(format_model_info(rows) + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))
    return 0
