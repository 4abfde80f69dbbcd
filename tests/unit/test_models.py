"""The talking-head networks (tiny config, CPU): shapes, gradients, mixed-character
batches, checkpoints, configs and model-info."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from facecast.apps.cli import main
from facecast.model.networks import (CONFIGS, CheckpointError, TalkingHead, config_from_dict, config_to_dict,
                                       get_config, load_checkpoint, save_checkpoint)
from facecast.model.networks.info import model_info
from facecast.model.networks.rasterizer import LandmarkRasterizer
from facecast.model.networks.self_attention import SelfAttention

TINY = get_config("tiny")
S = TINY.image_size


def _model(num_videos: int = 4, seed: int = 0) -> TalkingHead:
    torch.manual_seed(seed)
    return TalkingHead(TINY, num_videos)


def _batch(b: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Random frames in [-1, 1] and landmark images drawn from jittered random faces."""
    g = torch.Generator().manual_seed(seed)
    frames = torch.rand(b, 3, S, S, generator=g) * 2 - 1
    points = 0.3 + 0.4 * torch.rand(b, 478, 3, generator=g)
    landmarks = LandmarkRasterizer()(points, "mediapipe478", S)
    return frames, landmarks


def _give_attention_weight(model: TalkingHead, value: float = 0.1) -> None:
    # SAGAN starts gamma at 0, so attention's query/key/value convolutions get no gradient
    # until gamma has moved; set it as after some training to exercise every parameter.
    for m in model.modules():
        if isinstance(m, SelfAttention):
            m.gamma.data.fill_(value)


def test_shapes_and_dtypes_through_every_module():
    model = _model().eval()  # eval: spectral norm's power iteration would move between calls
    frames, landmarks = _batch(3)
    assert landmarks.shape == (3, 3, S, S) and landmarks.dtype == torch.float32
    emb = model.embedder(frames, landmarks)
    assert emb.shape == (3, TINY.embed_dim) and emb.dtype == torch.float32
    shot = model.embedder.embed_shots(frames, landmarks)
    assert shot.shape == (TINY.embed_dim,)
    torch.testing.assert_close(shot, emb.mean(0))
    adain = model.generator.project(emb)
    assert adain.shape == (3, model.generator.adain_size)
    torch.testing.assert_close(adain, emb @ model.generator.projection.T)
    out = model.generator(landmarks, adain)
    assert out.shape == (3, 4, S, S) and out.dtype == torch.float32
    assert out[:, :3].min() >= -1 and out[:, :3].max() <= 1
    assert out[:, 3].min() >= 0 and out[:, 3].max() <= 1
    score, feats = model.discriminator(frames, landmarks, video_index=torch.tensor([0, 3, 1]))
    assert score.shape == (3,) and score.dtype == torch.float32
    n_stages = len(TINY.discriminator_channels) + 1 + 1  # down blocks, attention, final block
    assert len(feats) == n_stages and all(f.shape[0] == 3 for f in feats)
    assert feats[-1].shape == (3, TINY.embed_dim, S >> len(TINY.discriminator_channels),
                               S >> len(TINY.discriminator_channels))
    score_w, _ = model.discriminator(frames, landmarks, w=model.discriminator.W[[0, 3, 1]])
    torch.testing.assert_close(score_w, score)


def test_bad_inputs_raise_clear_errors():
    model = _model()
    frames, landmarks = _batch(2)
    with pytest.raises(ValueError, match="exactly one"):
        model.discriminator(frames, landmarks)
    with pytest.raises(ValueError, match="exactly one"):
        model.discriminator(frames, landmarks, video_index=torch.tensor([0, 1]), w=torch.zeros(2, TINY.embed_dim))
    with pytest.raises(ValueError, match="adain"):
        model.generator(landmarks, torch.zeros(2, model.generator.adain_size + 1))


def test_adain_layout_covers_the_vector_in_order():
    gen = _model().generator
    layout = gen.adain_layout()
    offset = 0
    for _, start, channels in layout:
        assert start == offset
        offset += 2 * channels
    assert offset == gen.adain_size
    names = [name for name, _, _ in layout]
    assert names[:2] == ["res0.norm1", "res0.norm2"] and names[-1] == "out.norm"
    # Changing only the last layer's biases changes the output: the slice is really read.
    landmarks = _batch(1)[1]
    adain = torch.zeros(1, gen.adain_size)
    base = gen(landmarks, adain)
    adain[:, -layout[-1][2]:] = 0.5
    assert not torch.allclose(gen(landmarks, adain), base)


def test_gradients_reach_every_parameter():
    model = _model(num_videos=4).train()
    _give_attention_weight(model)
    b, k = 2, 2
    frames, landmarks = _batch(b * (k + 1))
    frames = frames.view(b, k + 1, 3, S, S)
    landmarks = landmarks.view(b, k + 1, 3, S, S)
    shots, shot_lm = frames[:, :k].reshape(b * k, 3, S, S), landmarks[:, :k].reshape(b * k, 3, S, S)
    target, target_lm = frames[:, k], landmarks[:, k]
    video = torch.tensor([0, 2])

    emb = model.embedder(shots, shot_lm).view(b, k, -1).mean(1)  # (B, E)
    out = model.generator(target_lm, model.generator.project(emb))
    fake, alpha = out[:, :3], out[:, 3:]
    score_fake, feats_fake = model.discriminator(fake, target_lm, video_index=video)
    score_real, feats_real = model.discriminator(target, target_lm, video_index=video)
    loss = (F.l1_loss(fake, target) + F.l1_loss(alpha, (target[:, :1] > 0).float())
            - score_fake.mean()
            + sum(F.l1_loss(a, r) for a, r in zip(feats_fake, feats_real))
            + F.relu(1 - score_real).mean() + F.relu(1 + score_fake).mean()
            + F.l1_loss(emb, model.discriminator.W[video]))
    loss.backward()

    for name, p in model.named_parameters():
        assert p.requires_grad
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
        if name == "discriminator.W":
            # Only the rows of the videos in the batch are used, so only they get gradients.
            used = torch.zeros(4, dtype=torch.bool)
            used[video] = True
            assert (p.grad[used].abs().sum(1) > 0).all()
            assert (p.grad[~used] == 0).all()
        else:
            assert p.grad.abs().sum() > 0, f"{name} has an all-zero gradient"


def test_mixed_character_batch_equals_one_by_one():
    model = _model().eval()
    _give_attention_weight(model)
    frames, landmarks = _batch(4)
    with torch.no_grad():
        characters = torch.stack([model.embedder.embed_shots(frames[:2], landmarks[:2]),
                                  model.embedder.embed_shots(frames[2:], landmarks[2:])])
        adain = model.generator.project(characters)[[0, 1, 1, 0]]  # (4, adain_size), mixed
        batched = model.generator(landmarks, adain)
        alone = torch.cat([model.generator(landmarks[i:i + 1], adain[i:i + 1]) for i in range(4)])
        swapped = model.generator(landmarks, adain[[1, 0, 0, 1]])
    # Instance norm and AdaIN are per sample: batching changes nothing beyond float rounding
    # (measured ~6e-6: convolution kernels differ by batch size), far below the character
    # effect checked next (~9e-3 with untrained weights).
    torch.testing.assert_close(batched, alone, atol=1e-4, rtol=0)
    # ... while the character really matters.
    assert (batched - swapped).abs().amax() > 1e-3


def _train_step(model: TalkingHead) -> torch.optim.Optimizer:
    model.train()
    _give_attention_weight(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    frames, landmarks = _batch(2)
    emb = model.embedder(frames, landmarks)
    out = model.generator(landmarks, model.generator.project(emb))
    score, _ = model.discriminator(out[:, :3], landmarks, video_index=torch.tensor([0, 1]))
    (F.l1_loss(out[:, :3], frames) - score.mean()).backward()
    opt.step()
    return opt


def test_checkpoint_round_trip_is_exact(tmp_path):
    model = _model(num_videos=3)
    opt = _train_step(model)  # moved weights, spectral-norm vectors, optimizer moments
    model.eval()
    path = tmp_path / "ckpt" / "model.pt"
    save_checkpoint(path, model, extra={"step": 7, "optimizer": opt.state_dict(), "note": "x"})

    loaded, extra = load_checkpoint(path)
    assert loaded.cfg == model.cfg and loaded.num_videos == 3 and not loaded.training
    before, after = model.state_dict(), loaded.state_dict()
    assert before.keys() == after.keys()
    for key in before:
        assert torch.equal(before[key], after[key]), key
    assert extra["step"] == 7 and extra["note"] == "x"
    opt2 = torch.optim.Adam(loaded.parameters(), lr=1e-3)
    opt2.load_state_dict(extra["optimizer"])
    for s1, s2 in zip(opt.state_dict()["state"].values(), opt2.state_dict()["state"].values()):
        assert torch.equal(s1["exp_avg"], s2["exp_avg"])

    frames, landmarks = _batch(2, seed=5)
    with torch.no_grad():
        for m in (model, loaded):
            m.eval()
        emb = model.embedder(frames, landmarks)
        assert torch.equal(emb, loaded.embedder(frames, landmarks))
        adain = model.generator.project(emb)
        assert torch.equal(model.generator(landmarks, adain), loaded.generator(landmarks, adain))
        idx = torch.tensor([2, 0])
        assert torch.equal(model.discriminator(frames, landmarks, idx)[0], loaded.discriminator(frames, landmarks, idx)[0])


def test_missing_or_corrupt_checkpoint_names_the_file(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match="nope.pt.*facecast train"):
        load_checkpoint(missing)

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all" * 10)
    with pytest.raises(CheckpointError, match="garbage.pt"):
        load_checkpoint(garbage)

    good = tmp_path / "good.pt"
    save_checkpoint(good, _model())
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated.pt"):
        load_checkpoint(truncated)

    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="foreign.pt is not a facecast"):
        load_checkpoint(foreign)

    payload = torch.load(good, weights_only=True)
    payload["config_json"] = payload["config_json"].replace('"generator_res_blocks": 1', '"generator_res_blocks": 2')
    mismatched = tmp_path / "mismatched.pt"
    torch.save(payload, mismatched)
    with pytest.raises(CheckpointError, match="mismatched.pt.*does not match"):
        load_checkpoint(mismatched)


def test_configs():
    assert set(CONFIGS) >= {"paper", "realtime", "tiny"}
    with pytest.raises(ValueError, match="paper, realtime, tiny"):
        get_config("huge")
    for cfg in CONFIGS.values():
        assert config_from_dict(config_to_dict(cfg)) == cfg
    assert get_config("paper").image_size == get_config("realtime").image_size == 256
    assert get_config("paper").embed_dim == get_config("realtime").embed_dim == 512
    with pytest.raises(ValueError, match="embed_dim"):
        dataclasses.replace(TINY, embed_dim=TINY.embed_dim * 2)
    with pytest.raises(ValueError, match="attention_size"):
        dataclasses.replace(TINY, attention_size=TINY.image_size)
    with pytest.raises(ValueError, match="unknown field"):
        config_from_dict({**config_to_dict(TINY), "depth": 3})


def test_model_info_counts_match_the_modules():
    info = model_info(TINY)
    model = _model(num_videos=0)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert info["params"]["embedder"] == count(model.embedder)
    assert info["params"]["generator"] == count(model.generator)
    assert info["params"]["discriminator"] == count(model.discriminator)
    assert info["params"]["rasterizer"] == 0
    assert info["adain_size"] == model.generator.adain_size

    # Independent FLOP count of the generator: convolutions by hooks, attention by formula.
    flops = 0

    def conv_hook(m: torch.nn.Conv2d, inputs, output) -> None:
        nonlocal flops
        flops += 2 * output.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1]

    def attention_hook(m: SelfAttention, inputs, output) -> None:
        nonlocal flops
        n = inputs[0].shape[2] * inputs[0].shape[3]
        flops += 2 * n * n * (m.key_channels + m.value_channels)

    for m in model.generator.modules():
        if isinstance(m, torch.nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, SelfAttention):
            m.register_forward_hook(attention_hook)
    with torch.no_grad():
        model.generator(torch.zeros(1, 3, S, S), torch.zeros(1, model.generator.adain_size))
    assert info["generator_flops_per_frame"] == flops
    # Rasterizer: at least one distance per (segment, pixel).
    assert info["rasterizer_element_ops_per_frame"]["ibug68"] > 60 * S * S


def test_model_info_cli(capsys):
    assert main(["model-info", "--config", "tiny"]) == 0
    out = capsys.readouterr().out
    assert "tiny" in out and "G GFLOP" in out and "paper" not in out
    assert main(["model-info", "--config", "huge"]) == 2


@pytest.mark.parametrize("name", ["paper", "realtime"])
def test_full_size_generators_shapes(name: str):
    # Shapes only (meta device): the 256² generators without spending CPU time on them.
    from facecast.model.networks import Generator

    cfg = get_config(name)
    with torch.device("meta"):
        gen = Generator(cfg)
        out = gen(torch.zeros(2, 3, 256, 256), gen.project(torch.zeros(2, cfg.embed_dim)))
    assert out.shape == (2, 4, 256, 256)
    assert sum(2 * c for _, _, c in gen.adain_layout()) == gen.adain_size


@pytest.mark.slow
def test_model_info_every_config():
    for name, cfg in CONFIGS.items():
        info = model_info(cfg)
        assert info["config"] == name and info["generator_flops_per_frame"] > 0
        assert info["embedder_flops_per_shot"] > 0 and info["discriminator_flops_per_frame"] > 0
    # the realtime generator is the narrow one
    assert model_info(CONFIGS["realtime"])["generator_flops_per_frame"] < model_info(CONFIGS["paper"])["generator_flops_per_frame"] / 10
