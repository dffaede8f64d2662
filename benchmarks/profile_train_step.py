"""Where does an IoU-Net training step spend its time? Host batch making, the frozen backbone, the IoU head's
forward + backward, and the whole jitted step, per training pair, for several head / batch layouts.

    python benchmarks/profile_train_step.py [--root ../shared/data/train] [--repeats 5]

Variants (all on EfficientNet-Lite0, 144x144 crops as ``train/configs/lite0.py``):

* ``v1``: the previous built-in weights' recipe: 16 pairs of one test frame each, 16 proposals, pytracking's
  widths (256);
* ``light``: the head at width 128 (``test_dim``, ``pred_input_dim``, ``pred_inter_dim``), 64 proposals;
* ``light_T4``: the same with 4 test frames per reference (8 references, 32 pairs): the reference crop, its
  backbone pass and the reference branch are shared by 4 pairs.

Times are medians of ``--repeats`` (after one compile), in ms per pair; the machine's load average is printed
with them, since other jobs may share the CPU. JSON in ``benchmarks/results/profile_train_step.json``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import pathlib
import statistics
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

VARIANTS = {
    "v1": {"refs": 16, "tests": 1, "proposals": 16, "width": 256},
    "light": {"refs": 16, "tests": 1, "proposals": 64, "width": 128},
    "light_T4": {"refs": 8, "tests": 4, "proposals": 64, "width": 128},
}


def _median_ms(fn, repeats: int) -> float:
    import jax

    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def profile(variant: dict, root: str | None, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp

    from atom_jax import backbones
    from train import loop, pipeline, processing
    from train import train as T
    from train.configs import load_config, resolve_data

    cfg = load_config("lite0")
    w = variant["width"]
    cfg["model"].update(pred_input_dim=[w, w], pred_inter_dim=[w, w], test_dim=[w, w])
    cfg["processing"].update(num_proposals=variant["proposals"], num_test_frames=variant["tests"])
    cfg["batch_size"] = variant["refs"]
    if root:
        cfg["data"]["roots"]["sequences"] = root
    else:  # no real sequences here: synthetic ones only
        cfg["data"]["train"] = [s for s in cfg["data"]["train"] if s["kind"] == "synthetic"]
        cfg["data"]["train_weights"] = [1.0]
        cfg["data"]["val"], cfg["data"]["val_weights"] = [], []
    cfg = resolve_data(cfg)
    pairs = variant["refs"] * variant["tests"]
    datasets, weights, pcfg = pipeline._build(loop._spec(cfg, "train"))
    host = []
    for s in range(repeats + 1):
        t = time.perf_counter()
        batch = processing.make_batch(datasets, weights, pcfg, 0, s, variant["refs"])
        host.append(time.perf_counter() - t)
    data_ms = 1e3 * statistics.median(host[1:])

    state = jax.tree_util.tree_map(jnp.asarray, T.init_state(cfg))
    batch = {k: jnp.asarray(v) for k, v in batch.items()}
    flags = T._flags(cfg)
    bbone = backbones.get(flags["backbone"])
    folded = bbone.fold(state["weights"]["backbone"])
    images = jnp.concatenate([batch["train_images"],
                              batch["test_images"].reshape((-1,) + batch["train_images"].shape[1:])])
    feats = jax.jit(lambda f, x: bbone.features_folded(f, bbone.normalize(x), flags["iou_layers"]))
    backbone_ms = _median_ms(lambda: feats(folded, images), repeats)

    trainable = T.trainable_of(state["weights"], False)
    f_ref = feats(folded, batch["train_images"])
    f_test = feats(folded, images[variant["refs"]:])
    proposals = batch["proposals_xywh"].reshape(pairs, -1, 4)
    targets = batch["proposal_iou"].reshape(pairs, -1)

    def head_loss(tr):
        from atom_jax import iou_net

        wts = T.with_trainable(state["weights"], tr)
        pred, _ = iou_net.iou_net_forward(wts["iou_net"], f_ref, f_test, batch["train_box_xywh"], proposals,
                                          train=True, layers=flags["iou_layers"])
        return jnp.mean(jnp.square(pred - targets))

    head = jax.jit(jax.value_and_grad(head_loss))
    head_ms = _median_ms(lambda: head(trainable), repeats)

    step = T.make_train_step(cfg)
    box = {"s": copy.deepcopy(state)}

    def run_step():
        box["s"], m = step(box["s"], batch)
        return m

    step_ms = _median_ms(run_step, repeats)
    return {**variant, "pairs": pairs, "data_ms_per_pair": data_ms / pairs, "backbone_ms_per_pair": backbone_ms / pairs,
            "head_fwd_bwd_ms_per_pair": head_ms / pairs, "step_ms_per_pair": step_ms / pairs,
            "pairs_per_s_step_only": 1e3 * pairs / step_ms}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_root = REPO.parent / "shared" / "data" / "train"
    parser.add_argument("--root", default=str(default_root) if default_root.is_dir() else "",
                        help="training folder (generic layout); empty: synthetic sequences only")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args(argv)
    rows = {}
    for name in args.variants.split(","):
        load = os.getloadavg()[0]
        rows[name] = {**profile(VARIANTS[name], args.root or None, args.repeats), "load_before": load,
                      "load_after": os.getloadavg()[0]}
    print("| variant | pairs/step | proposals | width | host batch | backbone | head fwd+bwd | whole step | pairs/s "
          "(step) | load |\n|---|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['pairs']} ({r['refs']}x{r['tests']}) | {r['proposals']} | {r['width']} | "
              f"{r['data_ms_per_pair']:.1f} ms | {r['backbone_ms_per_pair']:.1f} ms | {r['head_fwd_bwd_ms_per_pair']:.1f} ms | "
              f"{r['step_ms_per_pair']:.1f} ms | {r['pairs_per_s_step_only']:.1f} | {r['load_before']:.1f}-{r['load_after']:.1f} |")
    out = REPO / "benchmarks" / "results" / "profile_train_step.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"root": args.root, "repeats": args.repeats, "rows": rows}, indent=1))
    print(f"wrote {out} (per pair; the host batch runs in worker processes beside the step)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
