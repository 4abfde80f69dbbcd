"""The neural renderer on a tiny random-weight checkpoint, real enrolled characters:
mixed-character batches, per-character neural assets keyed by the checkpoint's sha256,
`facecast enroll --checkpoint` and `facecast finetune` writing them."""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from facecast.core import topology as topo
from facecast.characters.store import CharacterStore, InvalidCharacterName, UnknownCharacter
from facecast.apps.cli import main
from facecast.config import RenderConfig
from facecast.core.filehash import sha256_of
from facecast.model.networks import TalkingHead, get_config, save_checkpoint
from facecast.characters.neural_assets import (
    NeuralAssets, NeuralAssetsError, assets_path, list_assets, load_assets, save_assets,
)
from facecast.render.base import RenderRequest, create_renderer, renderer_config_keys
from facecast.render.neural import NeuralCharacter, NeuralRenderer


def _checkpoint(path: Path, seed: int) -> Path:
    torch.manual_seed(seed)
    save_checkpoint(path, TalkingHead(get_config("tiny"), num_videos=2))
    return path


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", seed=0)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, default_store: CharacterStore,
          shared_characters: list[Path]) -> CharacterStore:
    """A private store (tests write neural assets into it): the astronaut and Mona Lisa."""
    from facecast.capture.landmarks import LandmarkDetector

    s = CharacterStore(tmp_path_factory.mktemp("neural-store"))
    mona = next(p for p in shared_characters if p.stem == "mona_lisa")
    with LandmarkDetector() as det:
        s.enroll("astro", [np.asarray(default_store.load("default").image)], detector=det)
        s.enroll("mona", [mona], detector=det)
    return s


@pytest.fixture(scope="module")
def renderer(ckpt: Path) -> NeuralRenderer:
    r = create_renderer("neural", checkpoint=str(ckpt), device="cpu")
    assert isinstance(r, NeuralRenderer)
    yield r
    r.close()


def _mouth_open(neutral: np.ndarray, amount: float) -> np.ndarray:
    driven = neutral.copy()
    for group in (topo.MP_LOWER_INNER_LIP, topo.MP_LOWER_OUTER_LIP, topo.MP_CHIN):
        driven[list(group), 1] += amount
    return driven


def test_renderer_takes_its_knobs_from_the_render_config() -> None:
    keys = renderer_config_keys("neural")
    assert keys[:3] == ("checkpoint", "device", "engine") and {"onnx_model", "precision", "providers"} <= set(keys)
    assert set(keys) <= set(RenderConfig.__dataclass_fields__), "every knob is defined in config.py"
    assert renderer_config_keys("warp") == ("pose_budget_ms",)
    assert set(renderer_config_keys("warp")) <= set(RenderConfig.__dataclass_fields__)


def test_mixed_character_batch_equals_one_by_one(renderer: NeuralRenderer, store: CharacterStore, ckpt: Path,
                                                 tmp_path: Path) -> None:
    astro, mona = store.load("astro"), store.load("mona")
    # A third character with its own (fully fine-tuned) generator: here the checkpoint's
    # generator with perturbed weights, stored as a --full fine-tune would store it.
    torch.manual_seed(1)
    own = {k: v + 0.05 * torch.randn_like(v) if v.is_floating_point() else v
           for k, v in renderer.engine.generator.state_dict().items()}
    sha = sha256_of(ckpt)
    emb = torch.randn(get_config("tiny").embed_dim)
    tuned_dir = tmp_path / "tuned"
    tuned_dir.mkdir()
    save_assets(tuned_dir, NeuralAssets(sha, emb, renderer.engine.adain_for(emb).cpu(), emb.clone(), own, 1, 3))
    tuned_assets = dataclasses.replace(mona.assets(), name="tuned", directory=tuned_dir)

    handles = [renderer.prepare(astro.assets()), renderer.prepare(mona.assets()), renderer.prepare(tuned_assets)]
    assert handles[2].generator is not None and handles[0].generator is None
    assert handles[2].source == "fine-tuned" and handles[0].source == "on the fly"
    reqs = [
        RenderRequest(handles[0], astro.neutral, "mediapipe478", 64, 64),
        RenderRequest(handles[1], _mouth_open(mona.neutral, 0.03), "mediapipe478", 96, 80),
        RenderRequest(handles[2], mona.neutral, "mediapipe478", 64, 64),
        RenderRequest(handles[1], topo.to_ibug68(mona.neutral), "ibug68", 64, 64),
        RenderRequest(handles[0], _mouth_open(astro.neutral, 0.05)[:, :2].copy(), "mediapipe478", 128, 128),
        RenderRequest(handles[2], _mouth_open(mona.neutral, 0.04), "mediapipe478", 48, 40),
    ]
    batched = renderer.render(reqs)
    for req, frame in zip(reqs, batched):
        alone = renderer.render([req])[0]
        assert frame.shape == (req.height, req.width, 4) and frame.dtype == np.uint8
        assert np.abs(frame.astype(int) - alone.astype(int)).max() <= 1
        assert frame[..., 3].std() > 0.5, "alpha comes from the generator and varies"
    # The characters differ, and so does a fine-tuned generator from the shared one.
    assert np.abs(batched[0].astype(int) - renderer.render([RenderRequest(
        handles[1], astro.neutral, "mediapipe478", 64, 64)])[0].astype(int)).mean() > 0.5
    shared = renderer.render([RenderRequest(handles[1], mona.neutral, "mediapipe478", 64, 64)])[0]
    assert np.abs(batched[2].astype(int) - shared.astype(int)).mean() > 0.5


def test_bad_requests_fail_with_a_reason(renderer: NeuralRenderer, store: CharacterStore) -> None:
    h = renderer.prepare(store.load("astro").assets())
    good = store.load("astro").neutral
    with pytest.raises(ValueError, match="request 1: .*NaN"):
        renderer.render([RenderRequest(h, good, "mediapipe478", 64, 64),
                         RenderRequest(h, np.full_like(good, np.nan), "mediapipe478", 64, 64)])
    with pytest.raises(ValueError, match="needs 68 landmarks"):
        renderer.render([RenderRequest(h, good, "ibug68", 64, 64)])
    with pytest.raises(ValueError, match="not a NeuralCharacter"):
        renderer.render([RenderRequest(object(), good, "mediapipe478", 64, 64)])
    with pytest.raises(ValueError, match="outside"):
        renderer.render([RenderRequest(h, good, "mediapipe478", 0, 64)])


def test_missing_checkpoint_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match=f"(?s){re.escape(str(missing))}.*facecast train"):
        NeuralRenderer(checkpoint=str(missing))
    with pytest.raises(FileNotFoundError, match="needs a model checkpoint"):
        NeuralRenderer(checkpoint="")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=f"(?s){re.escape(str(bad))}.*facecast train"):
        NeuralRenderer(checkpoint=str(bad))


def test_enroll_with_checkpoint_writes_assets_keyed_by_sha(renderer: NeuralRenderer, store: CharacterStore,
                                                           ckpt: Path, tmp_path: Path, shared_characters,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    still = next(p for p in shared_characters if p.stem == "pearl_earring")
    rc = main(["enroll", "pearl", str(still), "--store", str(store.root), "--checkpoint", str(ckpt),
               "--device", "cpu"])
    assert rc == 0
    sha = sha256_of(ckpt)
    path = assets_path(store.root / "pearl", sha)
    assert path.is_file() and list_assets(store.root / "pearl") == [sha]
    stored = store.load_neural_assets("pearl", sha)
    assert stored is not None and stored.steps == 0 and stored.shots == 1 and not stored.full
    assert stored.adain.shape == (renderer.engine.adain_size,)
    assert torch.allclose(stored.w, stored.embedding)
    # The renderer uses the stored vector (no warning), equal to what it would compute.
    caplog.set_level(logging.WARNING, "facecast.render.neural")
    store.evict("pearl")
    handle = renderer.prepare(store.load("pearl").assets())
    assert handle.source == "enrolled" and not caplog.records
    assert torch.equal(handle.adain.cpu(), stored.adain)
    # Poisoning the stored vector shows it is really the one rendered.
    poisoned = NeuralAssets(sha, stored.embedding, stored.adain + 0.5, stored.w, None, 1, 0)
    store.save_neural_assets("pearl", poisoned)
    lm = store.load("pearl").neutral
    before = renderer.render([RenderRequest(handle, lm, "mediapipe478", 64, 64)])[0]
    after = renderer.render([RenderRequest(renderer.prepare(store.load("pearl").assets()), lm, "mediapipe478",
                                           64, 64)])[0]
    assert np.abs(before.astype(int) - after.astype(int)).mean() > 0.5

    # Another checkpoint never picks up these assets: it embeds on the fly, with a warning.
    other = NeuralRenderer(checkpoint=str(_checkpoint(tmp_path / "other.pt", seed=5)), device="cpu")
    caplog.clear()
    h2 = other.prepare(store.load("pearl").assets())
    assert h2.source == "on the fly"
    assert any("enroll" in r.getMessage() and "--checkpoint" in r.getMessage() for r in caplog.records)


def test_store_validates_names_and_keeps_assets_inside(store: CharacterStore, ckpt: Path) -> None:
    sha = sha256_of(ckpt)
    e = torch.zeros(get_config("tiny").embed_dim)
    assets = NeuralAssets(sha, e, torch.zeros(3), e, None, 1, 0)
    for bad in ("../mona", "..", "a/b", "/etc"):
        with pytest.raises(InvalidCharacterName):
            store.save_neural_assets(bad, assets)
    with pytest.raises(UnknownCharacter):
        store.save_neural_assets("nobody", assets)
    with pytest.raises(NeuralAssetsError, match="sha256"):
        store.save_neural_assets("mona", NeuralAssets("../../x", e, e, e))


def test_corrupt_assets_are_reported_and_ignored(renderer: NeuralRenderer, store: CharacterStore, ckpt: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    sha = sha256_of(ckpt)
    path = assets_path(store.root / "mona", sha)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"garbage")
    try:
        with pytest.raises(NeuralAssetsError, match="unreadable"):
            load_assets(store.root / "mona", sha)
        caplog.set_level(logging.WARNING)
        handle = renderer.prepare(store.load("mona").assets())
        assert isinstance(handle, NeuralCharacter) and handle.source == "on the fly"
        assert any("ignoring the stored assets" in r.getMessage() for r in caplog.records)
    finally:
        path.unlink()


def test_finetune_full_stores_a_generator_the_renderer_uses(renderer: NeuralRenderer, store: CharacterStore,
                                                            ckpt: Path, capsys: pytest.CaptureFixture) -> None:
    rc = main(["finetune", "mona", "--checkpoint", str(ckpt), "--steps", "2", "--full", "--device", "cpu",
               "--store", str(store.root)])
    assert rc == 0
    assert "mona: 2 steps" in capsys.readouterr().out
    stored = store.load_neural_assets("mona", sha256_of(ckpt))
    assert stored is not None and stored.steps == 2 and len(stored.losses) == 2 and stored.full
    handle = renderer.prepare(store.load("mona").assets())
    assert handle.source == "fine-tuned" and handle.generator is not None
    frame = renderer.render([RenderRequest(handle, store.load("mona").neutral, "mediapipe478", 64, 64)])[0]
    assert frame.shape == (64, 64, 4)


def test_cli_rejects_neural_options_that_make_no_sense(store: CharacterStore, shared_characters,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    still = str(shared_characters[0])
    assert main(["enroll", "x", still, "--store", str(store.root), "--finetune"]) == 2
    assert "--checkpoint" in caplog.text
    assert main(["enroll", "x", still, "--store", str(store.root), "--checkpoint", "/nonexistent/ck.pt"]) == 2
    assert "/nonexistent/ck.pt" in caplog.text and "facecast train" in caplog.text
    assert not store.exists("x"), "a bad checkpoint is reported before enrolling"


def test_onnx_engine_renders_like_torch_and_full_finetunes_run_in_torch(tiny_onnx, store: CharacterStore,
                                                                        tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    """engine = "onnx": the same frames as the torch engine (within one uint8 level), for a
    mixed batch that includes a --full character, which runs in a torch engine of its own."""
    ckpt, onnx_path = tiny_onnx
    ref = NeuralRenderer(checkpoint=str(ckpt), device="cpu")
    assert ref.runtime.module is ref.engine.generator, "fp32 on CPU: the engine runs the model's own generator"
    ort = create_renderer("neural", checkpoint=str(ckpt), device="cpu", engine="onnx", onnx_model=str(onnx_path),
                          providers=("cpu",))
    assert ort.runtime.name == "onnx" and ort.runtime.provider == "CPUExecutionProvider"
    astro, mona = store.load("astro"), store.load("mona")
    torch.manual_seed(2)
    own = {k: v + 0.05 * torch.randn_like(v) if v.is_floating_point() else v
           for k, v in ref.engine.generator.state_dict().items()}
    emb = torch.randn(get_config("tiny").embed_dim)
    tuned_dir = tmp_path / "tuned"
    tuned_dir.mkdir()
    save_assets(tuned_dir, NeuralAssets(sha256_of(ckpt), emb, ref.engine.adain_for(emb).cpu(), emb.clone(), own, 1, 3))
    tuned = dataclasses.replace(mona.assets(), name="tuned", directory=tuned_dir)
    caplog.set_level(logging.WARNING, "facecast.render.neural")
    frames = {}
    for label, r in (("torch", ref), ("onnx", ort)):
        handles = [r.prepare(astro.assets()), r.prepare(mona.assets()), r.prepare(tuned)]
        assert handles[2].engine is not None and handles[2].engine.name == "torch" and handles[0].engine is None
        assert handles[2].generator is handles[2].engine.module, "a --full character's weights are held once"
        frames[label] = r.render([
            RenderRequest(handles[0], astro.neutral, "mediapipe478", 64, 64),
            RenderRequest(handles[2], _mouth_open(mona.neutral, 0.03), "mediapipe478", 64, 64),
            RenderRequest(handles[1], _mouth_open(mona.neutral, 0.03), "mediapipe478", 96, 80),
        ])
    said = [r.getMessage() for r in caplog.records if "own fine-tuned generator" in r.getMessage()]
    assert len(said) == 1 and "'tuned'" in said[0] and "onnx" in said[0], "said once, for the onnx renderer only"
    for a, b in zip(frames["torch"], frames["onnx"]):
        assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= 1
    ort.close()
    assert ort.runtime.closed
    with pytest.raises(ValueError, match="no exported model given.*facecast export"):
        NeuralRenderer(checkpoint=str(ckpt), device="cpu", engine="onnx")
