"""Errors the daemon raises at start-up with a sentence for the user (no traceback)."""

from __future__ import annotations


class ExecutorError(RuntimeError):
    """The render executor could not start its workers (the message says why and what to set)."""
