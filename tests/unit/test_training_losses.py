"""Loss terms of the talking-head training: values on identical and distorted images,
signs of the hinge loss, MS-SSIM against the reference SSIM, VGG weight files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from facecast.training.content_loss import ContentLoss
from facecast.training.losses import (
    LossConfig, alpha_loss, d_hinge_loss, embedding_match_loss, feature_matching_loss, g_adversarial_loss,
)
from facecast.training.ms_ssim import ms_ssim, ms_ssim_scales, ssim
from facecast.training.perceptual_weights import (
    VGG19_FILE, PerceptualWeightsError, PerceptualWeightsMissing, load_vgg19, load_vggface,
)
from facecast.training.vgg_features import VGG16_LAYERS, VGG19_LAYERS, conv_indices

NOISE = (0.02, 0.1, 0.3)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: threads only fight the other test processes
    yield
    torch.set_num_threads(before)


def _face_like(size: int = 64, batch: int = 2) -> torch.Tensor:
    """Smooth, structured images in [-1, 1] (gradients + blobs), not white noise."""
    g = torch.Generator().manual_seed(1)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    imgs = []
    for _ in range(batch):
        c = torch.rand(3, 3, generator=g)
        blob = torch.exp(-((xx - c[0, 0] + 0.5) ** 2 + (yy - c[0, 1] + 0.5) ** 2) * 6)
        chans = [torch.sin(3 * xx * c[i, 0] + 2 * yy * c[i, 1]) * 0.5 + blob * c[i, 2] for i in range(3)]
        imgs.append(torch.stack(chans).clamp(-1, 1))
    return torch.stack(imgs)


def _distorted(x: torch.Tensor, sigma: float) -> torch.Tensor:
    g = torch.Generator().manual_seed(2)
    return (x + sigma * 2 * torch.randn(x.shape, generator=g)).clamp(-1, 1)


def test_ssim_matches_the_reference_implementation():
    rng = np.random.default_rng(0)
    x = rng.random((48, 48, 3))
    y = np.clip(x + 0.15 * rng.standard_normal(x.shape), 0, 1)
    ref = structural_similarity(x, y, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, data_range=1.0)
    ours = ssim(torch.from_numpy(x).permute(2, 0, 1)[None], torch.from_numpy(y).permute(2, 0, 1)[None])
    assert float(ours) == pytest.approx(ref, abs=1e-4)


@pytest.mark.parametrize("normalize", [False, True])
def test_ms_ssim_is_one_on_identical_images_and_falls_with_distortion(normalize: bool):
    x = (_face_like() + 1) / 2
    assert torch.allclose(ms_ssim(x, x, normalize=normalize), torch.ones(2), atol=1e-5)
    values = [float(ms_ssim(x, (_distorted(x * 2 - 1, s) + 1) / 2, normalize=normalize).mean()) for s in NOISE]
    assert values[0] < 1.0 and values == sorted(values, reverse=True), values


def test_ms_ssim_scales_follow_the_image_size():
    assert ms_ssim_scales(256) == 5 and ms_ssim_scales(160) == 4 and ms_ssim_scales(64) == 3
    x = torch.rand(1, 3, 256, 256)
    assert float(ms_ssim(x, x)) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="at least 11"):
        ms_ssim(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="one shape"):
        ms_ssim(torch.rand(1, 3, 32, 32), torch.rand(1, 3, 16, 16))


def test_fallback_content_loss_is_zero_on_identical_images_grows_with_distortion_and_has_gradients():
    content = ContentLoss(LossConfig())
    real = _face_like()
    zero, parts = content(real, real)
    assert float(zero) == pytest.approx(0.0, abs=1e-5) and set(parts) == {"ms_ssim", "l1"}
    values = [float(content(_distorted(real, s), real)[0]) for s in NOISE]
    assert values[0] > 0 and values == sorted(values), values
    fake = _distorted(real, 0.1).requires_grad_(True)
    content(fake, real)[0].backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    # Early in training (anti-correlated images) the normalised MS-SSIM still has a gradient.
    far = (-real).requires_grad_(True)
    content(far, real)[0].backward()
    assert far.grad is not None and far.grad.abs().sum() > 0


def test_hinge_losses_have_the_right_signs():
    confident_real, confident_fake = torch.full((4,), 2.0), torch.full((4,), -2.0)
    assert float(d_hinge_loss(confident_real, confident_fake)) == 0.0  # beyond the margins: no loss
    assert float(d_hinge_loss(-confident_real, -confident_fake)) == pytest.approx(6.0)  # (1+2) + (1+2)
    assert float(d_hinge_loss(torch.zeros(4), torch.zeros(4))) == pytest.approx(2.0)
    # The generator gains (loss falls) when D scores its fakes higher.
    assert float(g_adversarial_loss(torch.full((4,), 1.0))) < float(g_adversarial_loss(torch.full((4,), -1.0)))
    scores = torch.zeros(4, requires_grad=True)
    g_adversarial_loss(scores).backward()
    assert torch.all(scores.grad < 0)  # gradient descent raises the fake scores


def test_feature_matching_embedding_match_and_alpha():
    feats = [torch.randn(2, 8, 16, 16), torch.randn(2, 16, 8, 8)]
    assert float(feature_matching_loss(feats, feats)) == 0.0
    small = feature_matching_loss([f + 0.1 for f in feats], feats)
    large = feature_matching_loss([f + 0.5 for f in feats], feats)
    assert float(small) == pytest.approx(0.2, rel=1e-4) and float(large) > float(small)
    e = torch.randn(3, 32)
    assert float(embedding_match_loss(e, e)) == 0.0
    assert float(embedding_match_loss(e + 1.0, e)) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        embedding_match_loss(e, e[:2])
    matte = (torch.rand(2, 1, 16, 16) > 0.5).float()
    assert float(alpha_loss(matte, matte)) == 0.0
    assert float(alpha_loss(1 - matte, matte)) == pytest.approx(1.0)
    assert float(alpha_loss(torch.ones(2, 1, 4, 4), None)) == 0.0  # no matte: alpha towards opaque
    assert float(alpha_loss(torch.zeros(2, 1, 4, 4), None)) == 1.0


def test_loss_config_is_frozen_and_checked():
    cfg = LossConfig()
    assert (cfg.feature_matching, cfg.embedding_match, cfg.vgg19, cfg.vggface) == (10.0, 80.0, 1e-2, 2e-3)
    assert not cfg.perceptual and LossConfig(vgg19_weights="x.pth").perceptual
    with pytest.raises(AttributeError):
        cfg.alpha = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="feature_matching"):
        LossConfig(feature_matching=-1.0)


def test_missing_vgg19_file_is_a_clear_error(tmp_path: Path):
    missing = tmp_path / VGG19_FILE
    with pytest.raises(PerceptualWeightsMissing) as err:
        ContentLoss(LossConfig(vgg19_weights=str(missing)))
    assert str(missing) in str(err.value) and "never downloads" in str(err.value)
    with pytest.raises(PerceptualWeightsMissing, match="vggface.pth"):
        load_vggface(tmp_path / "vggface.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(PerceptualWeightsError, match="bad.pth"):
        load_vgg19(bad)


def _torchvision_layout_state(layers, seed: int) -> dict[str, torch.Tensor]:
    """A state dict with torchvision's key names for the whole VGG (features + classifier)."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    channels = 3
    convs = conv_indices(layers)
    for idx, width in zip(convs, [c for c in layers if c != "M"]):
        he = (2.0 / (9 * channels)) ** 0.5
        state[f"features.{idx}.weight"] = torch.randn(width, channels, 3, 3, generator=g) * he
        state[f"features.{idx}.bias"] = torch.zeros(width)
        channels = width
    state["classifier.0.weight"] = torch.zeros(8, 8)  # ignored by the loader
    return state


def test_vgg19_file_in_torchvision_layout_loads_and_drives_the_content_loss(tmp_path: Path):
    state = _torchvision_layout_state(VGG19_LAYERS, seed=3)
    path = tmp_path / VGG19_FILE
    torch.save(state, path)
    net = load_vgg19(path)
    assert torch.equal(net.features[28].weight, state["features.28.weight"])  # conv5_1, the deepest tap
    assert not any(p.requires_grad for p in net.parameters())
    feats = net(torch.zeros(1, 3, 64, 64))
    assert [f.shape[1] for f in feats] == [64, 128, 256, 512, 512]
    content = ContentLoss(LossConfig(vgg19_weights=str(path)))
    real = _face_like()
    total, parts = content(real, real)
    assert set(parts) == {"vgg19"} and float(total) == 0.0
    values = [float(content(_distorted(real, s), real)[0]) for s in NOISE]
    assert values[0] > 0 and values == sorted(values), values
    truncated = {k: v for k, v in state.items() if not k.startswith("features.28")}
    torch.save(truncated, path)
    with pytest.raises(PerceptualWeightsError, match="features.28"):
        load_vgg19(path)


def test_vggface_dag_layout_maps_onto_the_vgg16_trunk(tmp_path: Path):
    tv = _torchvision_layout_state(VGG16_LAYERS, seed=4)
    names = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
             "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"]
    dag = {}
    for name, idx in zip(names, conv_indices(VGG16_LAYERS)):
        dag[f"{name}.weight"] = tv[f"features.{idx}.weight"]
        dag[f"{name}.bias"] = tv[f"features.{idx}.bias"]
    dag["fc8.weight"] = torch.zeros(4, 4)
    torch.save(dag, tmp_path / "vgg_face_dag.pth")
    torch.save(tv, tmp_path / "vggface_tv.pth")
    from_dag, from_tv = load_vggface(tmp_path / "vgg_face_dag.pth"), load_vggface(tmp_path / "vggface_tv.pth")
    assert torch.equal(from_dag.features[24].weight, tv["features.24.weight"])  # conv5_1
    # Same weights, different input conventions (0..255 minus mean vs ImageNet normalisation).
    assert not torch.allclose(from_dag.mean, from_tv.mean)
    assert [f.shape[1] for f in from_dag(torch.zeros(1, 3, 32, 32))] == [64, 128, 256, 512, 512]
