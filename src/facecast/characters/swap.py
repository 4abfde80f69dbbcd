"""Swapping two folders in one step, and the store's writer/cleaner lock.

``exchange_paths`` swaps two existing paths atomically: ``renameat2(RENAME_EXCHANGE)`` on
Linux (glibc 2.28+; ext4, XFS, Btrfs, tmpfs, ...), ``renamex_np(RENAME_SWAP)`` on macOS.
It returns False where neither the platform nor the filesystem offers it (Windows, NFS,
old glibc), and the caller falls back to two renames.

``store_lock`` is an advisory ``flock`` on one file in the store root: writers hold it
shared while they have temporary folders or files there, and the cleanup run when a store
opens takes it exclusive without waiting, so it never removes what a live writer is
still writing. A killed writer's lock goes with its process.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterator

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; see store_lock
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

ADVISORY_LOCKS = fcntl is not None

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # linux/fs.h
_RENAME_SWAP = 0x2  # macOS sys/stdio.h
_UNSUPPORTED = frozenset({errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV})

_exchange: Callable[[bytes, bytes], int] | None = None
_looked_up = False


def _exchange_function() -> Callable[[bytes, bytes], int] | None:
    """The C call that swaps two paths, looked up once; None where there is none."""
    global _exchange, _looked_up
    if not _looked_up:
        _looked_up = True
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if sys.platform.startswith("linux"):
                renameat2 = libc.renameat2
                renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
                renameat2.restype = ctypes.c_int
                _exchange = lambda a, b: renameat2(_AT_FDCWD, a, _AT_FDCWD, b, _RENAME_EXCHANGE)  # noqa: E731
            elif sys.platform == "darwin":
                renamex_np = libc.renamex_np
                renamex_np.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint]
                renamex_np.restype = ctypes.c_int
                _exchange = lambda a, b: renamex_np(a, b, _RENAME_SWAP)  # noqa: E731
        except (OSError, AttributeError):  # no such function in this C library
            _exchange = None
    return _exchange


def exchange_paths(a: Path, b: Path) -> bool:
    """Swap the existing paths ``a`` and ``b`` in one atomic step; False (nothing done)
    where this platform or filesystem cannot. Other failures raise OSError."""
    exchange = _exchange_function()
    if exchange is None:
        return False
    if exchange(os.fsencode(a), os.fsencode(b)) == 0:
        return True
    err = ctypes.get_errno()
    if err in _UNSUPPORTED:
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def exchange_supported(directory: Path) -> bool:
    """Whether ``exchange_paths`` works for folders in ``directory`` (tried on two empty ones)."""
    a = Path(tempfile.mkdtemp(prefix=".probe-", dir=directory))
    b = Path(tempfile.mkdtemp(prefix=".probe-", dir=directory))
    try:
        return exchange_paths(a, b)
    finally:
        shutil.rmtree(a, ignore_errors=True)
        shutil.rmtree(b, ignore_errors=True)


@contextlib.contextmanager
def store_lock(lock_path: Path, *, exclusive: bool) -> Iterator[bool]:
    """Hold the advisory lock at ``lock_path``: shared (writers; waits) or exclusive
    (the cleanup; never waits). Yields whether it is held; without ``fcntl`` (Windows)
    it yields True for writers and False for the cleanup, which then only removes
    leftovers old enough to be abandoned."""
    if not ADVISORY_LOCKS:
        yield not exclusive
        return
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)  # releases the lock
