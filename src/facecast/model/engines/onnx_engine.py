"""``onnx`` engine: an exported generator (``facecast export``) in ONNX Runtime.

Execution providers are tried in preference order, TensorRT -> CUDA -> CPU by default
(``providers`` takes short names ``tensorrt``, ``cuda``, ``cpu`` or ORT's full names). A
provider is refused, with its reason kept, when this onnxruntime build lacks it, when the
device asked for is the CPU, when no NVIDIA driver can be loaded, or when the session
did not register it (ORT drops a GPU provider whose CUDA/cuDNN/TensorRT libraries fail to
load, and falls back by itself). The engine logs the provider that runs and every reason;
when nothing is left it raises EngineUnavailable with all of them.

Session options: graph optimisation ORT_ENABLE_ALL, sequential execution,
``threads`` intra-op threads (0 = ORT's choice: one per physical core). TensorRT:
optional fp16 and an engine cache directory (``trt_cache_dir``; building TensorRT
engines takes minutes, the cache makes the next start take seconds) and an optimisation
profile for batches 1..``trt_max_batch``. CUDA: exhaustive cuDNN convolution search.

On load the manifest beside the model is checked against the model file, the session's
real inputs/outputs and the checkpoint the daemon serves (manifest.py).
"""

from __future__ import annotations

import ctypes
import logging
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from facecast.core.filehash import sha256_of
from facecast.model.networks.config import config_to_dict
from facecast.model.networks.generator import Generator
from facecast.model.engines.base import ArrayLike, Engine, EngineUnavailable, register_engine
from facecast.model.engines.manifest import (
    INPUT_NAMES, OUTPUT_NAME, TensorSpec, check_manifest, read_manifest,
)

__all__ = ["OnnxEngine", "PROVIDERS", "DEFAULT_PROVIDERS", "session_specs", "model_opset"]

log = logging.getLogger(__name__)

PROVIDERS = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}
DEFAULT_PROVIDERS = ("tensorrt", "cuda", "cpu")
_GPU = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
_ORT_TYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(double)": "float64"}


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise EngineUnavailable("onnx engine", [f"onnxruntime is not installed ({exc}); "
                                                "pip install onnxruntime-gpu (it also runs on CPU)"]) from None
    return onnxruntime


def session_specs(model: str | Path, providers: Sequence[Any] = ("CPUExecutionProvider",),
                  options: Any = None) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...], Any]:
    """(inputs, outputs, session) of ``model`` opened in ONNX Runtime with ``providers``."""
    ort = _ort()
    session = ort.InferenceSession(str(model), sess_options=options, providers=list(providers))

    def spec(arg: Any) -> TensorSpec:
        return TensorSpec(arg.name, tuple(d if isinstance(d, (int, str)) else "?" for d in arg.shape),
                          _ORT_TYPES.get(arg.type, arg.type))

    return (tuple(spec(i) for i in session.get_inputs()), tuple(spec(o) for o in session.get_outputs()), session)


def model_opset(model: str | Path) -> int:
    """The default-domain opset an ONNX file declares."""
    import onnx

    proto = onnx.load(str(model), load_external_data=False)
    return next(int(o.version) for o in proto.opset_import if o.domain in ("", "ai.onnx"))


def _driver_reason() -> str:
    """Why no NVIDIA driver is usable here ("" when libcuda loads)."""
    name = "nvcuda.dll" if sys.platform == "win32" else "libcuda.so.1"
    try:
        ctypes.CDLL(name)
    except OSError as exc:
        return f"no NVIDIA driver ({name} does not load: {exc})"
    return ""


def _provider_list(names: Sequence[str]) -> list[str]:
    out = []
    for n in names:
        full = PROVIDERS.get(n.strip().lower(), n.strip())
        if full not in PROVIDERS.values():
            raise ValueError(f"unknown ONNX Runtime provider {n!r}; one of {', '.join(PROVIDERS)}")
        out.append(full)
    return out


class OnnxEngine(Engine):
    """An exported generator in ONNX Runtime (see module docstring).

    model: the .onnx file (its manifest ``model.onnx.json`` beside it);
    checkpoint_sha256 / config: of the checkpoint served (checked against the manifest;
    "" / None skip that check); device: auto | cpu | cuda | cuda:N.
    """

    name = "onnx"

    def __init__(self, model: str | Path, checkpoint_sha256: str = "", config: dict[str, Any] | None = None,
                 providers: Sequence[str] = DEFAULT_PROVIDERS, device: str = "auto", threads: int = 0,
                 trt_cache_dir: str = "", trt_fp16: bool = True, trt_max_batch: int = 32) -> None:
        ort = _ort()
        model = Path(model).expanduser()
        if not model.is_file():
            raise FileNotFoundError(f"ONNX model {model} not found; write it with `facecast export CHECKPOINT {model}`")
        manifest = read_manifest(model)
        model_sha256 = sha256_of(model)
        if model_sha256 != manifest.model_sha256:  # a changed file: its graph need not even load
            check_manifest(model, manifest, model_sha256=model_sha256, opset=manifest.opset, inputs=manifest.inputs,
                           outputs=manifest.outputs, checkpoint_sha256=checkpoint_sha256, config=config)
        wanted = _provider_list(providers or DEFAULT_PROVIDERS)
        device = (device or "auto").strip().lower()
        gpu_index = int(device.partition(":")[2] or 0) if device.startswith("cuda") else 0
        available = ort.get_available_providers()
        candidates: list[str] = []
        driver = _driver_reason() if any(p in _GPU for p in wanted) and device != "cpu" else ""
        refused: dict[str, list[str]] = {}  # reason -> providers, so a shared reason is said once
        for p in wanted:
            if p not in available:
                refused.setdefault(f"not in this onnxruntime build (available: {', '.join(available)})", []).append(p)
            elif p in _GPU and device == "cpu":
                refused.setdefault("device cpu asked for", []).append(p)
            elif p in _GPU and driver:
                refused.setdefault(driver, []).append(p)
            else:
                candidates.append(p)
        reasons = [f"{', '.join(ps)}: {why}" for why, ps in refused.items()]
        if not candidates:
            raise EngineUnavailable(f"onnx engine for {model}", reasons)
        s, a = int(manifest.config.get("image_size", 0)), 0
        for spec in manifest.inputs:
            if spec.name == INPUT_NAMES[1] and len(spec.shape) == 2 and isinstance(spec.shape[1], int):
                a = spec.shape[1]
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = int(threads)
        provider_args: list[Any] = []
        for p in candidates:
            if p == "TensorrtExecutionProvider":
                trt: dict[str, Any] = {"device_id": gpu_index, "trt_fp16_enable": bool(trt_fp16)}
                if manifest.batch_axis == "dynamic":  # one optimisation profile: batches 1..trt_max_batch
                    def shapes(n: int) -> str:
                        return f"{INPUT_NAMES[0]}:{n}x3x{s}x{s},{INPUT_NAMES[1]}:{n}x{a}"

                    trt.update(trt_profile_min_shapes=shapes(1), trt_profile_opt_shapes=shapes(min(8, trt_max_batch)),
                               trt_profile_max_shapes=shapes(trt_max_batch))
                if trt_cache_dir:
                    cache = Path(trt_cache_dir).expanduser()
                    cache.mkdir(parents=True, exist_ok=True)
                    trt.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(cache),
                               trt_timing_cache_enable=True, trt_timing_cache_path=str(cache))
                provider_args.append((p, trt))
            elif p == "CUDAExecutionProvider":
                provider_args.append((p, {"device_id": gpu_index, "cudnn_conv_algo_search": "EXHAUSTIVE"}))
            else:
                provider_args.append(p)
        try:
            inputs, outputs, session = session_specs(model, provider_args, options)
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/RuntimeException types
            raise EngineUnavailable(f"onnx engine for {model}",
                                    [*reasons, f"session creation failed: {type(exc).__name__}: {exc}"]) from None
        got = session.get_providers()
        for p in candidates:
            if p not in got:
                reasons.append(f"{p}: refused by onnxruntime at session creation (its libraries, e.g. CUDA, "
                               "cuDNN or TensorRT, failed to load or do not fit this GPU; see onnxruntime's log)")
        runs = got[0]
        if runs not in candidates:  # ORT appends its CPU provider itself; it was not asked for
            raise EngineUnavailable(f"onnx engine for {model}", [*reasons, f"onnxruntime would run {runs}, which "
                                                                 f"is not among the providers asked for"])
        check_manifest(model, manifest, model_sha256=model_sha256, opset=model_opset(model), inputs=inputs,
                       outputs=outputs, checkpoint_sha256=checkpoint_sha256, config=config)
        on_gpu = runs in _GPU
        dev = torch.device(f"cuda:{gpu_index}") if on_gpu and torch.cuda.is_available() else torch.device("cpu")
        precision = "fp16" if runs == "TensorrtExecutionProvider" and trt_fp16 else "fp32"
        super().__init__(s, a, dev, precision, runs)
        self.model = model
        self.manifest = manifest
        self.refused = reasons
        self._session = session
        self._on_gpu = on_gpu
        if reasons:
            log.info("onnx engine: %s runs %s; refused: %s", model.name, runs, "; ".join(reasons))
        else:
            log.info("onnx engine: %s runs %s", model.name, runs)

    def _run(self, landmark_images: ArrayLike, adain: ArrayLike) -> torch.Tensor:
        b = int(landmark_images.shape[0])
        fixed = self.manifest.batch_axis
        if isinstance(fixed, int) and b != fixed:
            raise ValueError(f"{self.model.name} was exported with a fixed batch of {fixed}, got a batch of {b}; "
                             "export with --batch-axis dynamic to run any batch size")
        if self._on_gpu and self.device.type == "cuda":
            # IO binding: torch CUDA tensors in and out, no host round trip.
            x = torch.as_tensor(landmark_images, device=self.device).contiguous()  # (B, 3, S, S)
            p = torch.as_tensor(adain, device=self.device).contiguous()  # (B, A)
            out = torch.empty((b, 4, self.image_size, self.image_size), device=self.device)  # (B, 4, S, S)
            binding = self._session.io_binding()
            for name, t in ((INPUT_NAMES[0], x), (INPUT_NAMES[1], p)):
                binding.bind_input(name, "cuda", self.device.index or 0, np.float32, tuple(t.shape), t.data_ptr())
            binding.bind_output(OUTPUT_NAME, "cuda", self.device.index or 0, np.float32, tuple(out.shape),
                                out.data_ptr())
            torch.cuda.current_stream(self.device).synchronize()  # inputs written before ORT reads them
            self._session.run_with_iobinding(binding)
            return out
        feeds = {INPUT_NAMES[0]: _numpy(landmark_images), INPUT_NAMES[1]: _numpy(adain)}
        frames = self._session.run([OUTPUT_NAME], feeds)[0]  # (B, 4, S, S) float32
        return torch.from_numpy(frames).to(self.device)

    def close(self) -> None:
        self._session = None
        super().close()


def _numpy(x: ArrayLike) -> np.ndarray:
    return np.ascontiguousarray(x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x)


@register_engine("onnx", options=("onnx_model", "device", "providers", "threads", "trt_cache_dir", "trt_fp16",
                                  "trt_max_batch"))
def _create(generator: Generator, checkpoint_sha256: str = "", onnx_model: str = "", **options: Any) -> OnnxEngine:
    if not str(onnx_model).strip():
        raise EngineUnavailable("onnx engine", [
            "no exported model given: run `facecast export CHECKPOINT MODEL.onnx` once and pass "
            "`--onnx MODEL.onnx` (or [render] onnx_model)"])
    return OnnxEngine(onnx_model, checkpoint_sha256=checkpoint_sha256, config=config_to_dict(generator.cfg),
                      **options)

