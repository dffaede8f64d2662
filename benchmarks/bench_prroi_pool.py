"""Precise RoI Pooling speed: JAX (jitted) vs the eager PyTorch implementation, in the same run.

The workload is the IoU-Net's during tracking: 10 boxes on one 288 x 288 frame, pooled on both levels
(layer2: 36 x 36 x 256 at 1/8 into 5 x 5 bins; layer3: 18 x 18 x 256 at 1/16 into 3 x 3 bins). Timed:
forward only; forward + backward with respect to the features and the boxes (training-like); forward +
backward with respect to the boxes only (the tracker's IoU refinement). PyTorch runs with NCHW features in the
default (contiguous) and channels-last memory formats. Variants are timed in interleaved blocks of calls, so
load from other processes spreads over all of them; the table shows the min and the median per call.

    python benchmarks/bench_prroi_pool.py --repeats 200

Writes benchmarks/results/prroi_pool.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))   # for tests.parity.torch_prroi_pool when run as a script

from atom_jax.prroi_pool import prroi_pool2d  # noqa: E402

LEVELS = (("layer2", 36, 1 / 8, (5, 5)), ("layer3", 18, 1 / 16, (3, 3)))
CHANNELS = 256


def make_inputs(n_boxes, seed=0):
    rng = np.random.default_rng(seed)
    feats = [rng.standard_normal((1, size, size, CHANNELS)).astype(np.float32) for _, size, _, _ in LEVELS]
    centre = rng.uniform(100, 188, (n_boxes, 2))
    wh = rng.uniform(40, 100, (n_boxes, 2))
    boxes = np.concatenate([centre - wh / 2, centre + wh / 2], 1).astype(np.float32)
    cots = [rng.standard_normal((n_boxes, *hw, CHANNELS)).astype(np.float32) for _, _, _, hw in LEVELS]
    return feats, boxes, cots


def jax_variants(feats, boxes, cots):
    batch_idx = jnp.zeros(len(boxes), jnp.int32)

    def loss(f2, f3, b):
        total = 0.0
        for f, cot, (_, _, scale, hw) in zip((f2, f3), cots, LEVELS):
            total = total + jnp.sum(prroi_pool2d(f, batch_idx, b, hw, scale) * cot)
        return total

    args = [jnp.asarray(a) for a in (*feats, boxes)]
    fns = {"forward": jax.jit(loss),
           "fwd+bwd (features, boxes)": jax.jit(jax.value_and_grad(loss, (0, 1, 2))),
           "fwd+bwd (boxes)": jax.jit(jax.value_and_grad(loss, 2))}
    return {name: (lambda fn=fn: jax.block_until_ready(fn(*args))) for name, fn in fns.items()}


def torch_variants(torch, feats, boxes, cots, channels_last):
    from tests.parity.torch_prroi_pool import prroi_pool2d_torch

    fmt = torch.channels_last if channels_last else torch.contiguous_format
    feats_t = [torch.tensor(f.transpose(0, 3, 1, 2).copy()).contiguous(memory_format=fmt) for f in feats]
    rois = torch.tensor(np.concatenate([np.zeros((len(boxes), 1), np.float32), boxes], 1))
    cots_t = [torch.tensor(c.transpose(0, 3, 1, 2).copy()) for c in cots]

    def run(grad_features, grad_boxes):
        fs = [f.detach().requires_grad_(grad_features) for f in feats_t]
        r = rois.detach().requires_grad_(grad_boxes)
        with torch.set_grad_enabled(grad_features or grad_boxes):
            total = sum((prroi_pool2d_torch(f, r, hw[0], hw[1], scale) * c).sum()
                        for f, c, (_, _, scale, hw) in zip(fs, cots_t, LEVELS))
            if grad_features or grad_boxes:
                total.backward()
        return total

    return {"forward": lambda: run(False, False),
            "fwd+bwd (features, boxes)": lambda: run(True, True),
            "fwd+bwd (boxes)": lambda: run(False, True)}


def time_in_blocks(variants, repeats, rounds=5, warmup=5):
    """Per-call times of each variant, run in ``rounds`` blocks of consecutive calls, variants interleaved.

    Blocks rather than single calls: PyTorch's OpenMP workers keep spinning briefly after a call, which would
    slow down whatever runs right after it; interleaving the blocks still spreads outside load over all variants.
    """
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    times = {key: [] for key in variants}
    per_block = max(1, repeats // rounds)
    for _ in range(rounds):
        for key, fn in variants.items():
            for _ in range(per_block):
                start = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - start)
    return {key: {"min_ms": 1e3 * min(t), "median_ms": 1e3 * float(np.median(t))} for key, t in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per variant (default 200)")
    parser.add_argument("--boxes", type=int, default=10, help="boxes per frame (default 10)")
    parser.add_argument("--torch-threads", type=int, default=0,
                        help="torch.set_num_threads for PyTorch (default 0: leave PyTorch's default)")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "prroi_pool.json"))
    args = parser.parse_args(argv)

    feats, boxes, cots = make_inputs(args.boxes)
    variants = {("jax", k): fn for k, fn in jax_variants(feats, boxes, cots).items()}
    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch not installed: timing JAX only (no ratios).")
    if torch is not None:
        if args.torch_threads > 0:
            torch.set_num_threads(args.torch_threads)
        for label, cl in (("torch", False), ("torch channels-last", True)):
            variants.update({(label, k): fn for k, fn in torch_variants(torch, feats, boxes, cots, cl).items()})
    timings = time_in_blocks(variants, args.repeats)

    workloads = list(dict.fromkeys(k for _, k in variants))
    impls = list(dict.fromkeys(i for i, _ in variants))
    print(f"PrRoIPool, {args.boxes} boxes, both IoU-Net levels, {args.repeats} repeats, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; ms per call, min / median")
    print(f"{'workload':28s}" + "".join(f"{i:>24s}" for i in impls) + f"{'torch best / jax (min)':>26s}")
    rows = []
    for w in workloads:
        cells = [timings[(i, w)] for i in impls]
        line = f"{w:28s}" + "".join(f"{c['min_ms']:11.3f} / {c['median_ms']:8.3f}" for c in cells)
        row = {"workload": w, **{i: timings[(i, w)] for i in impls}}
        if torch is not None:
            best_torch = min(timings[(i, w)]["min_ms"] for i in impls if i != "jax")
            row["torch_best_over_jax_min"] = best_torch / timings[("jax", w)]["min_ms"]
            line += f"{row['torch_best_over_jax_min']:26.2f}"
        rows.append(row)
        print(line)

    result = {"benchmark": "prroi_pool", "boxes": args.boxes, "repeats": args.repeats,
              "levels": [{"name": n, "size": s, "scale": sc, "pooled_hw": hw} for n, s, sc, hw in LEVELS],
              "channels": CHANNELS, "rows": rows, "jax": jax.__version__,
              "torch": None if torch is None else torch.__version__,
              "torch_threads": None if torch is None else torch.get_num_threads(),
              "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "load_average": os.getloadavg()[0]}
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
