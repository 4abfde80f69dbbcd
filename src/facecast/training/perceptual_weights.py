"""Loading the user's VGG19 / VGGFace weight files for the content loss.

Nothing is downloaded: the user passes local files (``LossConfig.vgg19_weights``,
``LossConfig.vggface_weights``; ``facecast train --vgg19 FILE --vggface FILE``).

- VGG19: torchvision's ImageNet state dict, ``vgg19-dcbb9e9d.pth`` (keys
  ``features.N.weight``/``bias``; the classifier is ignored).
- VGGFace (VGG16 architecture, Parkhi et al. 2015): either the same torchvision layout
  or the ``vgg_face_dag.pth`` layout (keys ``conv1_1.weight`` ... ``conv5_3.bias``, as
  converted from the authors' MatConvNet model by S. Albanie), which expects 0..255 RGB
  minus a per-channel mean.

Taps as in the paper: the ReLUs after conv1_1, conv2_1, conv3_1, conv4_1, conv5_1.
"""

from __future__ import annotations

from pathlib import Path

import torch

from facecast.training.vgg_features import VGG16_LAYERS, VGG19_LAYERS, VGGFeatures, conv_indices

__all__ = ["PerceptualWeightsError", "PerceptualWeightsMissing", "VGG19_FILE", "VGG19_TAPS", "VGGFACE_FILE",
           "VGGFACE_TAPS", "load_vgg19", "load_vggface"]

VGG19_FILE = "vgg19-dcbb9e9d.pth"
VGGFACE_FILE = "vgg_face_dag.pth"
VGG19_TAPS = (1, 6, 11, 20, 29)  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
VGGFACE_TAPS = (1, 6, 11, 18, 25)  # the same ReLUs in VGG16
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VGGFACE_MEAN_255 = (129.186279296875, 104.76238250732422, 93.59396362304688)
# vgg_face_dag layer names in torchvision's ``features`` order (conv indices of VGG16)
_DAG_CONVS = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
              "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3")
_HOW_VGG19 = (f"facecast never downloads weights: obtain torchvision's ImageNet VGG19 state dict {VGG19_FILE} "
              "yourself (it is the file torchvision.models.vgg19(weights='IMAGENET1K_V1') fetches), or leave "
              "the VGG19 option out to train with the L1 + MS-SSIM fallback")
_HOW_VGGFACE = (f"facecast never downloads weights: obtain a VGGFace (VGG16) state dict such as {VGGFACE_FILE} "
                "(the authors' MatConvNet model converted to PyTorch) yourself, or leave the VGGFace option out")


class PerceptualWeightsError(ValueError):
    """A VGG19/VGGFace weights file exists but is not a usable state dict."""


class PerceptualWeightsMissing(FileNotFoundError):
    """A VGG19/VGGFace weights file named by the user does not exist."""


def _read_state(path: Path, what: str, how: str) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise PerceptualWeightsMissing(f"{what} weights file {path} not found; {how}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types (pickle, zip, runtime) for a bad file
        raise PerceptualWeightsError(f"{what} weights file {path} is not a readable torch state dict: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PerceptualWeightsError(f"{what} weights file {path} does not hold a state dict of tensors")
    return state


def _load_into(model: VGGFeatures, state: dict[str, torch.Tensor], path: Path, what: str) -> VGGFeatures:
    wanted = model.features.state_dict()
    missing = [k for k in wanted if f"features.{k}" not in state]
    if missing:
        raise PerceptualWeightsError(f"{what} weights file {path} lacks {len(missing)} of the layers needed "
                                     f"(first: features.{missing[0]})")
    picked = {}
    for key, ref in wanted.items():
        got = state[f"features.{key}"]
        if got.shape != ref.shape:
            raise PerceptualWeightsError(f"{what} weights file {path}: features.{key} has shape {tuple(got.shape)}, "
                                         f"expected {tuple(ref.shape)}")
        picked[key] = got.float()
    model.features.load_state_dict(picked)
    return model


def load_vgg19(path: str | Path) -> VGGFeatures:
    """VGG19 feature taps from torchvision's ImageNet weights file."""
    path = Path(path).expanduser()
    state = _read_state(path, "VGG19", _HOW_VGG19)
    return _load_into(VGGFeatures(VGG19_LAYERS, VGG19_TAPS, IMAGENET_MEAN, IMAGENET_STD), state, path, "VGG19")


def load_vggface(path: str | Path) -> VGGFeatures:
    """VGGFace feature taps from a torchvision-layout or ``vgg_face_dag`` layout file."""
    path = Path(path).expanduser()
    state = _read_state(path, "VGGFace", _HOW_VGGFACE)
    if "conv1_1.weight" in state:  # vgg_face_dag layout: 0..255 input minus the mean, no std
        state = {f"features.{idx}.{kind}": state[f"{name}.{kind}"]
                 for name, idx in zip(_DAG_CONVS, conv_indices(VGG16_LAYERS)) for kind in ("weight", "bias")
                 if f"{name}.{kind}" in state}
        mean = tuple(m / 255.0 for m in VGGFACE_MEAN_255)
        std = (1.0 / 255.0,) * 3
    else:
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    return _load_into(VGGFeatures(VGG16_LAYERS, VGGFACE_TAPS, mean, std), state, path, "VGGFace")
