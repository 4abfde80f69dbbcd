"""`facecast npc`: an NPC portrait — idle life, an emotion and lip flap from a WAV line —
rendered through the real daemon into a video with the line as its sound track.

The poses are generated here (facecast.npc, deterministic given --seed) and rendered one
at a time (each waits for its frame), so every frame is in the video whatever the
renderer's speed; the daemon starts in a background thread unless --connect names one.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facecast.config import AppConfig, add_knob_flags

log = logging.getLogger(__name__)


def add_npc_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--character", help="enrolled character (default: the built-in one)")
    p.add_argument("--audio", type=Path, help="dialogue line, a PCM WAV file (mono or not, 8/16/32-bit)")
    p.add_argument("--output", type=Path, default=Path("npc.mp4"), help="video to write (default npc.mp4); "
                   "a contact sheet OUTPUT_sheet.png is written beside it")
    add_knob_flags(p, "npc.emotion", "npc.seed", "npc.fps", "npc.size", "npc.seconds", "store.root")
    p.add_argument("--connect", help="use a running daemon at this endpoint instead of starting one")


@dataclass
class NpcResult:
    video: Path
    contact_sheet: Path
    frames: int
    blinks: int
    mouth_open: np.ndarray  # per frame, 0..1 (zeros without audio)
    level_db: np.ndarray  # per frame, the audio window's loudness (nan without audio)


def run_npc(cfg: AppConfig, character: str | None, audio: Path | None, output: Path,
            connect: str | None = None) -> NpcResult:
    from facecast.apps.demo import contact_sheet, write_video
    from facecast.characters.store import CharacterStore
    from facecast.client import Client
    from facecast.npc import NpcAnimator, read_wav
    from facecast.server.daemon import Daemon

    n = cfg.npc
    store = CharacterStore(cfg.store.root or None)
    char = store.ensure_default() if character is None else store.load(character)
    animator = NpcAnimator(char.neutral, fps=n.fps, seed=n.seed, emotion=n.emotion,
                           blinks_per_minute=n.blinks_per_minute)
    seconds = n.seconds
    if audio is not None:
        samples, rate = read_wav(audio)
        animator.start_audio(rate)
        animator.push_audio(samples)
        seconds = len(samples) / rate + n.tail_s
    performance = animator.performance(seconds)
    output.parent.mkdir(parents=True, exist_ok=True)
    daemon = None
    if connect is None:
        daemon = Daemon(dataclasses.replace(cfg, server=dataclasses.replace(cfg.server, bind="tcp://127.0.0.1:0")),
                        store)
        connect = daemon.start_in_thread()
    try:
        with Client(connect) as client:
            client.hello()
            client.bind(char.name, width=n.size, height=n.size, pixel_format="rgba8")
            images = [client.render(f.landmarks).image for f in performance]
    finally:
        if daemon is not None:
            daemon.stop()
            daemon.join(timeout=10)
    sheet = output.with_name(output.stem + "_sheet.png")
    write_video(output, images, n.fps, audio=audio)
    contact_sheet(sheet, images, columns=6, rows=3)
    return NpcResult(video=output, contact_sheet=sheet, frames=len(images), blinks=animator.idle.blink_starts,
                     mouth_open=np.array([f.mouth.open if f.mouth else 0.0 for f in performance]),
                     level_db=np.array([f.mouth.level_db if f.mouth else np.nan for f in performance]))


def run_npc_command(cfg: AppConfig, args: argparse.Namespace) -> int:
    result = run_npc(cfg, args.character, args.audio, args.output, args.connect)
    minutes = result.frames / cfg.npc.fps / 60.0
    log.info("npc: %d frames at %.0f fps, %d blinks (%.0f per minute)", result.frames, cfg.npc.fps, result.blinks,
             result.blinks / minutes)
    log.info("video: %s", result.video)
    log.info("contact sheet: %s", result.contact_sheet)
    return 0
