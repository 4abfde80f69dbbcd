"""The characters the front end has loaded from the store, kept least-recently-bound first
and capped: loading one more than ``capacity`` unloads the least recently bound (sessions
bound to it keep rendering: a worker that no longer has it asks ``assets`` again, which
reads the store).

Only files are read here (on the I/O thread, at bind); preparing a character for the
renderer is the render worker's job (facecast.server.render_worker), never the I/O
thread's. ``assets`` is called from render lanes, so the table is guarded by a lock.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

from facecast.characters.assets import CharacterAssets
from facecast.characters.store import Character, CharacterStore, InvalidCharacterName, UnknownCharacter
from facecast.protocol import ErrorCode, ProtocolError
from facecast.server.render_jobs import CharacterRef
from facecast.server.stats import DaemonStats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedCharacter:
    ref: CharacterRef
    assets: CharacterAssets
    neutral: np.ndarray  # 478 x 3 float32, what bind replies and blendshape poses start from


def character_version(character: Character) -> str:
    """A short digest of the character's manifest: re-enrolling or re-matting changes it."""
    text = json.dumps(character.manifest, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class LoadedCharacters:
    def __init__(self, store: CharacterStore, capacity: int, stats: DaemonStats,
                 on_unload: Callable[[CharacterRef], None] | None = None) -> None:
        self.store = store
        self.capacity = max(1, capacity)
        self.stats = stats
        self.on_unload = on_unload
        self._lock = threading.Lock()
        self._loaded: collections.OrderedDict[str, LoadedCharacter] = collections.OrderedDict()

    def names(self) -> list[str]:
        """Loaded characters, least recently bound first."""
        with self._lock:
            return list(self._loaded)

    def get(self, name: str) -> LoadedCharacter:
        """``name``, loading it from the store if needed. Raises ProtocolError
        INVALID_FIELD / UNKNOWN_CHARACTER for bad or unknown names."""
        with self._lock:
            loaded = self._loaded.get(name)
            if loaded is not None:
                self._loaded.move_to_end(name)
                return loaded
        try:
            character = self.store.load(name)
        except InvalidCharacterName as exc:
            raise ProtocolError(ErrorCode.INVALID_FIELD, str(exc)) from None
        except UnknownCharacter as exc:
            raise ProtocolError(ErrorCode.UNKNOWN_CHARACTER, str(exc)) from None
        loaded = LoadedCharacter(CharacterRef(name, character_version(character)), character.assets(),
                                 character.neutral)
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

    def assets(self, ref: CharacterRef) -> CharacterAssets:
        """The assets of ``ref`` for a render worker (any thread). Raises LookupError when
        the store's copy is now another version (re-enrolled since the session bound)."""
        with self._lock:
            loaded = self._loaded.get(ref.name)
        if loaded is not None and loaded.ref == ref:
            return loaded.assets
        character = self.store.load(ref.name)  # unloaded since: read it again
        if character_version(character) != ref.version:
            raise LookupError(f"{ref.name!r} changed in the store since it was bound; bind again")
        return character.assets()
