"""The project's weights file: one ``.npz`` holding the weights pytree and a JSON header.

Pytree (see ARCHITECTURE.md)::

    {"backbone": {"params": ..., "batch_stats": ...},   # ResNet-18 (atom_jax.backbone)
     "iou_net":  {"params": ..., "batch_stats": ...}}   # AtomIoUNet (atom_jax.iou_net)

A file may hold either part alone (e.g. a converted torchvision ResNet-18 has only ``backbone``).

File layout: every leaf is an array named by its path joined with ``/``
(``backbone/params/layer1_0/conv1/kernel``), float32 as stored, so a save/load round trip is exact. The array
``__header__`` is a JSON string: ``format`` (``atom-jax-weights``), ``format_version``, ``atom_jax_version``,
``contents`` (the top-level parts) and ``meta`` (provenance given by whoever saved it, e.g. the converted
source file). Reading uses ``allow_pickle=False``: loading a weights file never runs code.
"""

from __future__ import annotations

import json
import zipfile
from functools import lru_cache

import jax
import numpy as np

from atom_jax import __version__
from atom_jax.errors import InputError

FORMAT = "atom-jax-weights"
FORMAT_VERSION = 1
PARTS = ("backbone", "iou_net")
_HEADER = "__header__"


def flatten_tree(tree, prefix=()):
    if isinstance(tree, dict) or hasattr(tree, "items"):
        out = {}
        for key, value in tree.items():
            if not isinstance(key, str) or "/" in key or not key:
                raise InputError(f"weights key {key!r} under {'/'.join(prefix)!r} is not a plain name")
            out.update(flatten_tree(value, prefix + (key,)))
        return out
    return {"/".join(prefix): tree}


def unflatten_tree(flat: dict) -> dict:
    tree: dict = {}
    for path, value in flat.items():
        node = tree
        *parents, leaf = path.split("/")
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = value
    return tree


@lru_cache(maxsize=None)
def expected_shapes(part: str) -> dict:
    """``{"params/.../kernel": shape}`` of a freshly initialised ``part`` (``backbone`` or ``iou_net``)."""
    if part == "backbone":
        from atom_jax.backbone import init_backbone as init
    elif part == "iou_net":
        from atom_jax.iou_net import init_iou_net as init
    else:
        raise InputError(f"unknown weights part {part!r}; expected one of {PARTS}")
    shapes = jax.eval_shape(init, jax.random.PRNGKey(0))
    return {path: tuple(leaf.shape) for path, leaf in flatten_tree(shapes).items()}


def check_weights(weights: dict, source: str) -> None:
    """Raise ``InputError`` listing missing, unexpected and wrongly shaped arrays of ``weights``."""
    unknown = sorted(set(weights) - set(PARTS))
    problems = [f"unexpected parts {unknown}"] if unknown else []
    if not set(weights) & set(PARTS):
        problems.append(f"none of the parts {PARTS}")
    for part in PARTS:
        if part not in weights:
            continue
        expected, got = expected_shapes(part), {k: v.shape for k, v in flatten_tree(weights[part]).items()}
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        wrong = [f"{k}: {got[k]} (expected {expected[k]})" for k in sorted(set(got) & set(expected))
                 if tuple(got[k]) != expected[k]]
        for label, items in (("missing", missing), ("unexpected", extra), ("shape mismatch", wrong)):
            if items:
                problems.append(f"{part}: {label}: {', '.join(items)}")
    if problems:
        raise InputError(f"{source}: weights do not match the networks: " + "; ".join(problems))


def save_weights(path, weights: dict, meta: dict | None = None) -> None:
    """Write ``weights`` (checked against the network shapes) and provenance ``meta`` to ``path`` (.npz)."""
    check_weights(weights, str(path))
    arrays = {k: np.asarray(v) for k, v in flatten_tree({p: weights[p] for p in PARTS if p in weights}).items()}
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "atom_jax_version": __version__,
              "contents": [part for part in PARTS if part in weights], "meta": meta or {}}
    arrays[_HEADER] = np.array(json.dumps(header, default=repr))
    with open(path, "wb") as f:  # a file object: numpy would otherwise append ".npz" to the name
        np.savez(f, **arrays)


def _is_weights_file(path: str) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            return f"{_HEADER}.npy" in zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def read_weights_file(path) -> tuple[dict, dict]:
    """``(weights as NumPy arrays, header)`` of an atom-jax weights file."""
    source = str(path)
    try:
        with np.load(source, allow_pickle=False) as npz:
            flat = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise InputError(f"{source}: not a readable atom-jax weights file ({err})") from None
    try:
        header = json.loads(str(flat.pop(_HEADER)))
    except (KeyError, json.JSONDecodeError):
        raise InputError(f"{source}: not an atom-jax weights file (no valid {_HEADER})") from None
    if header.get("format") != FORMAT:
        raise InputError(f"{source}: not an atom-jax weights file (format {header.get('format')!r})")
    if header.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{source}: weights format version {header.get('format_version')!r} is not supported "
                         f"(this atom-jax reads version {FORMAT_VERSION})")
    weights = unflatten_tree(flat)
    check_weights(weights, source)
    return weights, header


def load_weights_with_meta(path) -> tuple[dict, dict]:
    """Like :func:`load_weights`, also returning the provenance ``meta`` dict."""
    source = str(path)
    if _is_weights_file(source):
        weights, header = read_weights_file(source)
        meta = header.get("meta", {})
    else:
        from atom_jax.convert import convert_checkpoint  # a PyTorch file: convert on the fly

        weights, meta = convert_checkpoint(source)
    return jax.tree_util.tree_map(jax.numpy.asarray, weights), meta


def load_weights(path) -> dict:
    """The weights pytree from an atom-jax ``.npz`` or a pytracking / torchvision ``.pth`` (converted)."""
    return load_weights_with_meta(path)[0]
