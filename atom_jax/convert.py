"""PyTorch state dicts (pytracking ATOM checkpoints, torchvision ResNet-18) -> atom-jax weights.

Name mapping (PyTorch -> Linen path, collection):
  * list indices join the module name: ``layer2.0.downsample.1`` -> ``layer2_0/downsample_1``;
  * pytracking conv blocks ``conv3_1r.0`` / ``conv3_1r.1`` -> ``conv3_1r/conv`` / ``conv3_1r/bn``;
  * ``weight`` -> ``kernel`` (conv, Linear) or ``scale`` (BatchNorm); ``running_mean``/``running_var`` ->
    ``batch_stats`` ``mean``/``var``; ``num_batches_tracked`` and the ResNet classifier ``fc.*`` are dropped.
Layouts: conv weights (O, I, kh, kw) -> HWIO; Linear (out, in) -> (in, out); a LinearBlock's Linear flattens
its pooled input (C, h, w) in PyTorch and (h, w, C) here, so its input axis is permuted accordingly.

``atom-jax convert SRC -o DST`` writes the project's weights file (see ``atom_jax.weights``) from any weights
file the other commands accept, an atom-jax ``.npz`` too: the output holds every part as loaded, so it is
self-contained.
"""

from __future__ import annotations

import argparse
import json
import os
import re

import numpy as np

from atom_jax.errors import InputError
from atom_jax.torch_pickle import StandIn, load_pth
from atom_jax.weights import (PARTS, expected_shapes, flatten_tree, load_weights_with_meta, save_weights,
                              unflatten_tree)

# pytracking key prefixes of the two networks inside ATOMnet.
ATOM_PREFIXES = {"backbone": "feature_extractor.", "iou_net": "bb_regressor."}
# LinearBlocks and the side of the pooled map they flatten.
_LINEAR_BLOCKS = {"fc3_rt": 5, "fc4_rt": 3}
_LEAF_NAMES = {("params", "scale"): "weight", ("params", "kernel"): "weight", ("params", "bias"): "bias",
               ("batch_stats", "mean"): "running_mean", ("batch_stats", "var"): "running_var"}


def _torch_module(part: str, modules: list[str]) -> str:
    names = []
    for i, name in enumerate(modules):
        if part == "iou_net" and i > 0 and modules[i - 1] not in _LINEAR_BLOCKS and name in ("conv", "bn"):
            name = "0" if name == "conv" else "1"
        names.append(re.sub(r"_(\d+)$", r".\1", name))
    return ".".join(names)


def torch_key(part: str, path: str) -> str:
    """PyTorch state-dict key (without prefix) of the Linen variable ``path`` (``params/layer1_0/conv1/kernel``)."""
    collection, *modules, leaf = path.split("/")
    return f"{_torch_module(part, modules)}.{_LEAF_NAMES[(collection, leaf)]}"


def _to_linen(path: str, value: np.ndarray) -> np.ndarray:
    """PyTorch layout -> Linen layout for the variable at ``path`` (shape errors surface in the caller)."""
    if not path.endswith("/kernel"):
        return value
    if value.ndim == 4:
        return value.transpose(2, 3, 1, 0)
    if value.ndim == 2:
        block = path.split("/")[1]
        if block in _LINEAR_BLOCKS:
            side = _LINEAR_BLOCKS[block]
            out, features = value.shape
            if features % (side * side) == 0:
                value = value.reshape(out, features // (side * side), side, side).transpose(0, 2, 3, 1)
                value = value.reshape(out, features)
        return value.T
    return value


def _is_ignored(part: str, key: str) -> bool:
    return key.endswith(".num_batches_tracked") or (part == "backbone" and key.startswith("fc."))


def convert_state_dict(state: dict, source: str, parts: tuple[str, ...] | None = None) -> tuple[dict, dict]:
    """``(weights, info)`` from a pytracking ATOMnet or torchvision ResNet-18 state dict of NumPy arrays.

    ``parts``: convert only these networks of a pytracking state dict (default: both). Raises ``InputError``
    listing missing keys, unexpected keys and shape mismatches.
    """
    keys = list(state)
    if any(k.startswith(p) for k in keys for p in ATOM_PREFIXES.values()):
        layout, prefixes = "pytracking", {p: ATOM_PREFIXES[p] for p in (parts or ATOM_PREFIXES)}
    elif "conv1.weight" in state and "layer1.0.conv1.weight" in state:
        layout, prefixes = "torchvision", {"backbone": ""}
    else:
        raise InputError(f"{source}: not a pytracking ATOM or torchvision ResNet-18 state dict "
                         f"(first keys: {', '.join(keys[:5]) or 'none'})")
    weights, used, problems = {}, set(), []
    for part, prefix in prefixes.items():
        missing, wrong, flat = [], [], {}
        for path, shape in expected_shapes(part).items():
            key = prefix + torch_key(part, path)
            if key not in state:
                missing.append(key)
                continue
            used.add(key)
            value = np.asarray(state[key])
            converted = _to_linen(path, value) if value.size == int(np.prod(shape)) else value
            if tuple(converted.shape) != shape:
                wrong.append(f"{key}: {tuple(value.shape)}")
                continue
            flat[path] = np.ascontiguousarray(converted, dtype=np.float32)
        problems += [f"missing: {', '.join(missing)}"] if missing else []
        problems += [f"shape mismatch: {', '.join(wrong)}"] if wrong else []
        weights[part] = unflatten_tree(flat)
    dropped = [k for k in keys if k not in used
               and any(k.startswith(p) and _is_ignored(part, k[len(p):]) for part, p in prefixes.items())]
    unexpected = [k for k in keys if k not in used and k not in dropped]
    if unexpected:
        problems.append(f"unexpected: {', '.join(unexpected)}")
    if problems:
        raise InputError(f"{source}: state dict does not match the {layout} layout: " + "; ".join(problems))
    return weights, {"layout": layout, "dropped_keys": [k for k in dropped if not k.endswith("num_batches_tracked")]}


def _plain(obj):
    """JSON-friendly view of checkpoint metadata (stand-ins become their recorded fields)."""
    if isinstance(obj, StandIn):
        return {"class": obj._qualified_name, **{k: _plain(v) for k, v in vars(obj).items() if k != "state"}}
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return f"array{obj.shape}"
    return obj if isinstance(obj, (str, int, float, bool, type(None))) else repr(obj)


def convert_checkpoint(path) -> tuple[dict, dict]:
    """Read a pytracking checkpoint or torchvision state dict safely; return ``(weights, meta)``."""
    source = str(path)
    obj = load_pth(source)
    extra = {}
    if isinstance(obj, dict) and "net" in obj and isinstance(obj["net"], dict):
        state = obj["net"]
        extra = {k: _plain(v) for k, v in obj.items() if k != "net"}
    elif isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        state = obj["state_dict"]
    elif isinstance(obj, dict) and obj and all(isinstance(v, np.ndarray) for v in obj.values()):
        state = obj
    else:
        raise InputError(f"{source}: a PyTorch file, but it holds no state dict (found {type(obj).__name__})")
    weights, info = convert_state_dict(state, source)
    meta = {"source_file": os.path.basename(source), **info, "checkpoint": extra}
    return weights, meta


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("src", metavar="SRC",
                        help="any weights file: a pytracking checkpoint or torchvision resnet18 state dict (.pth), "
                             "or an atom-jax .npz (e.g. the bundled demo weights, whose backbone is rebuilt)")
    parser.add_argument("-o", "--output", required=True, metavar="DST",
                        help="atom-jax weights file to write (.npz), self-contained: every part SRC gives, stored")


def run(args) -> int:
    """``SRC`` read as every command reads weights (:func:`atom_jax.weights.load_weights_with_meta`: a ``.pth``
    converted, an ``.npz`` completed where its header says how), then written with all its parts stored."""
    if not str(args.output).endswith(".npz"):
        raise InputError(f"{args.output}: the output file name must end with .npz")
    weights, meta = load_weights_with_meta(args.src)
    meta = {**meta, "converted_from": os.path.basename(str(args.src))}
    save_weights(args.output, weights, meta)
    counts = {part: int(sum(np.size(v) for v in flatten_tree(weights[part]).values())) for part in weights}
    details = []
    if not str(args.src).lower().endswith(".npz"):  # converted from PyTorch just now
        details = [f"{meta['layout']} layout"] if "layout" in meta else []
        if meta.get("dropped_keys"):
            details.append(f"dropped {', '.join(meta['dropped_keys'])}")
    print(f"wrote {args.output}: {json.dumps(counts)} values" + (f" ({'; '.join(details)})" if details else ""))
    missing = [part for part in PARTS if part not in weights]
    if missing:
        print(f"note: {args.output} holds no {' and no '.join(missing)} ({args.src} gives none), so it is not "
              "self-contained")
    return 0
