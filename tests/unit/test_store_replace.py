"""`enroll --overwrite` replaces a character atomically, and the store cleans up after a
crash when it is opened (issue 12 #13): a kill between the old code's two renames left
the character missing, its files in a hidden `.old-*` folder that nothing restored."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from facecast.capture.landmarks import LandmarkDetector
from facecast.characters import store as store_module
from facecast.characters.store import CharacterStore
from facecast.characters.swap import exchange_supported

REPO = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("store_crash_child.py")


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".") and p.name != store_module.LOCK_FILE)


def _sources(root: Path, name: str) -> list[str]:
    return CharacterStore(root).load(name).manifest["sources"]


@pytest.fixture(scope="module")
def old_store(tmp_path_factory: pytest.TempPathFactory, model_dir: Path, shared_characters: list[Path]) -> Path:
    root = tmp_path_factory.mktemp("old") / "store"
    with LandmarkDetector(model_dir / "face_landmarker.task") as detector:
        CharacterStore(root).enroll("who", [shared_characters[0]], detector=detector)
    return root


@pytest.fixture(scope="module")
def crasher() -> Iterator[subprocess.Popen]:
    """store_crash_child.py, serving runs that die at a chosen step."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]))
    proc = subprocess.Popen([sys.executable, str(CHILD)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env=env)
    yield proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(timeout=30)


def _crash_run(crasher: subprocess.Popen, root: Path, photo: Path, kill_at: int, mode: str) -> str:
    assert crasher.stdin is not None and crasher.stdout is not None
    crasher.stdin.write(f"{root} who {photo} {kill_at} {mode}\n")
    crasher.stdin.flush()
    return crasher.stdout.readline().strip()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks a child per kill")
@pytest.mark.parametrize("mode", ["exchange", "two-renames"])
def test_a_kill_at_any_step_of_an_overwrite_leaves_the_old_or_the_new_character(
        old_store: Path, shared_characters: list[Path], crasher: subprocess.Popen, tmp_path: Path,
        mode: str) -> None:
    old, new = [str(shared_characters[0])], [str(shared_characters[1])]
    if mode == "exchange" and not exchange_supported(old_store.parent):
        pytest.skip("no atomic exchange of folders here")
    seen = {"old": 0, "new": 0}
    for kill_at in range(1, 100):
        root = tmp_path / f"run{kill_at}"
        shutil.copytree(old_store, root)
        answer = _crash_run(crasher, root, shared_characters[1], kill_at, mode)
        if answer.startswith("done"):
            steps = int(answer.split()[1])
            assert kill_at == steps + 1, (kill_at, steps)
            assert _sources(root, "who") == new and _leftovers(root) == []
            break
        assert answer == "killed", answer
        if mode == "exchange":  # not even for a moment: the swap is one rename(2)
            assert (root / "who" / "manifest.json").is_file(), f"missing after a kill at step {kill_at}"
        sources = _sources(root, "who")  # opening the store restores or cleans up
        assert sources in (old, new), f"step {kill_at}: {sources}"
        seen["old" if sources == old else "new"] += 1
        assert _leftovers(root) == [], f"step {kill_at}: {_leftovers(root)}"
        assert CharacterStore(root).names() == ["who"]
    else:
        raise AssertionError("the overwrite never finished")
    assert seen["old"] and seen["new"], seen  # the kills landed both before and after the swap


def test_opening_the_store_restores_what_an_interrupted_replace_left_hidden(old_store: Path, tmp_path: Path) -> None:
    root = tmp_path / "store"
    shutil.copytree(old_store, root)
    # What the old code left when killed between its two renames: the character moved
    # aside, a complete new copy never renamed into place.
    os.rename(root / "who", root / ".old-who-k1ll3d")
    shutil.copytree(root / ".old-who-k1ll3d", root / ".tmp-who-h4lf")
    (root / ".tmp-who-h4lf" / "manifest.json").unlink()
    assert CharacterStore(root).names() == ["who"]
    assert CharacterStore(root).load("who").manifest["sources"] == _sources(old_store, "who")
    assert _leftovers(root) == []


def test_opening_the_store_leaves_a_running_enrollment_alone(old_store: Path, tmp_path: Path) -> None:
    root = tmp_path / "store"
    shutil.copytree(old_store, root)
    (root / ".tmp-who-live").mkdir()
    holder = subprocess.Popen(  # another process writing: it holds the store's lock shared
        [sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'a'); "
         "fcntl.flock(f, fcntl.LOCK_SH); print('locked', flush=True); time.sleep(60)",
         str(root / store_module.LOCK_FILE)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        CharacterStore(root)
        assert (root / ".tmp-who-live").is_dir()
    finally:
        holder.kill()
        holder.wait()
    CharacterStore(root)  # nobody writes now: a leftover
    assert not (root / ".tmp-who-live").exists()
