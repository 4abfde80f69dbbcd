"""`facecast eval` (self-reenactment) end to end on a shared video, the still-frame
baseline beside each renderer, the warp renderer alone without a checkpoint, and the
paper's fine-tuning raising held-out SSIM — tiny config, CPU."""

from __future__ import annotations

import json
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from facecast.apps.cli import main
from facecast.apps.evaluation.metrics import frame_metrics
from facecast.apps.evaluation.reenactment import EvalOptions, run_eval, still_frame

K, HELD_OUT = 4, 6
STEPS = 30  # fine-tuning steps: ~0.1 s each on an idle 2-core CPU


@pytest.fixture(scope="module")
def ckpt(tiny_checkpoint: Path) -> Path:
    return tiny_checkpoint


@pytest.fixture(scope="module")
def before(ckpt: Path, shared_videos: Path, model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`facecast eval` without fine-tuning, through the CLI; its JSON."""
    out = tmp_path_factory.mktemp("eval0")
    rc = main(["eval", str(shared_videos / "d0.mp4"), "--checkpoint", str(ckpt), "--k", str(K),
               "--frames", str(HELD_OUT), "--out", str(out), "--device", "cpu"])
    assert rc == 0
    return json.loads((out / "eval.json").read_text()) | {"out": str(out)}


def test_eval_writes_figures_and_a_side_by_side_video(before: dict) -> None:
    out = Path(before["out"])
    assert before["model_config"] == "tiny" and before["size"] == 64
    assert before["shot_frames"] == sorted(before["shot_frames"]) and len(before["shot_frames"]) == K
    assert len(before["held_out_frames"]) == HELD_OUT
    assert min(before["held_out_frames"]) > max(before["shot_frames"]), "held-out frames come after the shots"
    for name in ("warp", "neural"):
        figures = before["renderers"][name]
        assert 0.0 <= figures["l1"] <= 1.0 and -1.0 <= figures["ssim"] <= 1.0 and figures["psnr"] > 0
    # The warp renderer re-animating the person's own frame beats an untrained generator.
    assert before["renderers"]["warp"]["ssim"] > before["renderers"]["neural"]["ssim"] + 0.2
    # The still baseline is scored beside them, and an untrained generator does not beat it.
    still = before["renderers"]["still"]
    assert 0.0 < still["ssim"] < 1.0 and 0 < still["psnr"] < 100, "held-out frames differ from the reference"
    assert still["ssim"] > before["renderers"]["neural"]["ssim"] + 0.2
    # The enrollment was stored the way the character store keeps neural assets.
    assert (out / "character" / "neural" / f"{before['checkpoint_sha256']}.pt").is_file()
    frames = iio.imread(out / "eval.mp4")  # (T, H, W, 3)
    assert frames.shape[0] == HELD_OUT
    assert frames.shape[2] == 3 * frames.shape[1], "real | warp | neural, square panels"


def test_eval_prints_a_table(ckpt: Path, shared_videos: Path, model_dir: Path, tmp_path: Path,
                             capsys: pytest.CaptureFixture) -> None:
    rc = main(["eval", str(shared_videos / "d0.mp4"), "--checkpoint", str(ckpt), "--k", "2", "--frames", "2",
               "--out", str(tmp_path), "--device", "cpu", "--no-video"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "renderer" in out and "ssim" in out and "\nwarp " in out and "\nneural " in out and "\nstill " in out
    assert not (tmp_path / "eval.mp4").exists()


def test_eval_rejects_a_missing_checkpoint(shared_videos: Path, tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    assert main(["eval", str(shared_videos / "d0.mp4"), "--checkpoint", str(tmp_path / "none.pt"),
                 "--out", str(tmp_path)]) == 2
    assert str(tmp_path / "none.pt") in caplog.text and "facecast train" in caplog.text


@pytest.mark.slow
def test_finetuning_raises_held_out_ssim(before: dict, ckpt: Path, shared_videos: Path, tmp_path: Path) -> None:
    """K frames of one person to fine-tune on, later frames of the same video held out:
    the fine-tuned generator's held-out SSIM beats the same model's before fine-tuning.

    The model is randomly initialised, so only fine-tuning the generator's weights
    (``--full``) can move it much: it learns the person and the scene from K frames. (With
    the AdaIN vector alone at the paper's 5e-5, an untrained generator barely changes.)"""
    after = run_eval(shared_videos / "d0.mp4", ckpt, tmp_path,
                     EvalOptions(k=K, frames=HELD_OUT, finetune_steps=STEPS, full=True, device="cpu", video=False),
                     progress=False)
    assert after.held_out_frames == before["held_out_frames"]
    losses = after.finetune_losses
    assert len(losses) == STEPS and losses[-1] < losses[0]
    ssim_before = before["renderers"]["neural"]["ssim"]
    ssim_after = after.renderers["neural"]["ssim"]
    assert ssim_after > ssim_before + 0.05, f"held-out SSIM {ssim_before:.3f} -> {ssim_after:.3f}"


def test_identity_similarity_with_dlib(default_store) -> None:
    """Only where the optional extra is installed (pip install 'facecast[identity]')."""
    pytest.importorskip("dlib", reason="dlib not installed (optional extra facecast[identity])")
    from facecast.apps.evaluation.identity import IdentityScorer

    scorer = IdentityScorer.create()
    if scorer is None:
        pytest.skip("face_recognition_models not installed (optional extra facecast[identity])")
    char = default_store.load("default")
    img, lm = np.asarray(char.image), char.neutral
    same = scorer.compare(img, img.copy(), lm)
    assert same["identity"] == pytest.approx(1.0, abs=1e-5) and same["identity_distance"] < 1e-4
    grey = scorer.compare(img, np.full_like(img, 128), lm)
    assert grey["identity"] < same["identity"] - 0.05 and grey["identity_distance"] > 0.3


def test_warp_alone_needs_no_checkpoint(shared_videos: Path, model_dir: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    """`--renderer warp`: no checkpoint, no fitting; the warp renderer beside the still."""
    rc = main(["eval", str(shared_videos / "d0.mp4"), "--renderer", "warp", "--k", str(K), "--frames",
               str(HELD_OUT), "--size", "96", "--out", str(tmp_path)])
    assert rc == 0
    table = capsys.readouterr().out
    assert "no checkpoint" in table and "\nstill " in table and "\nwarp " in table and "neural" not in table
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["checkpoint"] == "" and result["size"] == 96 and result["finetune_losses"] == []
    assert set(result["renderers"]) == {"still", "warp"}
    warp, still = result["renderers"]["warp"], result["renderers"]["still"]
    assert 0.0 < warp["ssim"] < 1.0 and 0.0 < still["ssim"] < 1.0 and warp != still
    assert not (tmp_path / "character" / "neural").exists(), "nothing neural is fitted"
    frames = iio.imread(tmp_path / "eval.mp4")  # (T, H, W, 3): real | warp, upscaled to >= 256
    assert frames.shape[0] == HELD_OUT and frames.shape[2] == 2 * frames.shape[1]


def test_neural_without_a_checkpoint_is_refused(shared_videos: Path, tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    assert main(["eval", str(shared_videos / "d0.mp4"), "--out", str(tmp_path)]) == 2
    assert "--checkpoint" in caplog.text and "--renderer warp" in caplog.text
    caplog.clear()
    assert main(["eval", str(shared_videos / "d0.mp4"), "--renderer", "warp", "--checkpoint", "x.pt",
                 "--out", str(tmp_path)]) == 2
    assert "uses no checkpoint" in caplog.text
    with pytest.raises(ValueError, match="--size is for --renderer warp only"):
        EvalOptions(renderer="all", size=128)
    with pytest.raises(ValueError, match="--renderer"):
        EvalOptions(renderer="stamp")


def test_still_frame_is_the_reference_at_the_eval_size() -> None:
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (64, 64, 3), np.uint8)
    assert np.array_equal(still_frame(ref, 64), ref)
    small = still_frame(ref, 32)
    assert small.shape == (32, 32, 3) and small.dtype == np.uint8
    # Scored against the reference itself, the still is perfect; against noise it is not.
    assert frame_metrics(ref, still_frame(ref, 64))["ssim"] == pytest.approx(1.0)
    assert frame_metrics(rng.integers(0, 256, (64, 64, 3), np.uint8), ref)["ssim"] < 0.1
