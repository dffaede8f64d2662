"""Offline training of the IoU-Net (paper Sec. 3.1 "Training"; ltr's ``bbreg/atom.py``) as a library.

State is a plain dict ``{"step": int32, "weights": {"backbone", "iou_net"}, "opt_state": ...}``. The step
differentiates only the trainable subtree (``weights["iou_net"]["params"]``, plus the backbone's params when
``train_backbone``), so a frozen backbone never enters ``grad``.

Semantics (ltr's ATOM settings unless noted):
  * loss: mean squared error between predicted and target IoU (mapped to [-1, 1]) over all proposals;
  * IoU head BatchNorm with batch statistics in training, running statistics (updated by training) in
    validation; the frozen backbone uses running statistics (ltr, by leaving the whole net in train mode,
    normalises even the frozen backbone with batch statistics: ``backbone_bn_train=True`` reproduces that);
    train and test images go through the backbone separately, as in ltr (it matters for batch statistics);
  * Adam, learning rate 1e-3 multiplied by 0.2 every 15 epochs (an optax staircase schedule on the step);
  * an epoch is ``steps_per_epoch`` batches; validation every ``val_every_epochs`` epochs.

Data parallel: the batch is sharded over all devices along a ``data`` mesh axis and the state replicated; the
jitted step is the same program, XLA inserts the reductions. Across processes (``jax.distributed``) each
process makes its own slice of every batch (indices ``[p B/P, (p+1) B/P)``), so the global batch equals the
single-process one.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from atom_jax import backbone as bb
from atom_jax import backbones, iou_net
from atom_jax.errors import InputError

FEATURE_LAYERS = ("layer2", "layer3")  # ResNet-18's maps for the IoU-Net (pytracking's)


def model_spec(cfg: dict) -> dict:
    """``cfg["model"]`` with its defaults: the backbone (a name in :data:`atom_jax.backbones.REGISTRY`), the two
    maps (strides 8 and 16) that feed the IoU-Net and the IoU-Net's widths (pytracking's ``pred_input_dim``,
    ``pred_inter_dim``, and ``test_dim``, the widths of the test branch's first convolutions; its ``input_dim``
    follows from the maps). Defaults: pytracking's ResNet-18 ATOM."""
    model = {"backbone": "resnet18", "iou_layers": list(FEATURE_LAYERS), "pred_input_dim": [256, 256],
             "pred_inter_dim": [256, 256], "test_dim": [256, 256], **cfg.get("model", {})}
    bbone = backbones.get(model["backbone"])
    bbone.check_layers(model["iou_layers"])
    strides = tuple(bbone.stride(name) for name in model["iou_layers"])
    if strides != (8, 16):
        raise InputError(f"model.iou_layers {model['iou_layers']} have strides {strides}; the IoU-Net needs (8, 16)")
    return model


# ------------------------------------------------------------------------------------------------- weights


def init_weights(cfg: dict) -> dict:
    """Initial weights: a seeded ResNet-18 (or ``init.backbone_weights``, a weights file) and a seeded head (or
    ``init.iou_net_weights``, a weights file whose IoU-Net continues training, e.g. to fine-tune it together
    with the backbone)."""
    from atom_jax.weights import load_weights

    init, model = cfg["init"], model_spec(cfg)
    bbone = backbones.get(model["backbone"])
    if init.get("backbone_weights") == "pretrained":
        if bbone.pretrained is None:
            raise InputError(f"init.backbone_weights=pretrained: backbone {bbone.name!r} has none here "
                             f"({bbone.pretrained_source})")
        backbone = jax.tree_util.tree_map(jnp.asarray, bbone.pretrained())
    elif init.get("backbone_weights"):
        backbone = _part(load_weights(init["backbone_weights"]), "backbone", init["backbone_weights"])
    elif bbone.name == "resnet18":
        backbone = _init_backbone_jit(jax.random.PRNGKey(init["backbone_seed"]))
    else:
        backbone = jax.jit(bbone.init)(jax.random.PRNGKey(init["backbone_seed"]))
    if backbones.identify(backbone) != bbone.name:
        raise InputError(f"init.backbone_weights: the weights hold a {backbones.identify(backbone)}, "
                         f"model.backbone is {bbone.name}")
    if init.get("iou_net_weights"):
        head = _part(load_weights(init["iou_net_weights"]), "iou_net", init["iou_net_weights"])
    else:
        input_dim = tuple(bbone.channels(name) for name in model["iou_layers"])
        head = jax.jit(functools.partial(iou_net.init_iou_net, input_dim=input_dim,
                                         pred_input_dim=tuple(model["pred_input_dim"]),
                                         pred_inter_dim=tuple(model["pred_inter_dim"]),
                                         test_dim=tuple(model["test_dim"])))(
            jax.random.PRNGKey(init["iou_net_seed"]))
    return {"backbone": backbone, "iou_net": head}


def _part(weights: dict, part: str, path: str) -> dict:
    if part not in weights:
        raise InputError(f"{path}: has no {part!r} weights (it holds {sorted(weights)})")
    return weights[part]


@jax.jit
def _init_backbone_jit(key):
    """``init_backbone(key)`` up to layer3 (what the IoU-Net and the classifier use), compiled once: Flax derives
    each layer's parameters from its own path, so they equal the full network's (to float32 rounding)."""
    return bb.init_backbone(key, FEATURE_LAYERS)


def trainable_of(weights: dict, train_backbone: bool) -> dict:
    out = {"iou_net": weights["iou_net"]["params"]}
    if train_backbone:
        out["backbone"] = weights["backbone"]["params"]
    return out


def with_trainable(weights: dict, trainable: dict) -> dict:
    out = {k: dict(v) for k, v in weights.items()}
    for part, params in trainable.items():
        out[part]["params"] = params
    return out


def make_optimizer(cfg: dict) -> optax.GradientTransformation:
    """Adam with ltr's StepLR as a staircase schedule on the step count."""
    schedule = optax.exponential_decay(cfg["learning_rate"], cfg["lr_decay_epochs"] * cfg["steps_per_epoch"],
                                       cfg["lr_decay"], staircase=True)
    return optax.adam(schedule)


def init_state(cfg: dict) -> dict:
    weights = init_weights(cfg)
    opt_state = make_optimizer(cfg).init(trainable_of(weights, cfg["train_backbone"]))
    return {"step": jnp.zeros((), jnp.int32), "weights": weights, "opt_state": opt_state}


# ------------------------------------------------------------------------------------------------- forward


def _features(backbone_vars, images, bn_train: bool, backbone: str, layers: tuple):
    """Backbone features of ``images`` (already normalised for ``backbone``); returns ``(features, new
    backbone batch_stats or None)``."""
    bbone = backbones.get(backbone)
    if not bn_train:
        return bbone.features_folded(bbone.fold(backbone_vars), images, layers), None
    if backbone != "resnet18":
        raise InputError(f"backbone_bn_train (batch statistics in the backbone) is only implemented for resnet18, "
                         f"not {backbone}")
    feats, upd = bb.ResNet18(layers).apply(backbone_vars, images, train=True, mutable=["batch_stats"])
    return feats, upd["batch_stats"]


def loss_fn(trainable: dict, weights: dict, batch: dict, *, train: bool, train_backbone: bool,
            backbone_bn_train: bool, backbone: str = "resnet18", iou_layers: tuple = FEATURE_LAYERS):
    """MSE of the IoU predictions; returns ``(loss, (new weights batch_stats, predictions))``. Images in the
    batch are RGB 0..255; each backbone applies its own input normalisation."""
    w = with_trainable(weights, trainable)
    bn_train = train and backbone_bn_train
    backbone_vars = w["backbone"]
    norm = backbones.get(backbone).normalize
    feats_ref, stats1 = _features(backbone_vars, norm(batch["train_images"]), bn_train, backbone, iou_layers)
    if stats1 is not None:
        backbone_vars = {**backbone_vars, "batch_stats": stats1}
    test_images, proposals, targets = batch["test_images"], batch["proposals_xywh"], batch["proposal_iou"]
    if test_images.ndim == 5:  # (B, T, S, S, 3): T test frames per reference, ordered reference-major
        test_images = test_images.reshape((-1,) + test_images.shape[2:])
        proposals, targets = proposals.reshape((-1,) + proposals.shape[2:]), targets.reshape(-1, targets.shape[-1])
    feats_test, stats2 = _features(backbone_vars, norm(test_images), bn_train, backbone, iou_layers)
    if not train_backbone:
        feats_ref, feats_test = jax.lax.stop_gradient((feats_ref, feats_test))
    pred, head_stats = iou_net.iou_net_forward(w["iou_net"], feats_ref, feats_test, batch["train_box_xywh"],
                                               proposals, train=train, layers=iou_layers)
    loss = jnp.mean(jnp.square(pred - targets))
    new_stats = {"iou_net": head_stats, "backbone": stats2 if stats2 is not None else w["backbone"]["batch_stats"]}
    return loss, (new_stats, pred)


def _flags(cfg):
    model = model_spec(cfg)
    return dict(train_backbone=bool(cfg["train_backbone"]), backbone_bn_train=bool(cfg["backbone_bn_train"]),
                backbone=model["backbone"], iou_layers=tuple(model["iou_layers"]))


def loss_and_grad(cfg: dict):
    """The training step's loss and gradient, not jitted: ``(trainable, weights, batch) -> ((loss, (stats,
    pred)), grads)`` (:func:`loss_fn` in training mode)."""
    return jax.value_and_grad(functools.partial(loss_fn, train=True, **_flags(cfg)), has_aux=True)


def make_train_step(cfg: dict):
    """``train_step(state, batch) -> (state, metrics)``, jitted once; the old state's buffers are donated."""
    optimizer = make_optimizer(cfg)
    train_backbone = _flags(cfg)["train_backbone"]
    grad_fn = loss_and_grad(cfg)

    def train_step(state, batch):
        weights = state["weights"]
        trainable = trainable_of(weights, train_backbone)
        (loss, (stats, _)), grads = grad_fn(trainable, weights, batch)
        updates, opt_state = optimizer.update(grads, state["opt_state"], trainable)
        trainable = optax.apply_updates(trainable, updates)
        new_weights = with_trainable(weights, trainable)
        for part in ("iou_net", "backbone"):
            new_weights[part]["batch_stats"] = stats[part]
        metrics = {"loss": loss, "grad_norm": optax.tree.norm(grads)}
        return {"step": state["step"] + 1, "weights": new_weights, "opt_state": opt_state}, metrics

    return jax.jit(train_step, donate_argnums=(0,))


def make_eval_step(cfg: dict):
    """``eval_step(weights, batch) -> metrics``: running statistics everywhere, no update."""
    flags = _flags(cfg)

    def eval_step(weights, batch):
        loss, (_, pred) = loss_fn(trainable_of(weights, flags["train_backbone"]), weights, batch, train=False,
                                  **flags)
        return {"loss": loss}

    return jax.jit(eval_step)


# ------------------------------------------------------------------------------------------------ sharding


def data_mesh(devices=None) -> Mesh:
    """A 1-D mesh ``("data",)`` over ``devices`` (default: every device of every process)."""
    return Mesh(np.asarray(jax.devices() if devices is None else devices), ("data",))


def replicate(tree, mesh: Mesh):
    sharding = NamedSharding(mesh, P())
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)
    # Every process holds the same values (same seeds): assemble global replicated arrays from them.
    return jax.tree_util.tree_map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x), np.shape(x)), tree)


def process_indices(batch_size: int, mesh: Mesh | None = None) -> list[int]:
    """This process's slice of every batch."""
    n, p = jax.process_count(), jax.process_index()
    n_dev = jax.device_count() if mesh is None else mesh.size
    if batch_size % n_dev:
        raise InputError(f"batch_size {batch_size} must be divisible by the number of devices {n_dev}")
    per = batch_size // n
    return list(range(p * per, (p + 1) * per))


def shard_batch(local_batch: dict, mesh: Mesh, batch_size: int) -> dict:
    """Global arrays sharded along the batch axis, from this process's slice."""
    sharding = NamedSharding(mesh, P("data"))
    return {k: jax.make_array_from_process_local_data(sharding, v, (batch_size,) + v.shape[1:])
            for k, v in local_batch.items()}


def host_value(x) -> np.ndarray:
    """A replicated array's value on this host (works when it spans several processes)."""
    return np.asarray(x.addressable_data(0)) if hasattr(x, "addressable_data") else np.asarray(x)


# ------------------------------------------------------------------------------------------------- configs


def apply_overrides(cfg: dict, overrides: list[str]) -> dict:
    """``["a.b=3", "name=text"]`` -> a copy of ``cfg`` with those entries replaced. Values are Python literals
    (numbers, booleans, lists, quoted strings) or else plain strings; the key must exist."""
    import ast

    cfg = copy.deepcopy(cfg)
    for item in overrides:
        if "=" not in item:
            raise InputError(f"--set {item!r}: expected name=value")
        key, text = item.split("=", 1)
        node: Any = cfg
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if not isinstance(node, dict) or part not in node:
                raise InputError(f"--set {key}: unknown setting {part!r}")
            node = node[part]
        if not isinstance(node, dict) or parts[-1] not in node:
            raise InputError(f"--set {key}: unknown setting; known here: {sorted(node) if isinstance(node, dict) else []}")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        old = node[parts[-1]]
        if isinstance(old, bool) and not isinstance(value, bool):
            raise InputError(f"--set {key}: expected True or False, got {text!r}")
        if isinstance(old, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        node[parts[-1]] = value
    return cfg
