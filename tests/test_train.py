"""The training library: the step (vs a float64 Adam reference), the schedule, configs; in-process and fast."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_jax.errors import InputError
from train import loop, pipeline
from train import train as T
from train.configs import load_config, resolve_data


@pytest.fixture(scope="module")
def tiny():
    cfg = resolve_data(load_config("tiny"))
    state = T.init_state(cfg)
    batch = next(pipeline.batches(loop._spec(cfg, "train"), [0], cfg["batch_size"]))[1]
    return cfg, state, batch


def test_one_step_is_adam_on_the_head_only(tiny):
    cfg, state, batch = tiny
    trainable = T.trainable_of(state["weights"], False)
    # the step's own gradient function, jitted: one compilation instead of one per operation
    (loss, (stats, pred)), grads = jax.jit(T.loss_and_grad(cfg))(trainable, state["weights"], batch)
    # The loss is the MSE of the predictions, written out in float64.
    ref_loss = np.mean((np.asarray(pred, np.float64) - batch["proposal_iou"]) ** 2)
    np.testing.assert_allclose(float(loss), ref_loss, rtol=1e-6)

    step = T.make_train_step(cfg)
    new_state, metrics = step(jax.tree_util.tree_map(jnp.array, state), batch)
    np.testing.assert_allclose(float(metrics["loss"]), float(loss), rtol=1e-5)
    # Adam's first step (bias-corrected m/sqrt(v) = g/|g|): p - lr * g / (|g| + eps), float64 reference.
    lr, eps = cfg["learning_rate"], 1e-8
    flat_new = jax.tree_util.tree_leaves(new_state["weights"]["iou_net"]["params"])
    flat_old = jax.tree_util.tree_leaves(state["weights"]["iou_net"]["params"])
    flat_g = jax.tree_util.tree_leaves(grads["iou_net"])
    g_max = max(float(np.abs(g).max()) for g in flat_g)
    for new, old, g in zip(flat_new, flat_old, flat_g):
        g = np.asarray(g, np.float64)
        ref = np.asarray(old, np.float64) - lr * g / (np.abs(g) + eps)
        # Where the true gradient is zero (a conv bias followed by BatchNorm) the computed one is rounding
        # noise and Adam's first step takes its sign, which differs between two float32 evaluations (two
        # programs here: the gradient alone and the whole step). Entries near zero by cancellation do too:
        # seen up to 1.2e-4 * g_max.
        real = np.abs(g) > 1e-3 * g_max
        np.testing.assert_allclose(np.asarray(new)[real], ref[real], atol=2e-6)
    # The frozen backbone does not move; the head's running statistics do (BatchNorm in training mode).
    for a, b in zip(jax.tree_util.tree_leaves(state["weights"]["backbone"]),
                    jax.tree_util.tree_leaves(new_state["weights"]["backbone"])):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    moved = [not np.allclose(a, b) for a, b in zip(jax.tree_util.tree_leaves(state["weights"]["iou_net"]["batch_stats"]),
                                                   jax.tree_util.tree_leaves(new_state["weights"]["iou_net"]["batch_stats"]))]
    assert all(moved)
    assert int(new_state["step"]) == 1


def test_eval_step_uses_running_statistics(tiny):
    cfg, state, batch = tiny
    ev = T.make_eval_step(cfg)
    loss = float(ev(state["weights"], batch)["loss"])
    # Same as the head applied with train=False by hand.
    from atom_jax import backbone as bb, iou_net
    from atom_jax.image import normalize

    @jax.jit  # one compilation, not one per operation
    def by_hand(w, batch):
        f1 = bb.backbone_features(w["backbone"], normalize(batch["train_images"]))
        f2 = bb.backbone_features(w["backbone"], normalize(batch["test_images"]))
        return iou_net.AtomIoUNet().apply(w["iou_net"], f1, f2, batch["train_box_xywh"], batch["proposals_xywh"])

    pred = by_hand(state["weights"], batch)
    np.testing.assert_allclose(loss, float(np.mean((np.asarray(pred) - batch["proposal_iou"]) ** 2)), rtol=1e-5)


def test_schedule_is_ltrs_steplr():
    cfg = {"learning_rate": 1e-3, "lr_decay_epochs": 15, "lr_decay": 0.2, "steps_per_epoch": 1000}
    sched = T.optax.exponential_decay(1e-3, 15000, 0.2, staircase=True)
    for step, lr in [(0, 1e-3), (14999, 1e-3), (15000, 2e-4), (29999, 2e-4), (30000, 4e-5), (49999, 8e-6)]:
        np.testing.assert_allclose(float(sched(step)), lr, rtol=1e-6)
    assert T.make_optimizer(cfg) is not None


def test_overrides_and_config_errors():
    cfg = load_config("atom_default")
    out = T.apply_overrides(cfg, ["batch_size=8", "learning_rate=1", "data.roots.lasot=/x y", "train_backbone=True"])
    assert out["batch_size"] == 8 and out["learning_rate"] == 1.0 and isinstance(out["learning_rate"], float)
    assert out["data"]["roots"]["lasot"] == "/x y" and out["train_backbone"] is True
    assert cfg["batch_size"] == 64  # the original is not modified
    with pytest.raises(InputError, match="unknown setting"):
        T.apply_overrides(cfg, ["batch_sise=8"])
    with pytest.raises(InputError, match="True or False"):
        T.apply_overrides(cfg, ["train_backbone=1"])
    with pytest.raises(InputError, match="unknown config"):
        load_config("nope")
    with pytest.raises(InputError, match="no training data"):
        resolve_data(load_config("atom_default"))
    filled = resolve_data(T.apply_overrides(cfg, ["data.roots.got10k=/g", "data.roots.coco=/c"]))
    assert [d["kind"] for d in filled["data"]["train"]] == ["got10k", "coco"] and filled["val_steps"] == 0


def test_pipeline_workers_make_the_same_batches(tiny):
    cfg, _, _ = tiny
    spec = loop._spec(cfg, "train")
    inline = list(pipeline.batches(spec, [3, 4, 5], 2, None, num_workers=0))
    workers = list(pipeline.batches(spec, [3, 4, 5], 2, None, num_workers=2, prefetch=1))
    assert [s for s, _ in workers] == [3, 4, 5]
    for (_, a), (_, b) in zip(inline, workers):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


def test_a_bad_dataset_in_a_worker_is_an_error_not_a_hang(tmp_path):
    spec = {"datasets": [{"kind": "lasot", "root": str(tmp_path / "none")}], "weights": [1.0],
            "processing": {}, "seed": 0, "stream": 0}
    with pytest.raises(InputError, match="LaSOT root"):
        next(pipeline.batches(spec, [0], 2, None, num_workers=1))
    with pytest.raises(InputError, match="LaSOT root"):
        next(pipeline.batches(spec, [0], 2, None, num_workers=0))


def test_init_from_weights_files(tiny, tmp_path):
    """``init.iou_net_weights`` continues from a file's head (fine-tuning); a file without that part is an error."""
    from atom_jax.weights import save_weights

    cfg, state, _ = tiny
    head = jax.tree_util.tree_map(lambda a: np.asarray(a) + 0.5, state["weights"]["iou_net"])
    save_weights(tmp_path / "head.npz", {"iou_net": head}, {})
    cfg2 = T.apply_overrides(cfg, [f"init.iou_net_weights={tmp_path / 'head.npz'}"])
    got = T.init_weights(cfg2)
    for a, b in zip(jax.tree_util.tree_leaves(got["iou_net"]), jax.tree_util.tree_leaves(head)):
        np.testing.assert_array_equal(np.asarray(a), b)
    seeded = jax.tree_util.tree_leaves(state["weights"]["backbone"])
    for a, b in zip(jax.tree_util.tree_leaves(got["backbone"]), seeded):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # the seeded backbone, unchanged
    cfg3 = T.apply_overrides(cfg, [f"init.backbone_weights={tmp_path / 'head.npz'}"])
    with pytest.raises(InputError, match="head.npz: has no 'backbone' weights"):
        T.init_weights(cfg3)


def test_several_test_frames_per_reference_are_pairs_sharing_it(tiny):
    """A batch with T test frames per reference gives the loss of the same pairs written out one by one (the
    reference repeated): eval mode, so BatchNorm statistics do not depend on the grouping."""
    import dataclasses

    from train import processing

    cfg, state, _ = tiny
    spec = loop._spec(cfg, "train")
    datasets, weights, pcfg = pipeline._build(spec)
    grouped = processing.make_batch(datasets, weights, dataclasses.replace(pcfg, num_test_frames=3), 0, 0, 2)
    assert grouped["test_images"].shape[:2] == (2, 3) and grouped["proposal_iou"].shape[:2] == (2, 3)
    flat = {k: (v.reshape((-1,) + v.shape[2:]) if k.startswith(("test", "proposal")) else np.repeat(v, 3, axis=0))
            for k, v in grouped.items()}
    flags = T._flags(cfg)
    trainable = T.trainable_of(state["weights"], False)
    loss_fn = jax.jit(lambda *a: T.loss_fn(*a, train=False, **flags))  # one compilation per batch shape
    loss_g, (_, pred_g) = loss_fn(trainable, state["weights"], grouped)
    loss_f, (_, pred_f) = loss_fn(trainable, state["weights"], flat)
    np.testing.assert_allclose(np.asarray(pred_g), np.asarray(pred_f), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(loss_g), float(loss_f), rtol=1e-5)
    # Every proposal's target is its IoU with its own test frame's box (not another frame's).
    iou = processing.iou_xywh(grouped["test_box_xywh"][:, :, None].astype(np.float64), grouped["proposals_xywh"])
    np.testing.assert_allclose(grouped["proposal_iou"], 2 * iou - 1, atol=1e-5)


def test_optional_dataset_roots_are_dropped_with_their_weight(tmp_path):
    cfg = load_config("lite0")
    cfg["data"]["roots"]["sequences"] = str(tmp_path)
    out = resolve_data(cfg)  # data.roots.extra not set: its two specs are left out
    assert [s["kind"] for s in out["data"]["train"]] == ["generic", "synthetic"]
    assert out["data"]["train_weights"] == [1.0, 1.0]
    cfg = load_config("lite0")
    cfg["data"]["roots"].update(sequences=str(tmp_path), extra=str(tmp_path / "built"))
    out = resolve_data(cfg)
    assert [s.get("root") for s in out["data"]["train"][1:3]] == [str(tmp_path / "built" / "sequences"),
                                                                    str(tmp_path / "built" / "images")]
    assert out["data"]["train_weights"] == [1.0, 3.0, 1.0, 1.0]
