"""The project's weights file: one ``.npz`` holding the weights pytree and a JSON header.

Pytree (see ARCHITECTURE.md)::

    {"backbone": {"params": ..., "batch_stats": ...},   # ResNet-18 (atom_jax.backbone)
     "iou_net":  {"params": ..., "batch_stats": ...}}   # AtomIoUNet (atom_jax.iou_net)

A file may hold either part alone (e.g. a converted torchvision ResNet-18 has only ``backbone``). The backbone
is any of :mod:`atom_jax.backbones` (recognised by its array names and shapes). A file that stores only the
IoU-Net names how to rebuild its backbone in ``meta["backbone"]`` (``{"name": "efficientnet_lite0", "weights":
"pretrained"}``: the ImageNet weights of the installed package; ``{"name": "resnet18", "init_seed": 0}``: a seeded
random network), and :func:`load_weights` fills it in; ``meta["tracker"]`` holds the tracker settings the
weights are meant for (``track.api`` applies them). Built-in weights (:data:`BUILTIN`) load by name.

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

# Weights that ship with the package, by name (``--weights demo``; the default of every command).
BUILTIN = {"demo": "demo.npz"}
DEFAULT = "demo"
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
def _iou_net_shapes(input_dim=(128, 256), pred_input_dim=(256, 256), pred_inter_dim=(256, 256),
                    test_dim=(256, 256)) -> dict:
    from atom_jax.iou_net import init_iou_net

    shapes = jax.eval_shape(lambda k: init_iou_net(k, input_dim, pred_input_dim, pred_inter_dim, test_dim),
                            jax.random.PRNGKey(0))
    return {path: tuple(leaf.shape) for path, leaf in flatten_tree(shapes).items()}


def expected_shapes(part: str, variables: dict | None = None) -> dict:
    """``{"params/.../kernel": shape}`` that ``part`` (``backbone`` or ``iou_net``) must have. Without
    ``variables``: pytracking's networks (ResNet-18, the IoU-Net for its features). With them: the registered
    backbone they match best (:func:`atom_jax.backbones.identify`), or the IoU-Net with the channel counts read
    off their shapes."""
    from atom_jax import backbones

    if part == "backbone":
        return backbones.expected_shapes(backbones.identify(variables) if variables is not None else "resnet18")
    if part == "iou_net":
        if variables is None:
            return _iou_net_shapes()
        from atom_jax.iou_net import dims

        try:
            d = dims(variables)
        except (KeyError, TypeError, IndexError):
            return _iou_net_shapes()
        return _iou_net_shapes(d["input_dim"], d["pred_input_dim"], d["pred_inter_dim"], d["test_dim"])
    raise InputError(f"unknown weights part {part!r}; expected one of {PARTS}")


def check_weights(weights: dict, source: str) -> None:
    """Raise ``InputError`` listing missing, unexpected and wrongly shaped arrays of ``weights``."""
    unknown = sorted(set(weights) - set(PARTS))
    problems = [f"unexpected parts {unknown}"] if unknown else []
    if not set(weights) & set(PARTS):
        problems.append(f"none of the parts {PARTS}")
    for part in PARTS:
        if part not in weights:
            continue
        expected = expected_shapes(part, weights[part])
        got = {k: tuple(np.shape(v)) for k, v in flatten_tree(weights[part]).items()}
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


def backbone_recipe(meta: dict) -> dict | None:
    """How to rebuild a backbone a file does not store, from its ``meta``: ``{"name": ..., "weights":
    "pretrained"}`` (ImageNet weights of an installed package) or ``{"name": ..., "init_seed": N}`` (a seeded
    random network). Files written before the recipe existed say ``backbone_init_seed`` (a ResNet-18)."""
    recipe = meta.get("backbone")
    if isinstance(recipe, dict):
        return recipe
    if meta.get("backbone_init_seed") is not None:
        return {"name": "resnet18", "init_seed": int(meta["backbone_init_seed"])}
    return None


def build_backbone(recipe: dict, source: str) -> dict:
    """The backbone variables ``recipe`` (see :func:`backbone_recipe`) describes."""
    from atom_jax import backbones

    bb = backbones.get(str(recipe.get("name")))
    if recipe.get("weights") == "pretrained":
        if bb.pretrained is None:
            raise InputError(f"{source}: backbone {bb.name!r} has no pretrained weights here ({bb.pretrained_source})")
        return bb.pretrained()
    if "init_seed" in recipe:
        return _init_jit(bb.name, int(recipe["init_seed"]))
    raise InputError(f"{source}: cannot rebuild its backbone from {recipe!r}")


@lru_cache(maxsize=4)
def _init_jit(name: str, seed: int):
    from atom_jax import backbones

    return jax.tree_util.tree_map(np.asarray, jax.jit(backbones.get(name).init)(jax.random.PRNGKey(seed)))


def complete(weights: dict, meta: dict, source: str) -> dict:
    """``weights`` with the backbone its ``meta`` names filled in when the file does not store it."""
    if "backbone" in weights:
        return weights
    recipe = backbone_recipe(meta)
    if recipe is None:
        return weights
    return {**weights, "backbone": build_backbone(recipe, source)}


def resolve_path(spec) -> str:
    """A weights argument as a file path: a built-in name (:data:`BUILTIN`, ``None`` for :data:`DEFAULT`) or a
    path; ``InputError`` when the file does not exist."""
    import pathlib

    if spec is None:
        spec = DEFAULT
    if str(spec) in BUILTIN:
        path = pathlib.Path(__file__).resolve().parent / "weights" / BUILTIN[str(spec)]
        if not path.is_file():
            raise InputError(f"built-in weights {spec!r} are missing from this installation ({path})")
        return str(path)
    path = pathlib.Path(spec)
    if not path.is_file():
        what = "a folder, not a weights file" if path.is_dir() else "weights file not found"
        raise InputError(f"{path}: {what} (give an atom-jax .npz, a pytracking .pth, or a built-in name: "
                         f"{', '.join(BUILTIN)})")
    return str(path)


def tracker_settings(meta: dict) -> dict:
    """The tracker settings a weights file asks for (its meta's ``tracker``: backbone, feature maps, tuned
    classifier settings), as ``atom_jax.config.with_overrides`` takes them."""
    settings = meta.get("tracker") or {}
    if not isinstance(settings, dict):
        raise InputError(f"weights meta 'tracker' must be a dict of tracker settings, got {settings!r}")
    return dict(settings)


def load_weights_with_meta(path, complete_backbone: bool = True) -> tuple[dict, dict]:
    """Like :func:`load_weights`, also returning the provenance ``meta`` dict."""
    source = resolve_path(path)
    if _is_weights_file(source):
        weights, header = read_weights_file(source)
        meta = header.get("meta", {})
    else:
        from atom_jax.convert import convert_checkpoint  # a PyTorch file: convert on the fly

        weights, meta = convert_checkpoint(source)
    if complete_backbone:
        weights = complete(weights, meta, source)
    return jax.tree_util.tree_map(jax.numpy.asarray, weights), meta


def load_weights(path, complete_backbone: bool = True) -> dict:
    """The weights pytree from an atom-jax ``.npz``, a pytracking / torchvision ``.pth`` (converted) or a built-in
    name (:data:`BUILTIN`). A file
    that stores only the IoU-Net gets the backbone its meta names (:func:`complete`) unless
    ``complete_backbone=False``."""
    return load_weights_with_meta(path, complete_backbone)[0]
