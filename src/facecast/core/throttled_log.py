"""A warning that a hostile or buggy client can trigger at any rate, logged at most once
per interval with the count of the ones it left out (logging must not become the cost)."""

from __future__ import annotations

import logging
import threading
import time


class ThrottledLog:
    """``warning(msg, *args)`` logs at most once every ``every_s`` seconds."""

    def __init__(self, logger: logging.Logger, every_s: float = 5.0) -> None:
        self.logger = logger
        self.every_s = every_s
        self._last = float("-inf")
        self._skipped = 0
        self._lock = threading.Lock()

    def warning(self, msg: str, *args: object) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.every_s:
                self._skipped += 1
                return
            skipped, self._skipped, self._last = self._skipped, 0, now
        if skipped:
            self.logger.warning(msg + " (and %d more like it in the last %.0f s)", *args, skipped, self.every_s)
        else:
            self.logger.warning(msg, *args)
