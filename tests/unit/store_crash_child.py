"""Helper process of test_store_replace.py: re-enrolls a character with overwrite in forked
children that die by SIGKILL just before their Nth change to the store's files, as
`kill -9` or a power cut would. Imports once, forks per run (a run costs a detection,
not mediapipe's import).

Reads lines "ROOT NAME PHOTO KILL_AT MODE" on stdin, answers "killed" or "done STEPS":
  KILL_AT: 1-based index of the change to die before (0: never). A change is any audited
  call that creates, renames or removes a file or folder, opens one for writing, takes a
  lock or calls C through ctypes, counted from the first one under ROOT.
  MODE: "exchange" (the platform's atomic swap) or "two-renames" (as on a filesystem
  without one).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from facecast.capture.landmarks import LandmarkDetector
from facecast.characters import store as store_module

_MUTATING = {"os.mkdir", "os.rename", "os.rmdir", "os.remove", "shutil.rmtree", "os.symlink", "os.link",
             "os.truncate", "fcntl.flock", "fcntl.lockf", "ctypes.call_function"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _run(root: Path, name: str, photo: Path, kill_at: int, mode: str) -> int:
    """One re-enrollment (in a forked child); returns the number of changes it made."""
    if mode == "two-renames":
        store_module.exchange_paths = lambda a, b: False  # as where RENAME_EXCHANGE is unsupported
    changes = 0
    counting = False

    def under_root(path: object) -> bool:
        try:
            return Path(os.fsdecode(path)).resolve().is_relative_to(root)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False

    def hook(event: str, args: tuple) -> None:
        nonlocal changes, counting
        if event == "open":
            how, flags = args[1], args[2]
            writes = (isinstance(how, str) and any(c in how for c in "wax+")) or (
                isinstance(flags, int) and flags & _WRITE_FLAGS)
            if not writes:
                return
        elif event not in _MUTATING:
            return
        if not counting:
            if event == "ctypes.call_function" or not under_root(args[0]):
                return
            counting = True
        changes += 1
        if changes == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    with LandmarkDetector() as detector:
        store = store_module.CharacterStore(root)
        sys.addaudithook(hook)
        store.enroll(name, [photo], detector=detector, overwrite=True)
        kill_at = -1  # closing the detector is no step of the store's
    return changes


def main() -> int:
    for line in sys.stdin:
        root, name, photo, kill_at, mode = line.split()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = 100 + _run(Path(root).resolve(), name, Path(photo), int(kill_at), mode)
            finally:
                sys.stdout.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            print("killed", flush=True)
        elif os.WIFEXITED(status) and os.WEXITSTATUS(status) >= 100:
            print(f"done {os.WEXITSTATUS(status) - 100}", flush=True)
        else:
            print(f"failed {status}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
