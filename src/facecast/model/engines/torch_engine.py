"""``torch`` engine: the generator in PyTorch, the reference path.

CPU: fp32 eager. Half precision, ``torch.compile`` and CUDA graphs are GPU features
here; asked for on CPU they are turned off and the reason is logged (the engine still
loads).

CUDA: weights and activations in fp16 (default) or bf16, channels-last memory format,
optionally ``torch.compile`` (inductor) and/or CUDA graphs captured for fixed batch sizes.
A batch of B rows runs on the smallest captured size >= B, padded with zero rows (rows
are independent, so padding never changes the real rows); a batch larger than every
captured size runs without a graph.
"""

from __future__ import annotations

import copy
import logging
from typing import Sequence

import numpy as np
import torch

from facecast.model.networks.generator import Generator
from facecast.model.neural_model import resolve_device
from facecast.model.engines.base import PRECISIONS, ArrayLike, Engine, EngineUnavailable, register_engine

__all__ = ["TorchEngine"]

log = logging.getLogger(__name__)

_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def _as_tensor(x: ArrayLike, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    t = torch.from_numpy(x) if isinstance(x, np.ndarray) else x
    return t.to(device=device, dtype=dtype, non_blocking=True)


class TorchEngine(Engine):
    """The generator in PyTorch (see module docstring).

    generator: the module to run; copied (converted to the engine's device, dtype and
        memory format), so the caller's stays as it was;
    share: run ``generator`` itself instead of a copy where it needs no conversion (already
        on the engine's device, fp32 on CPU): the weights are then held once. The caller
        must not train it or move it afterwards (the renderer's generator, used for
        enrollment's AdaIN projection, is one such); where a conversion is needed (CUDA,
        half precision) the engine still makes its converted copy;
    precision: auto (fp16 on CUDA, fp32 on CPU) | fp32 | fp16 | bf16;
    compile: torch.compile the generator (CUDA only);
    cuda_graph_batches: batch sizes to capture as CUDA graphs (CUDA only).
    """

    name = "torch"

    def __init__(self, generator: Generator, device: str | torch.device = "auto", precision: str = "auto",
                 compile: bool = False, cuda_graph_batches: Sequence[int | str] = (), share: bool = False) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; one of {', '.join(PRECISIONS)}")
        try:
            dev = device if isinstance(device, torch.device) else resolve_device(str(device))
        except ValueError as exc:
            raise EngineUnavailable("torch engine", [str(exc)]) from None
        try:  # ints, or the config's strings ("1", "8")
            graph_batches = sorted({int(b) for b in cuda_graph_batches})
        except (TypeError, ValueError):
            raise ValueError(f"CUDA graph batch sizes must be integers, got {list(cuda_graph_batches)}") from None
        if any(b < 1 for b in graph_batches):
            raise ValueError(f"CUDA graph batch sizes must be >= 1, got {list(cuda_graph_batches)}")
        if dev.type != "cuda":
            off = [label for label, on in ((f"precision {precision}", precision in ("fp16", "bf16")),
                                           ("torch.compile", compile), ("CUDA graphs", bool(graph_batches))) if on]
            if off:
                log.warning("torch engine on %s: running fp32 eager without %s (half precision, torch.compile and "
                            "CUDA graphs are used on CUDA devices only)", dev, ", ".join(off))
            precision, compile, graph_batches = "fp32", False, []
        elif precision == "auto":
            precision = "fp16"
        if precision == "bf16" and dev.type == "cuda" and not torch.cuda.is_bf16_supported():
            log.warning("torch engine: %s has no bf16 support; using fp16", torch.cuda.get_device_name(dev))
            precision = "fp16"
        self._dtype = _DTYPES[precision]
        self._format = torch.channels_last if dev.type == "cuda" else torch.contiguous_format
        if share and _is_already(generator, dev, self._dtype, self._format):
            module = generator.eval()  # inference_mode in _forward: no autograd, whatever requires_grad says
            self.shares_weights = True
        else:
            module = copy.deepcopy(generator).to(device=dev, dtype=self._dtype, memory_format=self._format).eval()
            for p in module.parameters():
                p.requires_grad_(False)
            self.shares_weights = False
        self._module = module
        self._call = torch.compile(module, dynamic=False) if compile else module
        parts = ["torch", "compiled" if compile else "eager", precision]
        if self.shares_weights:
            parts.append("sharing the caller's weights")
        if graph_batches:
            parts.append(f"CUDA graphs for batch {','.join(map(str, graph_batches))}")
        super().__init__(generator.cfg.image_size, generator.adain_size, dev, precision,
                         " ".join(parts) + f" on {dev}" + (" channels-last" if dev.type == "cuda" else ""))
        self._graphs: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor, torch.Tensor]] = {}
        self._warned_large = False
        for b in graph_batches:
            self._capture(b)

    @property
    def module(self) -> Generator:
        """The generator this engine runs (the caller's own where it shares weights)."""
        if self._module is None:
            raise RuntimeError("torch engine is closed")
        return self._module

    @torch.inference_mode()
    def _forward(self, landmark_images: torch.Tensor, adain: torch.Tensor) -> torch.Tensor:
        # (B, 3, S, S), (B, A) in the engine's dtype -> (B, 4, S, S) in the engine's dtype
        return self._call(landmark_images.contiguous(memory_format=self._format), adain)

    def _capture(self, batch: int) -> None:
        """Record one generator pass at ``batch`` rows into a CUDA graph (static buffers)."""
        s, a = self.image_size, self.adain_size
        static_in = torch.zeros((batch, 3, s, s), device=self.device, dtype=self._dtype)
        static_in = static_in.contiguous(memory_format=self._format)
        static_adain = torch.zeros((batch, a), device=self.device, dtype=self._dtype)
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(3):  # warm-up: cuDNN autotuning and compile happen outside the capture
                self._forward(static_in, static_adain)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(graph):
            static_out = self._forward(static_in, static_adain)
        self._graphs[batch] = (graph, static_in, static_adain, static_out)
        log.info("torch engine: captured a CUDA graph for batch %d", batch)

    @torch.inference_mode()
    def _run(self, landmark_images: ArrayLike, adain: ArrayLike) -> torch.Tensor:
        b = int(landmark_images.shape[0])
        x = _as_tensor(landmark_images, self.device, self._dtype)  # (B, 3, S, S)
        p = _as_tensor(adain, self.device, self._dtype)  # (B, A)
        size = next((n for n in sorted(self._graphs) if n >= b), None)
        if size is None:
            if self._graphs and not self._warned_large:
                log.warning("torch engine: batch %d is larger than every CUDA graph (%s); running it without one",
                            b, ", ".join(map(str, sorted(self._graphs))))
                self._warned_large = True
            return self._forward(x, p).float()  # (B, 4, S, S) float32
        graph, static_in, static_adain, static_out = self._graphs[size]
        static_in[:b].copy_(x)
        static_adain[:b].copy_(p)
        if b < size:  # zero padding rows: they are computed and dropped
            static_in[b:].zero_()
            static_adain[b:].zero_()
        graph.replay()
        # a new float32 tensor (copy even in fp32): the graph's buffer is overwritten next replay
        return static_out[:b].to(torch.float32, copy=True)

    def close(self) -> None:
        if not self.closed:
            self._graphs.clear()
            self._module = None  # type: ignore[assignment]
            self._call = None  # type: ignore[assignment]
            if self.device.type == "cuda":
                torch.cuda.empty_cache()
        super().close()


def _is_already(module: torch.nn.Module, device: torch.device, dtype: torch.dtype,
                memory_format: torch.memory_format) -> bool:
    """Whether every parameter and buffer of ``module`` is on ``device`` in ``dtype`` (floating
    ones) and, for 4-d tensors, ``memory_format``: running it as it is converts nothing."""
    for t in [*module.parameters(), *module.buffers()]:
        if t.device.type != device.type or (device.index is not None and t.device.index != device.index):
            return False
        if t.is_floating_point() and t.dtype != dtype:
            return False
        if t.dim() == 4 and not t.is_contiguous(memory_format=memory_format):
            return False
    return True


@register_engine("torch", options=("device", "precision", "compile", "cuda_graph_batches", "share"))
def _create(generator: Generator, checkpoint_sha256: str = "", **options: object) -> TorchEngine:
    return TorchEngine(generator, **options)  # type: ignore[arg-type]
