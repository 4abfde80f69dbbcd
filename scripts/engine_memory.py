#!/usr/bin/env python
"""Resident memory of the neural renderer's model with the torch engine copying the
generator vs sharing it (``TorchEngine(..., share=True)``, docs/engines.md).

    .venv/bin/python scripts/engine_memory.py --config paper

Saves a random-weight checkpoint of --config in a temporary folder, then for each mode
starts a fresh Python process that loads it (``NeuralModel.from_checkpoint`` on the CPU,
as the daemon does) and builds the torch engine on its generator, and prints that
process's resident memory. Random weights take the same memory as trained ones.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

log = logging.getLogger("engine_memory")

CHILD = """
import os, sys
from facecast.model.neural_model import NeuralModel
from facecast.model.engines.torch_engine import TorchEngine
model = NeuralModel.from_checkpoint(sys.argv[1], "cpu")
engine = TorchEngine(model.generator, device="cpu", share=sys.argv[2] == "share")
assert engine.shares_weights == (sys.argv[2] == "share")
print(int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE"))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="paper", help="model config: paper | realtime | tiny (default paper)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from facecast.model.networks import TalkingHead, get_config, save_checkpoint

    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / f"{args.config}-random.pt"
        model = TalkingHead(get_config(args.config), 1)
        params = sum(p.numel() for p in model.generator.parameters())
        save_checkpoint(ckpt, model)
        del model
        rss = {}
        for mode in ("copy", "share"):
            out = subprocess.run([sys.executable, "-c", CHILD, str(ckpt), mode], check=True,
                                 capture_output=True, text=True).stdout
            rss[mode] = int(out.split()[-1]) / 2**20
    log.info("config %s, generator %.1fM parameters (%.0f MiB in fp32)", args.config, params / 1e6,
             params * 4 / 2**20)
    log.info("resident memory after loading: engine copying %.0f MiB, sharing %.0f MiB (%.0f MiB less)",
             rss["copy"], rss["share"], rss["copy"] - rss["share"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
