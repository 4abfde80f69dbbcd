"""``facecast export CHECKPOINT OUT.onnx``: the generator as one ONNX graph for every character.

What is exported: the generator alone, ``(landmark_images (B, 3, S, S), adain (B, A)) ->
frames (B, 4, S, S)``, with the per-character AdaIN parameters as an input, so one graph
serves every character and a batch may mix them. The batch axis is dynamic by default
(``--batch-axis N`` fixes it, which some TensorRT set-ups prefer).

What is not: the landmark rasterizer stays in torch and feeds the engine. It picks the
pixels to evaluate from each batch's landmark bounding boxes (data-dependent shapes and a
device sync) and takes the landmark format as a Python string, so it does not export to a
static graph; it is cheap next to the generator.

Steps (each logged, with its time: tracing the ``paper`` generator takes a minute or more
on a CPU): load the checkpoint, trace with ``torch.onnx.export(dynamo=True)``, check with
``onnx.checker``, run the graph once in ONNX Runtime on the CPU against torch (the largest
difference is logged), write the manifest ``OUT.onnx.json`` (see manifest.py).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from facecast import __version__
from facecast.core.filehash import sha256_of
from facecast.model.networks.config import config_to_dict
from facecast.model.networks.talking_head import load_checkpoint
from facecast.model.engines.manifest import (
    DEFAULT_OPSET, INPUT_NAMES, OUTPUT_NAME, Manifest, manifest_path, write_manifest,
)

__all__ = ["export_onnx"]

log = logging.getLogger(__name__)


def export_onnx(checkpoint: str | Path, out: str | Path, opset: int = DEFAULT_OPSET,
                batch_axis: str | int = "dynamic", verify: bool = True) -> Manifest:
    """Export ``checkpoint``'s generator to ``out`` and write its manifest; returns it.

    batch_axis: "dynamic", or a fixed batch size N >= 1.
    verify: run the exported graph once on ONNX Runtime's CPU provider against torch.
    """
    import onnx

    from facecast.model.engines.onnx_engine import model_opset, session_specs

    checkpoint, out = Path(checkpoint), Path(out)
    if batch_axis != "dynamic" and (not isinstance(batch_axis, int) or batch_axis < 1):
        raise ValueError(f"batch_axis must be 'dynamic' or a batch size >= 1, got {batch_axis!r}")
    t0 = time.perf_counter()
    model, _extra = load_checkpoint(checkpoint)
    generator = model.generator.eval()
    cfg = model.cfg
    s, a = cfg.image_size, generator.adain_size
    n_params = sum(p.numel() for p in generator.parameters())
    log.info("export: generator of %s (config %s, %d² px, %.2fM parameters, %d AdaIN values), opset %d, "
             "batch axis %s", checkpoint, cfg.name, s, n_params / 1e6, a, opset, batch_axis)
    example_batch = 2 if batch_axis == "dynamic" else int(batch_axis)
    example = (torch.rand(example_batch, 3, s, s), 0.1 * torch.randn(example_batch, a))
    dynamic_shapes: dict[str, Any] | None = None
    if batch_axis == "dynamic":
        batch = torch.export.Dim("batch", min=1, max=4096)
        dynamic_shapes = {INPUT_NAMES[0]: {0: batch}, INPUT_NAMES[1]: {0: batch}}
    out.parent.mkdir(parents=True, exist_ok=True)
    log.info("export: tracing the generator (torch.onnx dynamo exporter; a minute or more for large configs)")
    for name in ("onnx_ir", "onnxscript"):  # their INFO lines list every initializer
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLogger(name).level))
    with torch.no_grad():
        torch.onnx.export(generator, example, str(out), input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
                          opset_version=opset, dynamo=True, dynamic_shapes=dynamic_shapes, external_data=False,
                          verbose=False)
    log.info("export: traced in %.1f s; checking with onnx.checker", time.perf_counter() - t0)
    onnx.checker.check_model(str(out))
    got_opset = model_opset(out)
    specs_in, specs_out, session = session_specs(out)
    if verify:
        with torch.no_grad():
            ref = generator(*example).numpy()
        got = session.run([OUTPUT_NAME], {INPUT_NAMES[0]: example[0].numpy(), INPUT_NAMES[1]: example[1].numpy()})[0]
        log.info("export: ONNX Runtime (CPU) vs torch on a batch of %d: largest difference %.2e",
                 example_batch, float(abs(ref - got).max()))
    del session
    manifest = Manifest(
        model_file=out.name, model_sha256=sha256_of(out), checkpoint=str(checkpoint),
        checkpoint_sha256=sha256_of(checkpoint), config=config_to_dict(cfg), opset=got_opset, batch_axis=batch_axis,
        inputs=specs_in, outputs=specs_out, rasterizer="torch",
        exporter={"facecast": __version__, "torch": torch.__version__, "onnx": onnx.__version__})
    write_manifest(out, manifest)
    log.info("export: wrote %s (%.1f MB) and %s in %.1f s", out, out.stat().st_size / 1e6, manifest_path(out),
             time.perf_counter() - t0)
    return manifest
