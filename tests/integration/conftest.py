from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.daemon_process import DaemonProcess, start_daemon


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight checkpoint of the ``tiny`` model config, for the neural renderer."""
    import torch

    from facecast.inference.models import TalkingHead, get_config, save_checkpoint

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, TalkingHead(get_config("tiny"), num_videos=1))
    return path


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
