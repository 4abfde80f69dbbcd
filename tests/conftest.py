"""Shared test fixtures: where the team's shared data and model live, and a character
store enrolled once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_MODELS = SHARED / "models"
SHARED_CHARACTERS = SHARED / "data" / "characters"
SHARED_VIDEOS = SHARED / "data" / "videos"

# Tests never download: the model comes from FACECAST_MODEL_DIR or the shared folder.
if not os.environ.get("FACECAST_MODEL_DIR") and (SHARED_MODELS / "face_landmarker.task").is_file():
    os.environ["FACECAST_MODEL_DIR"] = str(SHARED_MODELS)
os.environ.setdefault("FACECAST_OFFLINE", "1")


def _model_available() -> bool:
    d = os.environ.get("FACECAST_MODEL_DIR")
    return bool(d) and (Path(d) / "face_landmarker.task").is_file()


@pytest.fixture(scope="session")
def model_dir() -> Path:
    if not _model_available():
        pytest.skip("MediaPipe model face_landmarker.task not found (set FACECAST_MODEL_DIR or provide ../shared/models)")
    return Path(os.environ["FACECAST_MODEL_DIR"])


@pytest.fixture(scope="session")
def shared_characters() -> list[Path]:
    files = sorted(SHARED_CHARACTERS.glob("*.jpg"))
    if not files:
        pytest.skip(f"shared test characters not found in {SHARED_CHARACTERS}")
    return files


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    if not (SHARED_VIDEOS / "d0.mp4").is_file():
        pytest.skip(f"shared test videos not found in {SHARED_VIDEOS}")
    return SHARED_VIDEOS


@pytest.fixture(scope="session")
def default_store(tmp_path_factory: pytest.TempPathFactory, model_dir: Path):
    """A character store holding only the built-in default character."""
    from facecast.characters.store import CharacterStore

    store = CharacterStore(tmp_path_factory.mktemp("store-default"))
    store.ensure_default()
    return store


@pytest.fixture(scope="session")
def full_store(tmp_path_factory: pytest.TempPathFactory, model_dir: Path, shared_characters: list[Path]):
    """A character store with the default character and every shared still enrolled
    under its file stem (mona_lisa, pearl_earring, ...)."""
    from facecast.capture.landmarks import LandmarkDetector
    from facecast.characters.store import CharacterStore

    store = CharacterStore(tmp_path_factory.mktemp("store-full"))
    store.ensure_default()
    with LandmarkDetector() as detector:
        for path in shared_characters:
            store.enroll(path.stem, [path], detector=detector)
    return store


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight checkpoint of the ``tiny`` model config, for the neural renderer."""
    import torch

    from facecast.model.networks import TalkingHead, get_config, save_checkpoint

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, TalkingHead(get_config("tiny"), num_videos=1))
    return path


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(checkpoint, exported ONNX generator) of a tiny random-weight model, exported once per
    session (the dynamo exporter takes tens of seconds even for the tiny config). Its seed is
    its own, so its sha256 differs from every other test checkpoint (characters' neural
    assets are keyed by it)."""
    import torch

    from facecast.model.engines.export import export_onnx
    from facecast.model.networks import TalkingHead, get_config, save_checkpoint

    root = tmp_path_factory.mktemp("tiny-onnx")
    torch.manual_seed(1234)
    save_checkpoint(root / "tiny.pt", TalkingHead(get_config("tiny"), num_videos=2))
    export_onnx(root / "tiny.pt", root / "tiny.onnx")
    return root / "tiny.pt", root / "tiny.onnx"
