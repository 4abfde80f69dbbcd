from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.daemon_process import DaemonProcess, start_daemon


@pytest.fixture
def daemon(full_store, tmp_path: Path):
    """The real daemon (subprocess) serving the full store; must exit cleanly on SIGTERM."""
    d = start_daemon(tmp_path, full_store.root)
    yield d
    rc = d.stop()
    assert rc == 0, f"daemon exited with {rc}:\n{d.log()}"


@pytest.fixture
def default_daemon(default_store, tmp_path: Path) -> DaemonProcess:
    d = start_daemon(tmp_path, default_store.root)
    yield d
    rc = d.stop()
    assert rc == 0, f"daemon exited with {rc}:\n{d.log()}"
