"""The characters the front end has loaded from the store, kept least-recently-bound first
and capped: loading one more than ``capacity`` unloads the least recently bound (sessions
bound to it keep rendering: a worker that no longer has it asks ``assets`` again, which
reads the store).

A character re-enrolled (or re-matted) while loaded is noticed and reloaded: at every bind
of it, and for every loaded character each ``refresh`` (the daemon's I/O loop calls it
every ``server.character_check_s``). A check is one ``stat`` of the manifest; only when
its identity (inode, size, mtime) changed is the manifest read and hashed, and only when
that version changed are the character's files read again. ``on_reload`` then moves the
sessions bound to the old version to the new one, and ``on_unload`` lets the executor
forget the old one.

Only files are read here (on the I/O thread); preparing a character for the renderer is
the render worker's job (facecast.server.render_worker), never the I/O thread's.
``assets`` is called from render lanes, so the table is guarded by a lock.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from facecast.characters.assets import CharacterAssets
from facecast.characters.store import Character, CharacterStore, InvalidCharacterName, UnknownCharacter
from facecast.protocol import ErrorCode, ProtocolError
from facecast.server.render_jobs import CharacterRef
from facecast.server.stats import DaemonStats

log = logging.getLogger(__name__)

FileStamp = tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns of the manifest


@dataclass(frozen=True)
class LoadedCharacter:
    ref: CharacterRef
    assets: CharacterAssets
    neutral: np.ndarray  # 478 x 3 float32, what bind replies and blendshape poses start from
    stamp: FileStamp | None = None  # the manifest's file identity when it was read


def manifest_version(manifest: dict[str, Any]) -> str:
    """A short digest of a character's manifest: every enrollment or re-matting changes it."""
    text = json.dumps(manifest, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def character_version(character: Character) -> str:
    return manifest_version(character.manifest)


class LoadedCharacters:
    def __init__(self, store: CharacterStore, capacity: int, stats: DaemonStats,
                 on_unload: Callable[[CharacterRef], None] | None = None,
                 on_reload: Callable[[CharacterRef, LoadedCharacter], None] | None = None) -> None:
        self.store = store
        self.capacity = max(1, capacity)
        self.stats = stats
        self.on_unload = on_unload
        self.on_reload = on_reload
        self._lock = threading.Lock()
        self._loaded: collections.OrderedDict[str, LoadedCharacter] = collections.OrderedDict()
        # Versions replaced by a reload, kept until the next refresh for poses already queued.
        self._retired: dict[CharacterRef, CharacterAssets] = {}

    def names(self) -> list[str]:
        """Loaded characters, least recently bound first."""
        with self._lock:
            return list(self._loaded)

    def get(self, name: str) -> LoadedCharacter:
        """``name`` in its current version, loading it from the store if needed. Raises
        ProtocolError INVALID_FIELD / UNKNOWN_CHARACTER for bad or unknown names."""
        with self._lock:
            loaded = self._loaded.get(name)
            if loaded is not None:
                self._loaded.move_to_end(name)
        if loaded is not None:
            return self._checked(loaded)
        try:
            stamp = self._stamp(name)  # before reading: a write after it shows at the next check
            self.store.evict(name)  # the store's cache may hold a version read before a re-enrollment
            character = self.store.load(name)
        except InvalidCharacterName as exc:
            raise ProtocolError(ErrorCode.INVALID_FIELD, str(exc)) from None
        except UnknownCharacter as exc:
            raise ProtocolError(ErrorCode.UNKNOWN_CHARACTER, str(exc)) from None
        loaded = _loaded_from(character, stamp)
        unloaded = []
        with self._lock:
            self._loaded[name] = loaded
            while len(self._loaded) > self.capacity:
                unloaded.append(self._loaded.popitem(last=False)[1])
        log.info("character %r loaded (version %s)", name, loaded.ref.version)
        for old in unloaded:
            self.store.evict(old.ref.name)
            self.stats.count("characters_unloaded")
            log.info("character %r unloaded (least recently bound)", old.ref.name)
            if self.on_unload is not None:
                self.on_unload(old.ref)
        return loaded

    def refresh(self) -> None:
        """Check every loaded character for a new version in the store (I/O thread)."""
        with self._lock:
            self._retired.clear()  # queued poses of a version replaced a check ago are done
            loaded = list(self._loaded.values())
        for character in loaded:
            self._checked(character)

    def assets(self, ref: CharacterRef) -> CharacterAssets:
        """The assets of ``ref`` for a render worker (any thread). Raises LookupError when
        the store's copy is now another version (re-enrolled since the session bound)."""
        with self._lock:
            loaded = self._loaded.get(ref.name)
            retired = self._retired.get(ref)
        if loaded is not None and loaded.ref == ref:
            return loaded.assets
        if retired is not None:
            return retired
        character = self.store.load(ref.name)  # unloaded since: read it again
        if character_version(character) != ref.version:
            raise LookupError(f"{ref.name!r} changed in the store since it was bound; bind again")
        return character.assets()

    # ----------------------------------------------------------------- reloading
    def _stamp(self, name: str) -> FileStamp | None:
        try:
            st = os.stat(self.store.manifest_path(name))
        except OSError:
            return None
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns

    def _checked(self, loaded: LoadedCharacter) -> LoadedCharacter:
        """``loaded``, or its new version when the store's manifest changed."""
        name = loaded.ref.name
        stamp = self._stamp(name)
        if stamp is None or stamp == loaded.stamp:
            return loaded  # unchanged, or missing for now: keep serving what is loaded
        try:
            manifest = json.loads(self.store.manifest_path(name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("character %r: manifest unreadable (%s); serving the loaded version", name, exc)
            return loaded
        if manifest_version(manifest) == loaded.ref.version:  # touched or copied, same contents
            return self._replace(loaded, dataclasses.replace(loaded, stamp=stamp))
        self.store.evict(name)
        try:
            fresh = _loaded_from(self.store.load(name), stamp)
        except Exception as exc:  # noqa: BLE001 - a half-copied store must not end the daemon
            log.warning("character %r changed but cannot be loaded (%s: %s); serving the loaded version",
                        name, type(exc).__name__, exc)
            return loaded
        self._replace(loaded, fresh)
        self.stats.count("characters_reloaded")
        log.info("character %r reloaded: version %s -> %s", name, loaded.ref.version, fresh.ref.version)
        if fresh.ref != loaded.ref:
            if self.on_reload is not None:
                self.on_reload(loaded.ref, fresh)
            if self.on_unload is not None:
                self.on_unload(loaded.ref)
        return fresh

    def _replace(self, old: LoadedCharacter, new: LoadedCharacter) -> LoadedCharacter:
        with self._lock:
            if self._loaded.get(old.ref.name) is old:
                self._loaded[old.ref.name] = new  # keeps its place in the LRU order
            if new.ref != old.ref:
                self._retired[old.ref] = old.assets
        return new


def _loaded_from(character: Character, stamp: FileStamp | None) -> LoadedCharacter:
    return LoadedCharacter(CharacterRef(character.name, character_version(character)), character.assets(),
                           character.neutral, stamp)
