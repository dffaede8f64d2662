"""ResNet-18 feature extractor, laid out as torchvision's ``resnet18`` (and ltr's ``feature_extractor``).

Conventions:
  * input: ImageNet-normalised float32 images, NHWC (see ``atom_jax.image.normalize``);
  * output: a dict of the requested intermediate layers, NHWC; the network stops after the deepest one;
  * kernels HWIO; Linen names follow the PyTorch module path with list indices joined by ``_``
    (``layer2.0.downsample.1`` -> ``layer2_0/downsample_1``), BatchNorm parameters are Flax's
    ``scale``/``bias`` and statistics ``mean``/``var``.

Two ways to run it:
  * ``ResNet18(layers).apply(variables, x, train=...)``: the Linen module, BatchNorm in inference form
    (running statistics) or training form (batch statistics, returns updated ``batch_stats``);
  * ``backbone_features(variables, x, layers)``: inference only, every BatchNorm folded into the kernel and
    bias of the convolution before it. Same numbers up to float32 rounding, fewer passes over memory.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn

from atom_jax.batchnorm import BatchNorm, BN_EPS
from atom_jax.winograd import conv_general_dilated

LAYERS = ("conv1", "layer1", "layer2", "layer3", "layer4")
# Output stride and channel count of each layer.
STRIDES = {"conv1": 2, "layer1": 4, "layer2": 8, "layer3": 16, "layer4": 32}
CHANNELS = {"conv1": 64, "layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512}
_PLANES = {"layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512}
_BLOCKS_PER_LAYER = 2

# torchvision: kaiming normal, fan_out, gain sqrt(2) (plain normal, not truncated).
_conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def _check_layers(layers: Sequence[str]) -> tuple[str, ...]:
    layers = tuple(layers)
    unknown = [name for name in layers if name not in LAYERS]
    if unknown or not layers:
        raise ValueError(f"unknown backbone layers {unknown or layers}; choose from {LAYERS}")
    return layers


def _pad(p: int):
    return ((p, p), (p, p))


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN, identity or 1x1-conv + BN shortcut, ReLU after the sum."""

    planes: int
    stride: int = 1
    downsample: bool = False

    @nn.compact
    def __call__(self, x, train: bool = False):
        conv = lambda stride, name: nn.Conv(self.planes, (3, 3), (stride, stride), padding=_pad(1), use_bias=False,
                                            kernel_init=_conv_init, conv_general_dilated=conv_general_dilated, name=name)
        y = conv(self.stride, "conv1")(x)
        y = nn.relu(BatchNorm(name="bn1")(y, train))
        y = conv(1, "conv2")(y)
        y = BatchNorm(name="bn2")(y, train)
        if self.downsample:
            x = nn.Conv(self.planes, (1, 1), (self.stride, self.stride), padding=_pad(0), use_bias=False,
                        kernel_init=_conv_init, name="downsample_0")(x)
            x = BatchNorm(name="downsample_1")(x, train)
        return nn.relu(y + x)


def _max_pool_3x3_s2(x):
    return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 3, 3, 1), (1, 2, 2, 1),
                                 ((0, 0), (1, 1), (1, 1), (0, 0)))


class ResNet18(nn.Module):
    """torchvision ResNet-18 without the classifier head; returns ``{layer: features}`` for ``layers``."""

    layers: tuple[str, ...] = ("layer2", "layer3")

    @nn.compact
    def __call__(self, x, train: bool = False):
        layers = _check_layers(self.layers)
        out = {}
        x = nn.Conv(64, (7, 7), (2, 2), padding=_pad(3), use_bias=False, kernel_init=_conv_init, name="conv1")(x)
        x = nn.relu(BatchNorm(name="bn1")(x, train))
        out["conv1"] = x
        if "conv1" != max(layers, key=LAYERS.index):
            x = _max_pool_3x3_s2(x)
            inplanes = 64
            for layer in LAYERS[1:]:
                planes = _PLANES[layer]
                stride = 1 if layer == "layer1" else 2
                for i in range(_BLOCKS_PER_LAYER):
                    block = BasicBlock(planes, stride if i == 0 else 1,
                                       downsample=(i == 0 and (stride != 1 or inplanes != planes)),
                                       name=f"{layer}_{i}")
                    x = block(x, train)
                inplanes = planes
                out[layer] = x
                if layer == max(layers, key=LAYERS.index):
                    break
        return {name: out[name] for name in layers}


def init_backbone(key, layers: Sequence[str] = LAYERS) -> dict:
    """Random ResNet-18 variables ``{"params", "batch_stats"}`` with torchvision's initialisation.

    Pass ``layers`` ending before ``layer4`` to create only the layers up to the deepest one requested.
    """
    model = ResNet18(_check_layers(layers))
    variables = jax.jit(model.init)(key, jnp.zeros((1, 32, 32, 3), jnp.float32))
    return {"params": variables["params"], "batch_stats": variables["batch_stats"]}


# --- inference with BatchNorm folded into the convolutions ---------------------------------------------------


def fold_batchnorm(variables) -> dict:
    """``{conv path: {"kernel", "bias"}}``: each convolution with the inference BatchNorm after it folded in.

    Keys are ``conv1`` and ``layer2_0/conv1``-style paths (a block's ``downsample_0`` carries the folded
    ``downsample_1``). Folding once, outside the per-frame function, saves a pass over the weights per call.
    """
    params, stats = variables["params"], variables["batch_stats"]

    def fold(p, s, conv, bn):
        scale = p[bn]["scale"] * jax.lax.rsqrt(s[bn]["var"] + BN_EPS)
        return {"kernel": p[conv]["kernel"] * scale, "bias": p[bn]["bias"] - s[bn]["mean"] * scale}

    folded = {"conv1": fold(params, stats, "conv1", "bn1")}
    for name in params:
        if name.startswith("layer"):
            p, s = params[name], stats[name]
            folded[f"{name}/conv1"] = fold(p, s, "conv1", "bn1")
            folded[f"{name}/conv2"] = fold(p, s, "conv2", "bn2")
            if "downsample_0" in p:
                folded[f"{name}/downsample_0"] = fold(p, s, "downsample_0", "downsample_1")
    return folded


def _conv(x, kernel_bias, stride: int, pad: int):
    y = conv_general_dilated(x, kernel_bias["kernel"], (stride, stride), _pad(pad),
                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + kernel_bias["bias"]


def backbone_features_folded(folded: dict, images, layers: Sequence[str] = ("layer2", "layer3")) -> dict:
    """:func:`backbone_features` on weights already passed through :func:`fold_batchnorm`."""
    layers = _check_layers(layers)
    deepest = max(layers, key=LAYERS.index)
    out = {}
    x = jax.nn.relu(_conv(images, folded["conv1"], 2, 3))
    out["conv1"] = x
    if deepest != "conv1":
        x = _max_pool_3x3_s2(x)
        for layer in LAYERS[1:]:
            for i in range(_BLOCKS_PER_LAYER):
                name = f"{layer}_{i}"
                stride = 2 if (i == 0 and layer != "layer1") else 1
                y = jax.nn.relu(_conv(x, folded[f"{name}/conv1"], stride, 1))
                y = _conv(y, folded[f"{name}/conv2"], 1, 1)
                if f"{name}/downsample_0" in folded:
                    x = _conv(x, folded[f"{name}/downsample_0"], stride, 0)
                x = jax.nn.relu(y + x)
            out[layer] = x
            if layer == deepest:
                break
    return {name: out[name] for name in layers}


def backbone_features(variables, images, layers: Sequence[str] = ("layer2", "layer3")) -> dict:
    """Inference features ``{layer: (B, H/stride, W/stride, C)}`` of normalised NHWC ``images``.

    ``variables`` is ``{"params", "batch_stats"}`` as made by :func:`init_backbone` or the converter. Every
    BatchNorm (running statistics, eps 1e-5) is folded into the preceding convolution, so this is one conv +
    bias (+ ReLU) per layer; it agrees with ``ResNet18.apply(..., train=False)`` to float32 rounding.
    """
    return backbone_features_folded(fold_batchnorm(variables), images, layers)
