"""The short CI run of the atheris fuzz harnesses in tests/fuzz (the long run is in
tests/fuzz/README.md): each harness runs as a subprocess for a bounded number of inputs,
seeded from the golden fixtures / packed headers, and must exit 0 (no crash)."""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

log = logging.getLogger(__name__)

FUZZ_DIR = Path(__file__).resolve().parents[1] / "fuzz"
REPO = FUZZ_DIR.parents[1]

# (harness, inputs): both finish in a few seconds here; -max_total_time caps a slow machine
HARNESSES = [("fuzz_decode.py", 50000), ("fuzz_shm_header.py", 200000)]

# runs argv[1:] as a child of this small process and exits with its status
SPAWN_FRESH = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"

needs_atheris = pytest.mark.skipif(importlib.util.find_spec("atheris") is None,
                                reason="atheris is not installed (pip install atheris; see tests/fuzz/README.md)")


@needs_atheris
@pytest.mark.parametrize("harness,runs", HARNESSES, ids=[h for h, _ in HARNESSES])
def test_fuzz_harness_short_run(harness: str, runs: int, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    fuzz = [sys.executable, str(FUZZ_DIR / harness), f"-runs={runs}", "-max_total_time=30", "-seed=1",
            f"-artifact_prefix={tmp_path}/", "-rss_limit_mb=2048", str(corpus)]
    # libFuzzer's -rss_limit_mb checks the peak RSS (getrusage ru_maxrss), which Linux carries
    # across exec from the process that spawned it: started straight from this pytest process,
    # which has grown past 2 GB by now in a full run (torch models of earlier tests), the
    # harness reports that peak as its own and dies "out-of-memory" at its first check. A small
    # launcher process forks the harness instead, so the harness's peak is its own.
    cmd = [sys.executable, "-c", SPAWN_FRESH, *fuzz]
    env = {k: v for k, v in os.environ.items() if k != "FACECAST_FUZZ_NO_ATHERIS"}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, errors="replace", timeout=120)
    out = proc.stdout + proc.stderr
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "oom-", "timeout-", "leak-")))
    assert proc.returncode == 0 and not crashes, f"{harness} exited {proc.returncode}, artifacts {crashes}:\n{out[-6000:]}"
    inited = re.search(r"INITED .*? rss: (\d+)Mb", out)
    assert inited and int(inited.group(1)) < 1024, f"{harness} started with a peak RSS not its own:\n{out[-3000:]}"
    done = re.search(r"Done (\d+) (?:runs )?in (\d+) second", out)
    assert done, f"no 'Done N runs' line from {harness}:\n{out[-3000:]}"
    executed, seconds = int(done.group(1)), int(done.group(2))
    cov = re.findall(r"cov: (\d+) ft: (\d+) corp: (\d+)", out)
    log.info("%s: %d inputs in %d s, 0 crashes, corpus %d files%s", harness, executed, seconds,
             sum(1 for _ in corpus.iterdir()), f", cov {cov[-1][0]} ft {cov[-1][1]}" if cov else "")
    assert executed >= min(runs, 1000)  # a time cap may stop it early on a slow machine, but not at once
    assert any(corpus.iterdir()), "the seed corpus was not written"


@needs_atheris
def test_fuzz_harness_replays_a_file(tmp_path: Path) -> None:
    """A saved input (e.g. a crash file) runs once, as libFuzzer runs file arguments."""
    sample = REPO / "tests" / "fixtures" / "protocol" / "invalid" / "truncated.msgpack"
    proc = subprocess.run([sys.executable, str(FUZZ_DIR / "fuzz_decode.py"), str(sample)], cwd=tmp_path,
                          capture_output=True, text=True, errors="replace", timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_fallback_mode_without_atheris(tmp_path: Path) -> None:
    """The plain random-mutation mode, for machines where atheris does not install."""
    env = {**os.environ, "FACECAST_FUZZ_NO_ATHERIS": "1"}
    for harness in ("fuzz_decode.py", "fuzz_shm_header.py"):
        proc = subprocess.run([sys.executable, str(FUZZ_DIR / harness), "-runs=2000", "-seed=3",
                               str(tmp_path / harness)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, errors="replace", timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "fallback mode" in proc.stderr and re.search(r"Done 2000 runs in", proc.stderr), proc.stderr
