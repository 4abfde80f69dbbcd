"""The manifest written beside every exported ONNX model, and its check on load.

``facecast export CKPT OUT.onnx`` writes ``OUT.onnx.json`` (the model's file name plus
``.json``):

    {"format": "facecast.onnx_export", "format_version": 1,
     "model_file": "OUT.onnx", "model_sha256": "<sha256 of OUT.onnx>",
     "checkpoint": "<path as given>", "checkpoint_sha256": "<sha256 of CKPT>",
     "config": {<ModelConfig as a dict>}, "opset": 18, "batch_axis": "dynamic" | N,
     "rasterizer": "torch",
     "inputs":  [{"name": "landmark_images", "shape": ["batch", 3, S, S], "dtype": "float32"},
                 {"name": "adain", "shape": ["batch", A], "dtype": "float32"}],
     "outputs": [{"name": "frames", "shape": ["batch", 4, S, S], "dtype": "float32"}],
     "exporter": {"facecast": "...", "torch": "...", "onnx": "..."}}

``check_manifest`` compares a manifest with what the loader has (the checkpoint's sha256
and config, the ONNX file's hash, opset and the session's real inputs and outputs) and
raises one ``ManifestMismatch`` that lists every difference and says to re-export.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_OPSET = 18  # the torch dynamo exporter's native opset; onnxruntime >= 1.14 and TensorRT 10 run it

__all__ = ["Manifest", "TensorSpec", "ManifestMismatch", "manifest_path", "read_manifest", "write_manifest",
           "check_manifest", "MANIFEST_FORMAT", "MANIFEST_FORMAT_VERSION", "INPUT_NAMES", "OUTPUT_NAME", "DEFAULT_OPSET"]

MANIFEST_FORMAT = "facecast.onnx_export"
MANIFEST_FORMAT_VERSION = 1
INPUT_NAMES = ("landmark_images", "adain")
OUTPUT_NAME = "frames"

Dim = int | str  # a fixed size, or a symbolic name ("batch")


class ManifestMismatch(ValueError):
    """An exported model does not match its manifest or the checkpoint it is used with."""


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[Dim, ...]
    dtype: str = "float32"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TensorSpec":
        return cls(str(d["name"]), tuple(d["shape"]), str(d["dtype"]))


@dataclass(frozen=True)
class Manifest:
    model_file: str
    model_sha256: str
    checkpoint: str
    checkpoint_sha256: str
    config: dict[str, Any]
    opset: int
    batch_axis: str | int
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    rasterizer: str = "torch"
    exporter: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"format": MANIFEST_FORMAT, "format_version": MANIFEST_FORMAT_VERSION,
                "model_file": self.model_file, "model_sha256": self.model_sha256,
                "checkpoint": self.checkpoint, "checkpoint_sha256": self.checkpoint_sha256,
                "config": self.config, "opset": self.opset, "batch_axis": self.batch_axis,
                "rasterizer": self.rasterizer,
                "inputs": [t.to_dict() for t in self.inputs], "outputs": [t.to_dict() for t in self.outputs],
                "exporter": dict(self.exporter)}


def manifest_path(model: str | Path) -> Path:
    """The manifest of ``model``: its path with ``.json`` appended (``gen.onnx.json``)."""
    model = Path(model)
    return model.with_name(model.name + ".json")


def write_manifest(model: str | Path, manifest: Manifest) -> Path:
    path = manifest_path(model)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")
    tmp.replace(path)
    return path


def _reexport(model: Path) -> str:
    return f"re-export it: `facecast export CHECKPOINT {model}`"


def read_manifest(model: str | Path) -> Manifest:
    """The manifest beside ``model``; ManifestMismatch when missing or malformed."""
    model = Path(model)
    path = manifest_path(model)
    if not path.is_file():
        raise ManifestMismatch(f"{model} has no manifest {path} (every export writes one; a model without it "
                               f"cannot be checked against its checkpoint); {_reexport(model)}")
    try:
        d = json.loads(path.read_text())
        if d.get("format") != MANIFEST_FORMAT or d.get("format_version") != MANIFEST_FORMAT_VERSION:
            raise ValueError(f"format {d.get('format')!r} version {d.get('format_version')!r}, expected "
                             f"{MANIFEST_FORMAT!r} version {MANIFEST_FORMAT_VERSION}")
        return Manifest(
            model_file=str(d["model_file"]), model_sha256=str(d["model_sha256"]), checkpoint=str(d["checkpoint"]),
            checkpoint_sha256=str(d["checkpoint_sha256"]), config=dict(d["config"]), opset=int(d["opset"]),
            batch_axis=d["batch_axis"], inputs=tuple(TensorSpec.from_dict(t) for t in d["inputs"]),
            outputs=tuple(TensorSpec.from_dict(t) for t in d["outputs"]), rasterizer=str(d.get("rasterizer", "")),
            exporter=dict(d.get("exporter", {})))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestMismatch(f"manifest {path} is unreadable or malformed ({type(exc).__name__}: {exc}); "
                               f"{_reexport(model)}") from None


def check_manifest(model: Path, manifest: Manifest, *, model_sha256: str, opset: int,
                   inputs: tuple[TensorSpec, ...], outputs: tuple[TensorSpec, ...],
                   checkpoint_sha256: str = "", config: dict[str, Any] | None = None) -> None:
    """Raise ManifestMismatch listing every way ``manifest`` disagrees with what was found.

    model_sha256, opset, inputs, outputs: read from the ONNX file and its session;
    checkpoint_sha256, config: of the checkpoint the model is to serve ("" / None: not checked).
    """
    diffs: list[str] = []
    if manifest.model_sha256 != model_sha256:
        diffs.append(f"the model file's sha256 is {model_sha256[:12]}…, the manifest says "
                     f"{manifest.model_sha256[:12]}… (the .onnx was replaced or changed after export)")
    if checkpoint_sha256 and manifest.checkpoint_sha256 != checkpoint_sha256:
        diffs.append(f"it was exported from checkpoint sha256 {manifest.checkpoint_sha256[:12]}… "
                     f"({manifest.checkpoint}), the daemon's checkpoint is {checkpoint_sha256[:12]}…")
    if config is not None and manifest.config != config:
        keys = sorted(k for k in set(manifest.config) | set(config) if manifest.config.get(k) != config.get(k))
        diffs.append(f"model config differs in {', '.join(keys)} (manifest {manifest.config.get('name')!r}, "
                     f"checkpoint {config.get('name')!r})")
    if manifest.opset != opset:
        diffs.append(f"opset: manifest {manifest.opset}, model {opset}")
    for label, want, got in (("inputs", manifest.inputs, inputs), ("outputs", manifest.outputs, outputs)):
        if tuple(want) != tuple(got):
            diffs.append(f"{label}: manifest {_specs(want)}, model {_specs(got)}")
    if diffs:
        raise ManifestMismatch(f"ONNX model {model} does not match its manifest or the checkpoint: "
                               f"{'; '.join(diffs)}. Re-export it from the checkpoint you serve: "
                               f"`facecast export CHECKPOINT {model}`")

def _specs(specs: tuple[TensorSpec, ...]) -> str:
    return ", ".join(f"{t.name} {list(t.shape)} {t.dtype}" for t in specs) or "(none)"
