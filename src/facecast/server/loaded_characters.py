"""Characters prepared for the renderer, kept least-recently-bound first and capped:
loading one more than ``capacity`` unloads the least recently bound (sessions bound to it
keep their handle and keep rendering; the next bind loads it again)."""

from __future__ import annotations

import collections
import logging
from typing import Any

import numpy as np

from facecast.characters.store import CharacterStore, InvalidCharacterName, UnknownCharacter
from facecast.server.stats import DaemonStats
from facecast.render.base import Renderer
from facecast.protocol import ErrorCode, ProtocolError

log = logging.getLogger(__name__)


class LoadedCharacters:
    def __init__(self, store: CharacterStore, renderer: Renderer, capacity: int, stats: DaemonStats) -> None:
        self.store = store
        self.renderer = renderer
        self.capacity = max(1, capacity)
        self.stats = stats
        self._loaded: collections.OrderedDict[str, tuple[Any, np.ndarray]] = collections.OrderedDict()

    def names(self) -> list[str]:
        """Loaded characters, least recently bound first."""
        return list(self._loaded)

    def get(self, name: str) -> tuple[Any, np.ndarray]:
        """(renderer handle, neutral landmarks) of ``name``, loading it if needed.
        Raises ProtocolError INVALID_FIELD / UNKNOWN_CHARACTER for bad or unknown names."""
        if name in self._loaded:
            self._loaded.move_to_end(name)
            return self._loaded[name]
        try:
            character = self.store.load(name)
        except InvalidCharacterName as exc:
            raise ProtocolError(ErrorCode.INVALID_FIELD, str(exc)) from None
        except UnknownCharacter as exc:
            raise ProtocolError(ErrorCode.UNKNOWN_CHARACTER, str(exc)) from None
        self._loaded[name] = (self.renderer.prepare(character.assets()), character.neutral)
        log.info("character %r loaded", name)
        while len(self._loaded) > self.capacity:
            old, _ = self._loaded.popitem(last=False)
            self.store.evict(old)
            self.stats.count("characters_unloaded")
            log.info("character %r unloaded (least recently bound)", old)
        return self._loaded[name]
