"""The IoU-Net as a box estimator, apart from the tracker: does its refinement sharpen a box, and does its
predicted IoU rank boxes the way the true IoU does?

For each sequence the modulation vectors come from frame 1's ground truth (as the tracker's ``init``: the
first-frame patch around the target). On every ``--every``-th later frame, a start box gives the search patch
(centred on it, at the tracker's scale for its size) and the tracker's own refinement runs from it
(:func:`atom_jax.refine.refine`: the start box plus jittered copies, gradient ascent on the predicted IoU, the
mean of the top k); the true IoU with the ground truth is measured before and after. Start boxes:

* ``prev``: the previous frame's ground truth (a perfect previous estimate; the target moved since);
* ``jitter``: the ground truth jittered (center + N(0, 0.1 sqrt(area)) per axis, size x exp(N(0, 0.2)));

and, for the ranking, the refinement's own jittered set around the ``jitter`` start box, before any step:
``rank_top1`` is the true IoU of the box the net ranks first, ``rank_best`` the best true IoU in the set,
``rank_mean`` the set's mean (a net that ranks at random gets ``rank_top1 ~ rank_mean``). Each measure is
also given by target size in the frame (``sqrt(w h)`` of the ground truth: under 32 px, 32-96, over 96).

    python benchmarks/bench_estimator.py                         # built-in weights, validation split
    python benchmarks/bench_estimator.py --weights runs/lite0/weights.npz \\
        --candidate default: --candidate step0.5:box_refinement_step_length=0.5

Defaults: the validation sequences held out of training (``train.configs.lite0.VAL_NAMES`` in
``../shared/data/train``), never the test sequences. A candidate is ``LABEL:name=value,...`` of tracker settings
(the refinement's: ``box_refinement_iter``, ``box_refinement_step_length``, ``num_init_random_boxes``,
``box_jitter_pos``, ``box_jitter_sz``, ``iounet_k``, ...). Prints a table per candidate and writes
``benchmarks/results/bench_estimator.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import pathlib
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SIZE_BINS = (("small", 0.0, 32.0), ("medium", 32.0, 96.0), ("large", 96.0, np.inf))


def iou_xywh(a, b) -> np.ndarray:
    """IoU of ``(..., 4)`` boxes ``(x, y, w, h)``, broadcast against each other (:func:`track.metrics.iou_xywh`,
    which takes rows)."""
    from track.metrics import iou_xywh as rows_iou

    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    return rows_iou(a.reshape(-1, 4), b.reshape(-1, 4)).reshape(a.shape[:-1])


def jitter_gt(rng: np.random.Generator, box_xywh, pos: float = 0.1, size: float = 0.2) -> np.ndarray:
    """The ground truth with its center moved by N(0, pos sqrt(area)) per axis and its size x exp(N(0, size))."""
    x, y, w, h = box_xywh
    side = np.sqrt(w * h)
    c = np.array([x + w / 2, y + h / 2]) + rng.normal(0, pos * side, 2)
    wh = np.array([w, h]) * np.exp(rng.normal(0, size, 2))
    return np.concatenate([c - wh / 2, wh])


@functools.lru_cache(maxsize=None)
def _functions(config):
    """Jitted ``modulation(weights, image, box)`` and ``estimate(weights, image, start_box, key)`` for a config."""
    import jax
    import jax.numpy as jnp

    from atom_jax import backbones, iou_net, refine
    from atom_jax.config import derived
    from atom_jax.image import sample_patch

    d = derived(config)
    size = d.sample_size

    def geometry(box_xywh):
        center = box_xywh[:2] + (box_xywh[2:] - 1) / 2  # pytracking's center
        scale = jnp.sqrt(jnp.prod(box_xywh[2:] * config.search_area_scale) / config.max_image_sample_size)
        return center, scale

    def features(weights, image, valid_wh, center, scale):
        patch = sample_patch(image, center, jnp.stack([scale, scale]) * size, (size, size), valid_wh)[0]
        return backbones.get(config.backbone).features(weights["backbone"], patch[None], tuple(config.iou_layers))

    def modulation(weights, image, valid_wh, box_xywh):
        center, scale = geometry(box_xywh)
        feats = features(weights, image, valid_wh, center, scale)
        target = refine.box_in_patch(center, box_xywh[2:], jnp.round(center), scale, size)
        m3, m4 = iou_net.get_modulation(weights["iou_net"], feats, target[None], config.iou_layers)
        return m3[0], m4[0]

    def estimate(weights, mod, image, valid_wh, start_xywh, key):
        center, scale = geometry(start_xywh)
        pos = jnp.round(center)
        feats = features(weights, image, valid_wh, center, scale)
        c3, c4 = iou_net.get_iou_feat(weights["iou_net"], feats, config.iou_layers)
        init_box = refine.box_in_patch(center, start_xywh[2:], pos, scale, size)
        out = refine.refine(weights["iou_net"], mod, (c3[0], c4[0]), init_box, key, config)
        box_c, box_wh = refine.box_to_image(out.box_xywh, pos, scale, size)
        # The ranking: the refinement's jittered set, scored before any step.
        boxes = refine.jitter_boxes(key, init_box, config)
        scores = iou_net.predict_iou(weights["iou_net"], (mod[0][None], mod[1][None]), (c3, c4), boxes[None])[0]
        set_c, set_wh = jax.vmap(lambda b: refine.box_to_image(b, pos, scale, size))(boxes)
        # box_to_image gives pytracking's center xy + wh/2 (not (wh - 1)/2): image boxes as the tracker reports.
        refined = jnp.concatenate([box_c - (box_wh - 1) / 2, box_wh])
        jittered = jnp.concatenate([set_c - (set_wh - 1) / 2, set_wh], axis=1)
        return refined, out.valid, jittered, scores

    return jax.jit(modulation), jax.jit(estimate)


def evaluate(weights, config, sequences, every: int, seed: int, max_frames: int | None = None) -> list[dict]:
    """Per-frame records ``{"sequence", "frame", "side", "prev_before", "prev_after", "jit_before", "jit_after",
    "rank_top1", "rank_best", "rank_mean"}`` over ``sequences``. Frames are padded into one canvas (the patch
    sampling reads only the true frame), so everything compiles once."""
    import jax
    import jax.numpy as jnp

    modulation, estimate = _functions(config)
    first_frames = [seq.frame(0) for seq in sequences]
    canvas = [-(-max(f.shape[i] for f in first_frames) // 128) * 128 for i in (0, 1)]

    def padded(image):
        h, w = image.shape[:2]
        if h > canvas[0] or w > canvas[1]:
            raise ValueError(f"frame of {w}x{h} is larger than the first frame's canvas {canvas[1]}x{canvas[0]}")
        return (jnp.asarray(np.pad(image, ((0, canvas[0] - h), (0, canvas[1] - w), (0, 0)), mode="edge")),
                jnp.asarray([w, h], jnp.float32))

    records = []
    for seq, first in zip(sequences, first_frames):
        rng = np.random.default_rng([seed, len(records)])
        gt = np.asarray(seq.ground_truth_xywh, np.float64)
        visible = np.asarray(seq.visible, bool)
        n = len(gt) if max_frames is None else min(len(gt), max_frames)
        mod = modulation(weights, *padded(first), jnp.asarray(gt[0], jnp.float32))
        key = jax.random.PRNGKey(seed)
        for t in range(every, n, every):
            if not (visible[t] and visible[t - 1]):
                continue
            image = padded(seq.frame(t))
            key, k1, k2 = jax.random.split(key, 3)
            rec = {"sequence": seq.name, "frame": t + 1, "side": float(np.sqrt(gt[t, 2] * gt[t, 3]))}
            for label, start, k in (("prev", gt[t - 1], k1), ("jit", jitter_gt(rng, gt[t]), k2)):
                refined, valid, jittered, scores = jax.device_get(
                    estimate(weights, mod, *image, jnp.asarray(start, jnp.float32), k))
                after = refined if valid else start
                rec[f"{label}_before"] = float(iou_xywh(start, gt[t]))
                rec[f"{label}_after"] = float(iou_xywh(after, gt[t]))
                if label == "jit":
                    true = iou_xywh(jittered, gt[t])
                    rec.update(rank_top1=float(true[int(np.argmax(scores))]), rank_best=float(true.max()),
                               rank_mean=float(true.mean()))
            records.append(rec)
    return records


def summarize(records: list[dict]) -> dict:
    """Means over all frames and by target size: IoU before/after from both starts, the share improved, the
    ranking measures."""
    def stats(rows):
        if not rows:
            return {"frames": 0}
        col = lambda k: np.array([r[k] for r in rows])
        out = {"frames": len(rows)}
        for s in ("prev", "jit"):
            before, after = col(f"{s}_before"), col(f"{s}_after")
            out.update({f"{s}_before": before.mean(), f"{s}_after": after.mean(),
                        f"{s}_improved": float(np.mean(after > before))})
        out.update({k: col(k).mean() for k in ("rank_top1", "rank_best", "rank_mean")})
        return {k: (v if k == "frames" else float(v)) for k, v in out.items()}

    by_size = {name: stats([r for r in records if lo <= r["side"] < hi]) for name, lo, hi in SIZE_BINS}
    return {"all": stats(records), **by_size}


def format_rows(label: str, summary: dict) -> str:
    lines = []
    for part, s in summary.items():
        if not s["frames"]:
            continue
        lines.append(f"| {label} | {part} | {s['frames']} | {s['prev_before']:.3f} -> {s['prev_after']:.3f} "
                     f"({100 * s['prev_improved']:.0f} %) | {s['jit_before']:.3f} -> {s['jit_after']:.3f} "
                     f"({100 * s['jit_improved']:.0f} %) | {s['rank_top1']:.3f} / {s['rank_best']:.3f} / "
                     f"{s['rank_mean']:.3f} |")
    return "\n".join(lines)


HEADER = ("| candidate | targets | frames | from previous GT: before -> after (improved) | from jittered GT: before -> "
          "after (improved) | ranking: top-1 / best / mean of set |\n|---|---|---|---|---|---|")


def main(argv=None) -> int:
    from atom_jax.data.registry import load_dataset
    from track.api import prepare
    from train.configs.lite0 import VAL_NAMES

    sys.path.insert(0, str(REPO / "benchmarks"))
    from tune_tracker import parse_candidate

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(REPO.parent / "shared" / "data" / "train"),
                        help="folder of sequences (generic layout); default the shared training folder")
    parser.add_argument("--names", default=",".join(VAL_NAMES),
                        help="sequences to use (comma separated; default the validation split; 'all' for every one)")
    parser.add_argument("--weights", default=None, help="weights file or built-in name (default: demo)")
    parser.add_argument("--candidate", action="append", default=[], help="LABEL:name=value,... (repeatable)")
    parser.add_argument("--every", type=int, default=3, help="measure every N-th frame")
    parser.add_argument("--max-frames", type=int, default=None, help="only the first N frames of each sequence")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "bench_estimator.json"))
    args = parser.parse_args(argv)

    names = None if args.names == "all" else args.names.split(",")
    sequences = load_dataset("generic", args.root, names)
    results = {}
    print(HEADER)
    for label, overrides in [parse_candidate(c) for c in (args.candidate or ["default:"])]:
        weights, config = prepare(args.weights, overrides)
        if not config.use_iou_net:
            raise SystemExit(f"candidate {label}: use_iou_net is off; nothing to measure")
        t0 = time.perf_counter()
        records = evaluate(weights, config, sequences, args.every, args.seed, args.max_frames)
        summary = summarize(records)
        results[label] = {"overrides": overrides, "seconds": time.perf_counter() - t0, "summary": summary}
        print(format_rows(label, summary), flush=True)
        print(f"({label}: {summary['all']['frames']} frames in {results[label]['seconds']:.0f} s)", flush=True)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"weights": args.weights or "demo", "root": args.root,
                               "sequences": [s.name for s in sequences], "every": args.every, "seed": args.seed,
                               "max_frames": args.max_frames, "results": results}, indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
