"""Model file resolution: env dir, user cache, download from a real local HTTP server."""

from __future__ import annotations

import functools
import http.server
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Iterator

import platformdirs
import pytest

from facecast.capture import model_files as mf

SHARED = Path(__file__).resolve().parents[2].parent / "shared"


def _real_model() -> Path:
    env = os.environ.get("FACECAST_MODEL_DIR")
    model_dir = Path(env) if env else SHARED / "models"
    path = model_dir / mf.FACE_LANDMARKER_FILE
    if not path.is_file():
        pytest.skip(f"real {mf.FACE_LANDMARKER_FILE} not found at {path} (set FACECAST_MODEL_DIR)")
    return path


@pytest.fixture
def real_model() -> Path:
    return _real_model()


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point platformdirs' cache at a temp dir and clear every FACECAST_* variable."""
    cache_root = tmp_path / "cache"
    monkeypatch.setattr(platformdirs, "user_cache_dir", lambda *a, **k: str(cache_root))
    for var in (mf.ENV_MODEL_DIR, mf.ENV_MODEL_URL, mf.ENV_OFFLINE):
        monkeypatch.delenv(var, raising=False)
    for var in ("no_proxy", "NO_PROXY"):  # the local server must not go through a proxy
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    return cache_root / "models"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        logging.getLogger("test_http").debug(format, *args)


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A real HTTP server on 127.0.0.1 serving a temp directory; yields (dir, base URL)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/models"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_env_dir_is_used(
    cache_dir: Path,
    real_model: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(mf.ENV_MODEL_DIR, str(real_model.parent))
    with caplog.at_level(logging.WARNING, logger=mf.__name__):
        assert mf.resolve_face_landmarker(allow_download=False) == real_model
    assert not caplog.records


def test_env_dir_other_version_only_warns(
    cache_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    other = tmp_path / "mine"
    other.mkdir()
    (other / mf.FACE_LANDMARKER_FILE).write_bytes(b"some other model version")
    monkeypatch.setenv(mf.ENV_MODEL_DIR, str(other))
    with caplog.at_level(logging.WARNING, logger=mf.__name__):
        assert mf.resolve_face_landmarker(allow_download=False) == other / mf.FACE_LANDMARKER_FILE
    assert any("sha256" in r.getMessage() for r in caplog.records)


def test_cache_dir_is_used(
    cache_dir: Path,
    real_model: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache_dir.mkdir(parents=True)
    shutil.copyfile(real_model, cache_dir / mf.FACE_LANDMARKER_FILE)
    monkeypatch.setenv(mf.ENV_MODEL_DIR, str(cache_dir.parent / "empty"))  # searched, absent
    assert mf.resolve_face_landmarker(allow_download=False) == cache_dir / mf.FACE_LANDMARKER_FILE


def test_corrupt_cache_fails(cache_dir: Path) -> None:
    cache_dir.mkdir(parents=True)
    (cache_dir / mf.FACE_LANDMARKER_FILE).write_bytes(b"truncated")
    with pytest.raises(mf.ModelChecksumError, match="delete it"):
        mf.resolve_face_landmarker(allow_download=False)


def test_download_lands_in_cache(
    cache_dir: Path,
    real_model: Path,
    http_dir: tuple[Path, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served, url = http_dir
    (served / "models").mkdir()
    shutil.copyfile(real_model, served / "models" / mf.FACE_LANDMARKER_FILE)
    monkeypatch.setenv(mf.ENV_MODEL_URL, url)
    path = mf.resolve_face_landmarker()
    assert path == cache_dir / mf.FACE_LANDMARKER_FILE
    assert mf.sha256_of(path) == mf.FACE_LANDMARKER_SHA256
    assert sorted(p.name for p in cache_dir.iterdir()) == [mf.FACE_LANDMARKER_FILE]
    # Second call finds the cached copy without the server.
    monkeypatch.setenv(mf.ENV_OFFLINE, "1")
    assert mf.resolve_face_landmarker() == path


def test_download_wrong_hash_fails_and_cleans_up(
    cache_dir: Path,
    http_dir: tuple[Path, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served, url = http_dir
    (served / "models").mkdir()
    (served / "models" / mf.FACE_LANDMARKER_FILE).write_bytes(os.urandom(200_000))
    monkeypatch.setenv(mf.ENV_MODEL_URL, url)
    with pytest.raises(mf.ModelFileMissing, match="sha256"):
        mf.resolve_face_landmarker()
    assert not cache_dir.exists() or list(cache_dir.iterdir()) == []


def test_download_file_wrong_hash_removes_temp(
    cache_dir: Path,
    tmp_path: Path,
    http_dir: tuple[Path, str],
) -> None:
    served, url = http_dir
    (served / "models").mkdir()
    (served / "models" / "blob.bin").write_bytes(b"x" * 1000)
    dest = tmp_path / "out" / "blob.bin"
    with pytest.raises(mf.ModelChecksumError):
        mf.download_file(f"{url}/blob.bin", dest, "0" * 64)
    assert list(dest.parent.iterdir()) == []


def test_download_404_is_model_missing(
    cache_dir: Path,
    http_dir: tuple[Path, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _served, url = http_dir
    monkeypatch.setenv(mf.ENV_MODEL_URL, url)
    with pytest.raises(mf.ModelFileMissing, match="404"):
        mf.resolve_face_landmarker()
    assert not cache_dir.exists() or list(cache_dir.iterdir()) == []


def test_offline_missing_message(
    cache_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(mf.ENV_OFFLINE, "1")
    monkeypatch.setenv(mf.ENV_MODEL_DIR, str(tmp_path / "nowhere"))
    with pytest.raises(mf.ModelFileMissing) as info:
        mf.resolve_face_landmarker()
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert mf.FACE_LANDMARKER_FILE in msg
    assert f"{mf.DEFAULT_BASE_URL}/{mf.FACE_LANDMARKER_FILE}" in msg
    assert "FACECAST_MODEL_DIR" in msg
    assert str(tmp_path / "nowhere") in msg
    assert str(cache_dir) in msg
    assert "FACECAST_OFFLINE" in msg


def test_allow_download_false_overrides_env(cache_dir: Path) -> None:
    with pytest.raises(mf.ModelFileMissing, match="disabled by the caller"):
        mf.resolve_face_landmarker(allow_download=False)
