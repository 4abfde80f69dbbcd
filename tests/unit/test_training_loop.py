"""Episodes, meta-learning, resume and few-shot fine-tuning of the tiny model on a data
set built from two shared videos (CPU, 64²)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from facecast.apps.cli import main
from facecast.model.networks.talking_head import load_checkpoint
from facecast.training.dataset_format import LANDMARK_FORMAT, NUM_LANDMARKS
from facecast.training.episodes import EpisodeDataset, collate_episodes
from facecast.training.finetune import finetune
from facecast.training.losses import l1_loss
from facecast.training.ms_ssim import ms_ssim
from facecast.training.trainer import TrainConfig, TrainError, preview_batch, run_training

K = 4
SIZE = 64
VIDEOS = ("d0.mp4", "d12.mp4")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: more threads only fight the other test processes
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory, shared_videos: Path, model_dir: Path) -> Path:
    from facecast.training.dataset_build import BuildOptions, build_dataset

    src = tmp_path_factory.mktemp("train-videos")
    for name in VIDEOS:
        shutil.copy(shared_videos / name, src / name)
    out = tmp_path_factory.mktemp("train-data")
    report = build_dataset(src, out, BuildOptions(size=SIZE, max_frames=16, every=3), progress=False)
    assert len(report.usable) == len(VIDEOS)
    return out


def _cfg(**kw) -> TrainConfig:
    base = dict(model="tiny", k=K, batch=2, seed=7, log_every=5, checkpoint_every=10, preview_every=0)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def short_run(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("run") / "tiny.pt"
    return run_training(dataset_dir, out, _cfg(steps=40, preview_every=20), progress=False)


def test_landmark_format_is_the_trackers():
    from facecast.tracking.face import LANDMARK_FORMAT as TRACKER_FORMAT
    from facecast.tracking.face import NUM_LANDMARKS as TRACKER_POINTS

    assert (LANDMARK_FORMAT, NUM_LANDMARKS) == (TRACKER_FORMAT, TRACKER_POINTS)


def test_episodes_have_k_plus_one_frames_of_one_video(dataset_dir: Path):
    ds = EpisodeDataset(dataset_dir, k=K, seed=3)
    assert ds.num_videos == 2 and ds.has_mattes
    ep = ds[0]
    assert ep.frames.shape == (K + 1, 3, SIZE, SIZE) and ep.frames.dtype == torch.float32
    assert -1.0 <= float(ep.frames.min()) and float(ep.frames.max()) <= 1.0 and float(ep.frames.std()) > 0.1
    assert ep.landmarks.shape == (K + 1, 478, 3) and ep.mattes is not None and ep.mattes.shape == (K + 1, 1, SIZE, SIZE)
    video, picks = ds.frame_indices(0)
    assert int(ep.video_index) == video and len(set(picks.tolist())) == K + 1
    rec = ds.records[video]
    assert torch.equal(ep.landmarks, torch.from_numpy(rec.landmarks[picks]))
    # A pure function of (seed, index): same seed same episode, other seed or index differ.
    assert torch.equal(EpisodeDataset(dataset_dir, k=K, seed=3)[5].frames, ds[5].frames)
    others = [ds.frame_indices(i) for i in range(1, 20)] + [EpisodeDataset(dataset_dir, k=K, seed=4).frame_indices(0)]
    assert any(v != video or not np.array_equal(p, picks) for v, p in others)
    assert {v for v, _ in others} == {0, 1}
    batch = collate_episodes([ds[i] for i in range(3)])
    assert batch.frames.shape == (3, K + 1, 3, SIZE, SIZE) and batch.video_index.shape == (3,)
    half = EpisodeDataset(dataset_dir, k=K, image_size=32)[0]
    assert half.frames.shape == (K + 1, 3, 32, 32) and half.mattes is not None and half.mattes.shape[-1] == 32


def test_meta_learning_lowers_the_reconstruction_error(short_run):
    # Fixed batch (same episodes before and after), eval mode: 1 - MS-SSIM + L1.
    assert short_run.step == 40 and short_run.start_step == 0
    assert short_run.reconstruction_end < 0.9 * short_run.reconstruction_start, (
        short_run.reconstruction_start, short_run.reconstruction_end)
    first, last = short_run.windows[0], short_run.windows[-1]
    assert last["g_content"] < first["g_content"]
    assert last["g_embedding_match"] < first["g_embedding_match"]
    lines = [json.loads(x) for x in short_run.metrics.read_text().splitlines()]
    assert [x["step"] for x in lines if "g_total" in x] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert [x["step"] for x in lines if "reconstruction" in x] == [0, 20, 40]
    assert all(np.isfinite(v) for x in lines for v in x.values())
    grid = cv2.imread(str(short_run.previews[-1]))
    assert grid is not None and grid.shape == (4 * SIZE, 5 * SIZE, 3)
    model, extra = load_checkpoint(short_run.checkpoint)
    assert extra["step"] == 40 and model.cfg.name == "tiny" and model.num_videos == 2
    assert set(extra["optimizers"]) == {"generator", "discriminator"}
    assert json.loads(extra["train_config_json"])["k"] == K


def test_resumed_run_matches_an_uninterrupted_one(dataset_dir: Path, tmp_path: Path):
    straight = run_training(dataset_dir, tmp_path / "straight.pt", _cfg(steps=4), progress=False)
    run_training(dataset_dir, tmp_path / "half.pt", _cfg(steps=2), progress=False)
    resumed = run_training(dataset_dir, tmp_path / "half.pt", _cfg(model=None, steps=4),
                           resume=tmp_path / "half.pt", progress=False)
    assert resumed.start_step == 2 and resumed.step == 4
    a, extra_a = load_checkpoint(straight.checkpoint)
    b, extra_b = load_checkpoint(resumed.checkpoint)
    assert extra_a["step"] == extra_b["step"] == 4
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.allclose(sa[key], sb[key], atol=1e-6, rtol=1e-5), key
    assert resumed.reconstruction_end == pytest.approx(straight.reconstruction_end, rel=1e-5)
    # Metrics of the resumed run are appended to the same log.
    steps = [json.loads(x)["step"] for x in resumed.metrics.read_text().splitlines()]
    assert steps[0] == 0 and steps[-1] == 4
    with pytest.raises(TrainError, match="does not match"):
        run_training(dataset_dir, tmp_path / "x.pt", _cfg(model="paper", steps=6), resume=tmp_path / "half.pt",
                     progress=False)


def test_train_cli_runs_and_reports_user_mistakes(dataset_dir: Path, tmp_path: Path, capsys):
    rc = main(["train", str(dataset_dir), "--config", "tiny", "--out", str(tmp_path / "cli.pt"), "--steps", "2",
               "--k", "2", "--batch", "1", "--log-every", "1", "--preview-every", "2", "--no-progress",
               "--loss", "embedding_match=10"])
    out = capsys.readouterr().out
    assert rc == 0 and "steps 0 -> 2" in out and "reconstruction error" in out
    assert (tmp_path / "cli.pt").is_file() and (tmp_path / "cli.previews" / "step_000002.png").is_file()
    assert json.loads(load_checkpoint(tmp_path / "cli.pt")[1]["loss_config_json"])["embedding_match"] == 10.0
    assert main(["train", str(dataset_dir), "--out", str(tmp_path / "y.pt")]) == 2  # no --config
    assert main(["train", str(dataset_dir), "--config", "tiny", "--out", str(tmp_path / "y.pt"),
                 "--loss", "nonsense=1"]) == 2
    assert main(["train", str(dataset_dir), "--config", "tiny", "--out", str(tmp_path / "y.pt"),
                 "--vgg19", str(tmp_path / "vgg19-dcbb9e9d.pth")]) == 2
    assert not (tmp_path / "y.pt").exists()


def _reconstruction_error(rendered: torch.Tensor, frames: torch.Tensor) -> float:
    """L1 + (1 - MS-SSIM) on [0, 1] images: independent of the loss weights."""
    a, b = (rendered + 1) / 2, (frames + 1) / 2
    return float(l1_loss(a, b) + (1 - ms_ssim(a, b)).mean())


def _shots(model, dataset_dir: Path):
    ds = EpisodeDataset(dataset_dir, k=K)
    batch = preview_batch(ds, 1)  # frames evenly spaced over video 0
    frames, points, mattes = batch.frames[0, :K], batch.landmarks[0, :K], batch.mattes
    assert mattes is not None
    return frames, model.landmark_images(points, LANDMARK_FORMAT), mattes[0, :K]


@pytest.mark.parametrize("full,lr", [(False, 3e-2), (True, 1e-3)])
def test_finetune_lowers_the_reconstruction_error_on_the_shots(short_run, dataset_dir: Path, full: bool, lr: float):
    model, _ = load_checkpoint(short_run.checkpoint)
    frames, lmk, mattes = _shots(model, dataset_dir)
    before_state = {k: v.clone() for k, v in model.state_dict().items()}
    result = finetune(model, frames, lmk, steps=15, lr=lr, full=full, progress=False, mattes=mattes)
    e, a = model.cfg.embed_dim, model.generator.adain_size
    assert result.embedding.shape == (e,) and result.adain.shape == (a,) and result.w.shape == (e,)
    assert len(result.losses) == 15
    with torch.no_grad():
        emb = model.embedder.embed_shots(frames, lmk)
        assert torch.allclose(result.embedding, emb, atol=1e-5)
        start = model.generator(lmk, model.generator.project(emb[None]).expand(K, -1))[:, :3]
        if full:
            assert result.generator_state is not None
            tuned = type(model.generator)(model.cfg)
            tuned.load_state_dict(result.generator_state)
        else:
            assert result.generator_state is None
            tuned = model.generator
        after = tuned(lmk, result.adain[None].expand(K, -1))[:, :3]
    err_before, err_after = _reconstruction_error(start, frames), _reconstruction_error(after, frames)
    assert err_after < 0.97 * err_before, (err_before, err_after)
    assert result.losses[-1] < result.losses[0]
    # The model itself is untouched: weights, grads, requires_grad flags.
    assert all(torch.equal(before_state[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None and p.requires_grad for p in model.parameters())


def test_finetune_rejects_bad_inputs(short_run):
    model, _ = load_checkpoint(short_run.checkpoint)
    frames = torch.zeros(2, 3, SIZE, SIZE)
    with pytest.raises(ValueError, match="frames must be"):
        finetune(model, torch.zeros(2, 3, 32, 32), torch.zeros(2, 3, 32, 32), steps=1, progress=False)
    with pytest.raises(ValueError, match="landmark_images"):
        finetune(model, frames, torch.zeros(3, 3, SIZE, SIZE), steps=1, progress=False)
    with pytest.raises(ValueError, match="mattes"):
        finetune(model, frames, frames, steps=1, progress=False, mattes=torch.zeros(2, 1, 8, 8))
