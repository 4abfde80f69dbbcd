"""Parameter counts and per-frame compute of each config (``facecast model-info``).

Convolutions, matmuls and attention are counted by ``torch.utils.flop_counter`` (a
multiply-add is 2 FLOPs). The rasterizer has no matmuls; its cost is counted as element
operations: the elements written by every non-view tensor op of its forward pass, for
landmarks scattered at random over the whole frame (near its worst case: it evaluates
only each facial part's bounding box, so a real face costs less).
The passes run on the meta device (shapes only), so even the paper config takes seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from facecast.core.topology import FORMATS
from facecast.model.networks.config import ModelConfig

if TYPE_CHECKING:
    from torch import nn

# torch is imported inside the functions: `facecast model-info --help` stays fast.

__all__ = ["model_info", "format_model_info"]


def _count_elements(fn: Callable[[], Any]) -> int:
    """Elements written by every non-view aten op that ``fn`` runs."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    class ElementOpCounter(TorchDispatchMode):
        elements = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
            out = func(*args, **(kwargs or {}))
            if not func.is_view:
                for t in out if isinstance(out, (tuple, list)) else (out,):
                    if isinstance(t, torch.Tensor):
                        self.elements += t.numel()
            return out

    with torch.no_grad(), ElementOpCounter() as counter:
        fn()
    return counter.elements


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _flops(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


def model_info(cfg: ModelConfig) -> dict[str, Any]:
    """Parameter counts per module and compute per frame (batch 1) of ``cfg``."""
    import torch

    from facecast.model.networks.rasterizer import LandmarkRasterizer
    from facecast.model.networks.talking_head import TalkingHead

    # Built on the CPU (spectral norm's initial power iterations are slow on meta), then
    # moved to meta: the counts need shapes only.
    model = TalkingHead(cfg, num_videos=0).eval().to("meta")
    with torch.device("meta"):
        s, e = cfg.image_size, cfg.embed_dim
        frame = torch.zeros(1, 3, s, s)
        landmarks = torch.zeros(1, cfg.num_landmark_channels, s, s)
        adain = torch.zeros(1, model.generator.adain_size)
        generator_flops = _flops(model.generator, landmarks, adain)
        embedder_flops = _flops(model.embedder, frame, landmarks)
        discriminator_flops = _flops(model.discriminator, frame, landmarks, w=torch.zeros(1, e))
    # The rasterizer evaluates each part's bounding box, so its cost depends on the points
    # (it also reads them, which meta tensors cannot): count it on the CPU with points
    # scattered over the whole frame, near the worst case.
    g = torch.Generator().manual_seed(0)
    rasterizer = LandmarkRasterizer(line_width=cfg.landmark_line_width)
    rasterizer_ops = {fmt: _count_elements(lambda: rasterizer(torch.rand(1, n, 3, generator=g), fmt, s))
                      for fmt, n in FORMATS.items()}
    disc = model.discriminator
    return {
        "config": cfg.name,
        "image_size": s,
        "embed_dim": e,
        "adain_size": model.generator.adain_size,
        "params": {
            "rasterizer": _params(model.rasterizer),
            "embedder": _params(model.embedder),
            "generator": _params(model.generator),
            "generator_projection": model.generator.projection.numel(),
            "discriminator": _params(disc) - disc.W.numel(),
            "discriminator_per_video": e,
        },
        "generator_flops_per_frame": generator_flops,
        "rasterizer_element_ops_per_frame": rasterizer_ops,
        "embedder_flops_per_shot": embedder_flops,
        "discriminator_flops_per_frame": discriminator_flops,
    }


def format_model_info(rows: list[dict[str, Any]]) -> str:
    """A fixed-width table of ``model_info`` results, one row per config."""
    head = ("config", "size", "E", "adain", "embedder", "generator", "(of it P)", "discrim.", "+/video",
            "G GFLOP", "rast mp478", "rast ib68", "E GFLOP", "D GFLOP")
    lines = []
    for r in rows:
        p = r["params"]
        lines.append((
            r["config"], f"{r['image_size']}²", str(r["embed_dim"]), str(r["adain_size"]),
            f"{p['embedder'] / 1e6:.2f}M", f"{p['generator'] / 1e6:.2f}M", f"{p['generator_projection'] / 1e6:.2f}M",
            f"{p['discriminator'] / 1e6:.2f}M", str(p["discriminator_per_video"]),
            f"{r['generator_flops_per_frame'] / 1e9:.2f}",
            f"{r['rasterizer_element_ops_per_frame']['mediapipe478'] / 1e9:.3f}G",
            f"{r['rasterizer_element_ops_per_frame']['ibug68'] / 1e9:.3f}G",
            f"{r['embedder_flops_per_shot'] / 1e9:.2f}", f"{r['discriminator_flops_per_frame'] / 1e9:.2f}",
        ))
    widths = [max(len(h), *(len(row[i]) for row in lines)) for i, h in enumerate(head)]
    fmt_row = "  ".join(f"{{:>{w}}}" for w in widths)
    out = [fmt_row.format(*head), fmt_row.format(*("-" * w for w in widths))]
    out += [fmt_row.format(*row) for row in lines]
    out.append("")
    out.append("parameters per module (M = 10^6); P = the generator's AdaIN projection (in 'generator');")
    out.append("discriminator without its per-video matrix W (+E per training video); FLOPs per frame at batch 1")
    out.append("(multiply-add = 2); rasterizer: element operations per frame, points scattered over the frame; E per shot.")
    return "\n".join(out)
