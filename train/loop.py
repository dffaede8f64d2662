"""The training run: checkpoints, resumption, validation, metrics and export around :mod:`train.train`.

Workdir layout::

    checkpoints/<step>/      orbax checkpoints of the whole state (atomic: written aside, then renamed)
    metrics.jsonl            one JSON object per logged step / validation ({"step", "split", ...})
    config.json              the resolved config of the run
    weights.npz              the exported weights (``atom-jax track --weights``), written at the end

Running the same command again resumes from the latest checkpoint; because every batch is a function of
``(seed, step)``, the resumed run makes the same updates as an uninterrupted one. Metric lines after the
restored step (written before the interruption) are dropped on resume.
"""

from __future__ import annotations

import json
import os
import pathlib
import time

import jax
import numpy as np
import orbax.checkpoint as ocp

from atom_jax.backbone import init_backbone as bb_init
from atom_jax.errors import InputError
from train import pipeline
from train import train as T


def _spec(cfg: dict, split: str) -> dict:
    d = cfg["data"]
    proc = dict(cfg["processing"])
    if split == "val":
        proc["brightness_jitter"] = 0.0  # ltr's validation transform has no brightness jitter
    return {"datasets": d[split], "weights": d[f"{split}_weights"], "processing": proc,
            "seed": cfg["seed"], "stream": 0 if split == "train" else 1}


def _append_metrics(path: pathlib.Path, record: dict) -> None:
    if jax.process_index() == 0:
        with open(path, "a") as f:
            f.write(json.dumps(record) + "\n")


def _truncate_metrics(path: pathlib.Path, step: int) -> None:
    if jax.process_index() != 0 or not path.exists():
        return
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
    path.write_text("".join(ln + "\n" for ln in lines))


def export_weights(cfg: dict, weights: dict, path: pathlib.Path, meta: dict | None = None) -> None:
    """Write the weights file. A frozen backbone that can be rebuilt (seeded random, or an installed package's
    ImageNet weights) is not stored, only its recipe in the meta (``atom_jax.weights.backbone_recipe``), unless
    ``export_backbone``; a trained backbone or one loaded from a file always is. The config's ``tracker``
    settings (if any) go into the meta too: ``track.api`` applies them when it loads the file."""
    from atom_jax import backbones
    from atom_jax.weights import save_weights

    host = jax.tree_util.tree_map(T.host_value, weights)
    model, init = T.model_spec(cfg), cfg["init"]
    pretrained = init.get("backbone_weights") == "pretrained"
    from_file = bool(init.get("backbone_weights")) and not pretrained
    keep_backbone = cfg["train_backbone"] or cfg["export_backbone"] or from_file
    if keep_backbone and model["backbone"] == "resnet18" and "layer4_0" not in host["backbone"]["params"]:
        # Training builds the backbone up to layer3 only; a weights file holds the whole ResNet-18, so layer4
        # (unused by ATOM) comes from the same seeded initialisation.
        full = jax.tree_util.tree_map(np.asarray, bb_init(jax.random.PRNGKey(init["backbone_seed"])))
        host["backbone"] = {c: {**full[c], **host["backbone"][c]} for c in ("params", "batch_stats")}
    parts = {"iou_net": host["iou_net"], **({"backbone": host["backbone"]} if keep_backbone else {})}
    recipe = None
    if not keep_backbone:
        recipe = ({"name": model["backbone"], "weights": "pretrained", "source": backbones.get(model["backbone"]).pretrained_source}
                  if pretrained else {"name": model["backbone"], "init_seed": init["backbone_seed"]})
    info = {"trained_by": "atom-jax train", "config": cfg.get("name", ""), "backbone": recipe,
            "tracker": cfg.get("tracker", {}), **(meta or {})}
    if jax.process_index() == 0:
        tmp = path.with_suffix(".tmp.npz")
        save_weights(tmp, parts, info)
        os.replace(tmp, path)


def validate(cfg: dict, eval_step, state: dict, mesh, step: int) -> float:
    spec = _spec(cfg, "val")
    bs = cfg["batch_size"]
    losses = []
    for _, local in pipeline.batches(spec, range(cfg["val_steps"]), bs, T.process_indices(bs), 0):
        losses.append(float(T.host_value(eval_step(state["weights"], T.shard_batch(local, mesh, bs))["loss"])))
    return float(np.mean(losses))


def train_and_evaluate(cfg: dict, workdir: str | os.PathLike, progress: bool = True,
                       export_only: bool = False) -> dict:
    """Train (or resume) per ``cfg`` in ``workdir``; returns the final state. ``export_only``: export the
    latest checkpoint's weights (e.g. of a run stopped early) and return."""
    workdir = pathlib.Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    metrics_path = workdir / "metrics.jsonl"
    if jax.process_index() == 0:
        (workdir / "config.json").write_text(json.dumps(cfg, indent=1))
    mesh = T.data_mesh()
    bs = cfg["batch_size"]
    tests = cfg["processing"].get("num_test_frames", 1)  # pairs per batch element
    total = cfg["num_epochs"] * cfg["steps_per_epoch"]

    manager = ocp.CheckpointManager(workdir / "checkpoints", options=ocp.CheckpointManagerOptions(
        max_to_keep=cfg["keep_checkpoints"], create=True))
    state = T.replicate(T.init_state(cfg), mesh)
    start = 0
    latest = manager.latest_step()
    if latest is not None:
        abstract = jax.tree_util.tree_map(ocp.utils.to_shape_dtype_struct, state)
        state = manager.restore(latest, args=ocp.args.StandardRestore(abstract))
        start = int(T.host_value(state["step"]))
        _truncate_metrics(metrics_path, start)
    if export_only:
        if latest is None:
            raise InputError(f"--export-only: no checkpoint in {workdir / 'checkpoints'}")
        export_weights(cfg, state["weights"], workdir / (cfg["export"] or "weights.npz"), {"steps": start})
        return state

    train_step, eval_step = T.make_train_step(cfg), T.make_eval_step(cfg)
    bar = None
    if progress and jax.process_index() == 0:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=start, desc="train", unit="step", dynamic_ncols=True)
    t_last, n_last = time.perf_counter(), 0
    batches = pipeline.batches(_spec(cfg, "train"), range(start, total), bs, T.process_indices(bs),
                               cfg["num_workers"], cfg["prefetch"])
    for step, local in batches:
        state, metrics = train_step(state, T.shard_batch(local, mesh, bs))
        done = step + 1
        n_last += 1
        if done % cfg["log_every_steps"] == 0 or done == total:
            loss = float(T.host_value(metrics["loss"]))
            dt = time.perf_counter() - t_last
            record = {"step": done, "split": "train", "epoch": step // cfg["steps_per_epoch"] + 1, "loss": loss,
                      "grad_norm": float(T.host_value(metrics["grad_norm"])), "pairs_per_s": n_last * bs * tests / dt}
            _append_metrics(metrics_path, record)
            t_last, n_last = time.perf_counter(), 0
            if bar is not None:
                bar.set_postfix(loss=f"{loss:.4f}")
        if bar is not None:
            bar.update(1)
        epoch_end = done % cfg["steps_per_epoch"] == 0
        val_due = epoch_end and (done // cfg["steps_per_epoch"]) % cfg["val_every_epochs"] == 0
        if cfg["val_steps"] and (val_due or done == total):  # and always after the last step
            _append_metrics(metrics_path, {"step": done, "split": "val", "epoch": done // cfg["steps_per_epoch"],
                                           "loss": validate(cfg, eval_step, state, mesh, done)})
        if done % cfg["checkpoint_every_steps"] == 0 or done == total:
            manager.save(done, args=ocp.args.StandardSave(state))
    manager.wait_until_finished()
    if bar is not None:
        bar.close()
    if cfg["export"]:
        export_weights(cfg, state["weights"], workdir / cfg["export"], {"steps": int(T.host_value(state["step"]))})
    return state
