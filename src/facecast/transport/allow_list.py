"""The CurveZMQ client allow-list: the public keys in a folder, re-read when it changes.

One ``AllowList`` is the daemon's single answer to "is this client key allowed": the ZAP
authenticator asks it at each handshake (``callback``), and the daemon asks it for every
message (``admits``, a set lookup on the message's ``User-Id``), because ZeroMQ checks a
key only at the handshake and a revoked client's open connection would otherwise go on
being served. ``poll`` (the daemon's I/O thread, about once a loop) re-reads the folder
when its listing, sizes or mtimes changed since the last look, at most every
``interval_s``, or at once after ``request_reload`` (SIGHUP).

Bounds: a listing of at most ``MAX_FILES`` ``.key`` files, each read only if at most
``MAX_KEY_FILE_BYTES``; anything else is skipped with a warning. A file that cannot be
read or holds no valid key admits nobody (it never keeps an old set alive), and a folder
that vanished or cannot be listed admits nobody until it is back.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

import zmq
import zmq.auth
from zmq.utils import z85

log = logging.getLogger(__name__)

MAX_FILES = 10_000  # .key files looked at per listing
MAX_KEY_FILE_BYTES = 4096  # a pyzmq public certificate is about 300 bytes

# (name, size, mtime_ns, inode) of each .key file, sorted; None: the folder is unreadable
_Listing = tuple[tuple[str, int, int, int], ...] | None


class AllowList:
    """Z85 public keys of the clients allowed to connect, from ``directory``'s ``*.key`` files."""

    def __init__(self, directory: str | Path, interval_s: float = 1.0) -> None:
        self.directory = Path(directory)
        self.interval_s = interval_s
        self._keys: frozenset[bytes] = frozenset()  # replaced whole, so other threads read it safely
        self._listing: _Listing = None
        self._next_check = 0.0
        self._reload_requested = threading.Event()
        self.reload()

    # ------------------------------------------------------------ questions
    def __len__(self) -> int:
        return len(self._keys)

    def admits(self, user_id: bytes | str | None) -> bool:
        """Whether a client whose ZAP User-Id (its Z85 public key) is ``user_id`` is allowed."""
        if user_id is None:
            return False
        if isinstance(user_id, str):
            user_id = user_id.encode("ascii", "replace")
        return user_id in self._keys

    def callback(self, domain: str, key: bytes) -> bool:
        """pyzmq's CURVE credentials provider hook (the ZAP thread): ``key`` is Z85."""
        return key in self._keys

    # ------------------------------------------------------------ changes
    def request_reload(self) -> None:
        """Re-read the folder at the next ``poll`` whatever the interval (safe in a signal handler)."""
        self._reload_requested.set()

    def poll(self, now: float | None = None) -> frozenset[bytes] | None:
        """Re-read the folder if asked to, or if due and its listing changed. Returns the
        keys that are no longer allowed (possibly none) when it re-read, else None."""
        now = time.monotonic() if now is None else now
        if self._reload_requested.is_set():
            self._reload_requested.clear()
        elif self.interval_s <= 0 or now < self._next_check:
            return None
        else:
            self._next_check = now + self.interval_s
            if self._list() == self._listing:
                return None
        before = self._keys
        self.reload()
        return before - self._keys

    def reload(self) -> None:
        """Read every ``.key`` file of the folder now and replace the allowed set."""
        listing = self._list()
        keys: set[bytes] = set()
        for name, size, _, _ in listing or ():
            key = self._read_key(self.directory / name, size)
            if key is not None:
                keys.add(key)
        added, removed = len(keys - self._keys), len(self._keys - keys)
        self._keys, self._listing = frozenset(keys), listing
        self._warn_of_secret_keys()
        if listing is None:
            log.error("cannot list the client allow-list %s: no client is admitted until it is back",
                      self.directory)
        else:
            log.info("client allow-list %s: %d key(s) (%d added, %d removed)", self.directory, len(keys),
                     added, removed)

    def _list(self) -> _Listing:
        entries = []
        try:
            with os.scandir(self.directory) as it:
                for entry in it:
                    if not entry.name.endswith(".key") or entry.name.startswith("."):
                        continue
                    if len(entries) >= MAX_FILES:
                        log.warning("client allow-list %s has more than %d .key files; the rest are ignored",
                                    self.directory, MAX_FILES)
                        break
                    try:
                        st = entry.stat()
                    except OSError:
                        continue  # removed while listing
                    entries.append((entry.name, st.st_size, st.st_mtime_ns, st.st_ino))
        except OSError:
            return None
        return tuple(sorted(entries))

    def _warn_of_secret_keys(self) -> None:
        try:
            secrets = sum(1 for name in os.listdir(self.directory) if name.endswith(".key_secret"))
        except OSError:
            return
        if secrets:
            log.warning("client allow-list %s holds %d secret key file(s) (.key_secret): it must hold client "
                        "public keys only; move secret keys elsewhere", self.directory, secrets)

    @staticmethod
    def _read_key(path: Path, size: int) -> bytes | None:
        if size > MAX_KEY_FILE_BYTES:
            log.warning("%s is %d bytes, more than a key file's %d: ignored", path, size, MAX_KEY_FILE_BYTES)
            return None
        try:
            public, _ = zmq.auth.load_certificate(path)
            if len(public) != 40:
                raise ValueError(f"public key of {len(public)} characters, not 40")
            z85.decode(public)
        except (OSError, ValueError, KeyError) as exc:  # (KeyError: not a Z85 character)
            log.warning("%s is not a readable public key file (%s): ignored", path, exc)
            return None
        return public


def peer_key(frame: zmq.Frame) -> str | None:
    """The Z85 public key of the CurveZMQ client that sent ``frame`` (received with
    ``copy=False``): the User-Id its ZAP handshake was given; None when it has none."""
    try:
        return frame.get("User-Id")
    except zmq.ZMQError:
        return None
