"""Runtime engines (torch, onnx) on CPU with tiny random-weight models: the contract, the
provider fallback and its reasons, export -> load -> parity, and the manifest check."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from facecast.apps.cli import main
from facecast.core.filehash import sha256_of
from facecast.model.networks import TalkingHead, get_config, load_checkpoint, save_checkpoint
from facecast.model.networks.config import config_to_dict
from facecast.model.engines.base import Engine, EngineUnavailable, available_engines, create_engine
from facecast.model.engines.manifest import ManifestMismatch, manifest_path
from facecast.model.engines.onnx_engine import OnnxEngine
from facecast.model.engines.torch_engine import TorchEngine

# fp32 ONNX Runtime (CPU) vs fp32 torch (CPU): the same arithmetic in another order. Outputs
# are tanh/sigmoid in [-1, 1]; measured differences are ~1e-5 (tiny) and ~1e-5..1e-4
# (realtime, paper), docs/engines.md. Rows are independent: a batch equals its rows run alone
# to the same tolerance.
PARITY_ATOL = 5e-4


def _inputs(cfg_name: str, batch: int, seed: int = 0, adain_size: int | None = None) -> tuple[torch.Tensor, ...]:
    cfg = get_config(cfg_name)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, cfg.image_size, cfg.image_size, generator=g)  # (B, 3, S, S) in [0, 1]
    a = torch.randn(batch, adain_size or 1, generator=g)  # (B, A): stronger than real AdaIN parameters
    return x, a


@pytest.fixture(scope="module")
def tiny(tiny_onnx: tuple[Path, Path]) -> tuple[Path, Path, TalkingHead]:
    ckpt, onnx_path = tiny_onnx
    model, _ = load_checkpoint(ckpt)
    return ckpt, onnx_path, model


def _engines(tiny: tuple[Path, Path, TalkingHead]) -> dict[str, Engine]:
    ckpt, onnx_path, model = tiny
    return {"torch": create_engine("torch", model.generator, device="cpu"),
            "onnx": create_engine("onnx", model.generator, sha256_of(ckpt), onnx_model=str(onnx_path), device="cpu")}


def test_registry_lists_both_engines_and_refuses_unknown_names_and_options(tiny) -> None:
    _ckpt, _onnx, model = tiny
    assert {"torch", "onnx"} <= set(available_engines())
    with pytest.raises(ValueError, match="unknown engine 'tensorflow'.*onnx.*torch"):
        create_engine("tensorflow", model.generator)
    with pytest.raises(ValueError, match="unknown engine option.*precison"):
        create_engine("torch", model.generator, precison="fp16")


@pytest.mark.parametrize("name", ["torch", "onnx"])
def test_engine_contract(tiny, name: str) -> None:
    engine = _engines(tiny)[name]
    a_size = tiny[2].generator.adain_size
    with engine as eng:
        assert eng.name == name and eng.device == torch.device("cpu") and eng.precision == "fp32"
        assert eng.image_size == 64 and eng.adain_size == a_size and eng.provider
        x, a = _inputs("tiny", 5, adain_size=a_size)
        out = eng.run(x, a)
        assert out.shape == (5, 4, 64, 64) and out.dtype == torch.float32 and out.device.type == "cpu"
        assert out[:, :3].abs().max() <= 1.0 and 0.0 <= out[:, 3:].min() and out[:, 3:].max() <= 1.0
        # numpy in, same result; rows independent: a batch equals its rows run alone
        assert torch.allclose(eng.run(x.numpy(), a.numpy()), out, atol=PARITY_ATOL)
        for i in (0, 3):
            assert torch.allclose(eng.run(x[i:i + 1], a[i:i + 1])[0], out[i], atol=PARITY_ATOL)
        # the returned tensor is the caller's: a later run does not change it
        kept = out.clone()
        eng.run(*_inputs("tiny", 5, seed=1, adain_size=a_size))
        assert torch.equal(out, kept)
        bad = [
            ((torch.rand(2, 3, 32, 32), a[:2]), r"landmark_images must be \(B, 3, 64, 64\), got \(2, 3, 32, 32\)"),
            ((torch.rand(3, 64, 64), a[:1]), r"landmark_images must be \(B, 3, 64, 64\)"),
            ((x, a[:, :-1]), rf"adain must be \(B, {a_size}\), got \(5, {a_size - 1}\)"),
            ((x, a[:4]), "same batch size"),
            ((x.double(), a), "landmark_images must be float32, got torch.float64"),
            ((x, a.numpy().astype(np.float16)), "adain must be float32"),
            ((x.tolist(), a), "must be a torch tensor or numpy array"),
        ]
        for args, message in bad:
            with pytest.raises(ValueError, match=message):
                eng.run(*args)
    assert engine.closed
    with pytest.raises(RuntimeError, match="closed"):
        engine.run(x, a)


def test_export_then_onnx_matches_torch_tiny(tiny) -> None:
    engines = _engines(tiny)
    a_size = tiny[2].generator.adain_size
    for batch in (1, 3, 8):  # the batch axis is dynamic
        x, a = _inputs("tiny", batch, seed=batch, adain_size=a_size)
        diff = (engines["torch"].run(x, a) - engines["onnx"].run(x, a)).abs().max().item()
        assert diff < PARITY_ATOL, f"batch {batch}: torch vs onnx differ by {diff:.2e}"
    manifest = json.loads(manifest_path(tiny[1]).read_text())
    assert manifest["checkpoint_sha256"] == sha256_of(tiny[0]) and manifest["config"]["name"] == "tiny"
    assert manifest["inputs"] == [{"name": "landmark_images", "shape": ["batch", 3, 64, 64], "dtype": "float32"},
                                  {"name": "adain", "shape": ["batch", a_size], "dtype": "float32"}]
    assert manifest["outputs"] == [{"name": "frames", "shape": ["batch", 4, 64, 64], "dtype": "float32"}]
    assert manifest["opset"] == 18 and manifest["batch_axis"] == "dynamic" and manifest["rasterizer"] == "torch"


@pytest.mark.parametrize("cfg_name", ["realtime", pytest.param("paper", marks=pytest.mark.slow)])
def test_export_then_onnx_matches_torch_larger_configs(tmp_path: Path, cfg_name: str) -> None:
    torch.manual_seed(3)
    model = TalkingHead(get_config(cfg_name), num_videos=1)
    save_checkpoint(tmp_path / "m.pt", model)
    assert main(["export", str(tmp_path / "m.pt"), str(tmp_path / "m.onnx")]) == 0
    size = model.generator.adain_size
    with create_engine("torch", model.generator, device="cpu") as ref, \
            create_engine("onnx", model.generator, sha256_of(tmp_path / "m.pt"), onnx_model=str(tmp_path / "m.onnx"),
                          device="cpu") as ort:
        x, a = _inputs(cfg_name, 2, adain_size=size)
        diff = (ref.run(x, a) - ort.run(x, a)).abs().max().item()
    assert diff < PARITY_ATOL, f"{cfg_name}: torch vs onnx differ by {diff:.2e}"


def _copy(onnx_path: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(onnx_path, dest / onnx_path.name)
    shutil.copy(manifest_path(onnx_path), manifest_path(dest / onnx_path.name))
    return dest / onnx_path.name


def test_manifest_mismatch_is_refused_with_one_clear_error(tiny, tmp_path: Path) -> None:
    ckpt, onnx_path, model = tiny
    sha = sha256_of(ckpt)
    cfg = config_to_dict(model.cfg)
    # another checkpoint than the one exported
    torch.manual_seed(9)
    other = tmp_path / "other.pt"
    save_checkpoint(other, TalkingHead(get_config("tiny"), num_videos=2))
    with pytest.raises(ManifestMismatch,
                       match=r"exported from checkpoint sha256 .*daemon's checkpoint is .*facecast export"):
        OnnxEngine(onnx_path, checkpoint_sha256=sha256_of(other), config=cfg, device="cpu")
    # a config that differs
    with pytest.raises(ManifestMismatch, match="model config differs in .*image_size"):
        OnnxEngine(onnx_path, checkpoint_sha256=sha, config=config_to_dict(get_config("realtime")), device="cpu")
    # an edited manifest: opset and an input shape changed, both named in one error
    edited = _copy(onnx_path, tmp_path / "edited")
    d = json.loads(manifest_path(edited).read_text())
    d["opset"] = 17
    d["inputs"][1]["shape"] = ["batch", 999]
    manifest_path(edited).write_text(json.dumps(d))
    with pytest.raises(ManifestMismatch, match=r"opset: manifest 17, model 18; inputs: manifest .*999.*Re-export"):
        OnnxEngine(edited, checkpoint_sha256=sha, config=cfg, device="cpu")
    # a model file replaced after export
    replaced = _copy(onnx_path, tmp_path / "replaced")
    replaced.write_bytes(replaced.read_bytes() + b"\0")
    with pytest.raises(ManifestMismatch, match="replaced or changed after export"):
        OnnxEngine(replaced, checkpoint_sha256=sha, config=cfg, device="cpu")
    # a missing manifest, and an unreadable one
    bare = _copy(onnx_path, tmp_path / "bare")
    manifest_path(bare).unlink()
    with pytest.raises(ManifestMismatch, match=r"has no manifest .*tiny\.onnx\.json.*facecast export"):
        OnnxEngine(bare, checkpoint_sha256=sha, device="cpu")
    manifest_path(bare).write_text("{not json")
    with pytest.raises(ManifestMismatch, match="unreadable or malformed"):
        OnnxEngine(bare, checkpoint_sha256=sha, device="cpu")
    with pytest.raises(FileNotFoundError, match="facecast export"):
        OnnxEngine(tmp_path / "nowhere.onnx")


def test_onnx_providers_fall_back_and_say_why(tiny, caplog: pytest.LogCaptureFixture) -> None:
    ckpt, onnx_path, model = tiny
    with caplog.at_level(logging.INFO):
        eng = OnnxEngine(onnx_path, sha256_of(ckpt), providers=("tensorrt", "cuda", "cpu"), device="cpu")
    assert eng.provider == "CPUExecutionProvider"
    assert eng.refused == ["TensorrtExecutionProvider, CUDAExecutionProvider: device cpu asked for"]
    assert "runs CPUExecutionProvider; refused: TensorrtExecutionProvider, CUDAExecutionProvider" in caplog.text
    eng.close()
    with pytest.raises(EngineUnavailable, match="CUDAExecutionProvider: device cpu asked for"):
        OnnxEngine(onnx_path, sha256_of(ckpt), providers=("cuda",), device="cpu")
    with pytest.raises(ValueError, match="unknown ONNX Runtime provider 'rocm'"):
        OnnxEngine(onnx_path, providers=("rocm", "cpu"))


def test_create_engine_collects_every_reason_before_falling_back(tiny) -> None:
    _ckpt, _onnx, model = tiny
    with pytest.raises(EngineUnavailable, match=r"^onnx engine: no exported model given.*facecast export"):
        create_engine("onnx", model.generator)
    eng = create_engine(["onnx", "torch"], model.generator, device="cpu")
    assert isinstance(eng, TorchEngine)
    with pytest.raises(EngineUnavailable, match=r"no engine could run: onnx: .*no exported model.*; torch: .*'tpu'"):
        create_engine(["onnx", "torch"], model.generator, device="tpu")


def test_torch_engine_on_cpu_runs_fp32_eager_and_says_why(tiny, caplog: pytest.LogCaptureFixture) -> None:
    model = tiny[2]
    with caplog.at_level(logging.WARNING):
        eng = TorchEngine(model.generator, device="cpu", precision="fp16", compile=True, cuda_graph_batches=("1", "8"))
    assert eng.precision == "fp32" and eng.provider == "torch eager fp32 on cpu"
    assert "running fp32 eager without precision fp16, torch.compile, CUDA graphs" in caplog.text
    x, a = _inputs("tiny", 2, adain_size=eng.adain_size)
    with torch.inference_mode():
        ref = model.generator(x, a)
    assert torch.equal(eng.run(x, a), ref), "fp32 eager on CPU is the generator itself"
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        TorchEngine(model.generator, device="cpu", precision="fp8")
    with pytest.raises(ValueError, match="batch sizes must be integers"):
        TorchEngine(model.generator, device="cpu", cuda_graph_batches=("eight",))


def _storages(module: torch.nn.Module) -> set[int]:
    return {t.untyped_storage().data_ptr() for t in [*module.parameters(), *module.buffers()]}


def test_torch_engine_shares_weights_only_when_asked_and_nothing_needs_converting(tiny) -> None:
    model = tiny[2]
    gen = model.generator
    x, a = _inputs("tiny", 3, adain_size=gen.adain_size)
    copied = TorchEngine(gen, device="cpu")
    shared = TorchEngine(gen, device="cpu", share=True)
    assert not copied.shares_weights and not (_storages(copied.module) & _storages(gen))
    assert shared.shares_weights and shared.module is gen and "sharing the caller's weights" in shared.provider
    assert torch.equal(shared.run(x, a), copied.run(x, a))
    assert all(p.requires_grad for p in gen.parameters()), "sharing leaves the caller's module as it was"
    # the copying engine froze only its own copy; a half-precision caller module needs converting: a copy
    half = TorchEngine(TorchEngine(gen, device="cpu").module.to(torch.float16), device="cpu", share=True)
    assert not half.shares_weights and next(half.module.parameters()).dtype == torch.float32
    assert torch.allclose(half.run(x, a), copied.run(x, a), atol=1e-2)
    shared.close()
    assert next(gen.parameters()).dtype == torch.float32 and torch.equal(copied.run(x, a), TorchEngine(gen).run(x, a))
    assert create_engine("torch", gen, device="cpu", share=True).shares_weights


def test_fixed_batch_export_from_the_cli(tiny, tmp_path: Path) -> None:
    ckpt, _onnx, model = tiny
    out = tmp_path / "fixed" / "g.onnx"
    assert main(["export", str(ckpt), str(out), "--batch-axis", "2", "--no-verify"]) == 0
    manifest = json.loads(manifest_path(out).read_text())
    assert manifest["batch_axis"] == 2 and manifest["inputs"][0]["shape"] == [2, 3, 64, 64]
    with OnnxEngine(out, sha256_of(ckpt), device="cpu") as eng:
        x, a = _inputs("tiny", 2, adain_size=eng.adain_size)
        with torch.inference_mode():
            assert torch.allclose(eng.run(x, a), model.generator(x, a), atol=PARITY_ATOL)
        with pytest.raises(ValueError, match="fixed batch of 2, got a batch of 3.*--batch-axis dynamic"):
            eng.run(*_inputs("tiny", 3, adain_size=eng.adain_size))
    assert main(["export", str(ckpt), str(out), "--batch-axis", "many"]) == 2


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision,atol", [("fp16", 3e-2), ("bf16", 1e-1)])
def test_torch_engine_cuda_half_precision_and_graphs_match_fp32(tiny, precision: str, atol: float) -> None:
    model = tiny[2]
    with TorchEngine(model.generator, device="cuda", precision="fp32") as ref, \
            TorchEngine(model.generator, device="cuda", precision=precision, cuda_graph_batches=(4, 8)) as fast:
        assert fast.precision == precision and "CUDA graphs" in fast.provider
        for batch in (1, 3, 8, 9):  # padded up to 4 or 8; 9 runs without a graph
            x, a = _inputs("tiny", batch, seed=batch, adain_size=fast.adain_size)
            out = fast.run(x, a)
            assert out.dtype == torch.float32 and out.shape == (batch, 4, 64, 64)
            assert (out - ref.run(x, a)).abs().max().item() < atol


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_onnx_engine_cuda_provider_matches_torch(tiny) -> None:
    ckpt, onnx_path, model = tiny
    with OnnxEngine(onnx_path, sha256_of(ckpt), providers=("cuda", "cpu"), device="cuda") as eng, \
            TorchEngine(model.generator, device="cuda", precision="fp32") as ref:
        assert eng.provider == "CUDAExecutionProvider" and eng.device.type == "cuda", eng.refused
        x, a = _inputs("tiny", 4, adain_size=eng.adain_size)
        assert (eng.run(x.cuda(), a.cuda()) - ref.run(x, a)).abs().max().item() < 1e-3


def test_bench_render_writes_rows_and_ratios(tmp_path: Path) -> None:
    """The bench's bookkeeping (not its figures): one row per batch, consistent units, ratios."""
    from facecast.apps.bench.engines import ratios

    out = tmp_path / "render.json"
    assert main(["bench", "render", "--configs", "tiny", "--engines", "torch", "--batches", "1,8", "--seconds", "0",
                 "--min-iters", "2", "--device", "cpu", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [(r["config"], r["engine"], r["batch"]) for r in result["rows"]] == [("tiny", "torch", 1),
                                                                               ("tiny", "torch", 8)]
    for r in result["rows"]:
        assert r["iters"] >= 2 and r["fps"] * r["ms_per_frame"] == pytest.approx(1000.0)
        assert r["p50_ms"] <= r["p99_ms"]
    assert any("random" in n for n in result["notes"]) and result["meta"]["device"] == "cpu"
    assert [q["ratio"] for q in result["ratios"]] == ["batch8_vs_batch1"]
    rows = [{"config": "c", "engine": e, "batch": b, "p50_ms_per_frame": ms}
            for e, b, ms in (("torch", 1, 10.0), ("torch", 8, 4.0), ("onnx", 1, 5.0), ("onnx", 8, 1.0))]
    got = {(q["ratio"], q.get("engine"), q.get("batch")): q["value"] for q in ratios(rows)}
    assert got == {("ort_vs_torch", None, 1): 2.0, ("ort_vs_torch", None, 8): 4.0,
                   ("batch8_vs_batch1", "torch", None): 0.4, ("batch8_vs_batch1", "onnx", None): 0.2}
