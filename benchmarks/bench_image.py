"""Sample extraction speed: jitted JAX vs pytracking's PyTorch/OpenCV code (restated in tests/parity), same run.

Workloads on a 480 x 640 RGB frame: the per-frame 288 x 288 search patch (``sample_patch``) at scale 1 (no
pre-downsampling) and 2.5 (``df = 2``), and ATOM's 23 first-frame augmented samples (576 x 576 expanded patch,
shifts, flip, 5 blurs, 12 rotations). Timed round-robin (one call per variant per round, so load from other
processes spreads over all of them); the table shows min and median ms per call.

    python benchmarks/bench_image.py --repeats 30

Writes benchmarks/results/image.json.
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
sys.path.insert(0, str(REPO))   # for tests.parity.torch_image when run as a script

from atom_jax import augment  # noqa: E402
from atom_jax.image import sample_patch  # noqa: E402

SAMPLE = 288
CENTER_XY = (300.4, 200.7)


def jax_variants(image):
    transforms = augment.transforms_from_pytracking(augment.PYTRACKING_ATOM_AUGMENTATION, (SAMPLE, SAMPLE))
    shifts = augment.draw_random_shifts(jax.random.PRNGKey(0), transforms, (SAMPLE, SAMPLE))
    patch = jax.jit(lambda im, c, s: sample_patch(im, c, s, (SAMPLE, SAMPLE))[0])
    aug = jax.jit(lambda im, c, s, r: augment.init_augmentations(im, c, s, transforms, r).images)
    im, c = jnp.asarray(image), jnp.asarray(CENTER_XY, jnp.float32)
    size = lambda scale: jnp.full((2,), scale * SAMPLE, jnp.float32)
    return {"sample_patch scale 1": lambda: patch(im, c, size(1.0)),
            "sample_patch scale 2.5": lambda: patch(im, c, size(2.5)),
            "23 init augmentations": lambda: aug(im, c, jnp.float32(1.3), shifts)}, shifts, transforms


def torch_variants(image, shifts, transforms):
    import torch

    from tests.parity import torch_image as ti

    im = ti.image_to_tensor(image)
    pos = torch.Tensor(list(CENTER_XY[::-1]))
    out = torch.Tensor([SAMPLE, SAMPLE])
    random_yx = [tuple(int(v) for v in s[::-1]) for s, t in zip(np.asarray(shifts), transforms) if t.random_shift]
    return {"sample_patch scale 1": lambda: ti.sample_patch(im, pos, 1.0 * out, out),
            "sample_patch scale 2.5": lambda: ti.sample_patch(im, pos, 2.5 * out, out),
            "23 init augmentations": lambda: ti.init_samples(image, CENTER_XY[::-1], 1.3, (SAMPLE, SAMPLE),
                                                             augment.PYTRACKING_ATOM_AUGMENTATION, random_yx)}


def time_round_robin(variants, repeats):
    for fn in variants.values():                      # warm-up (compilation for JAX)
        jax.block_until_ready(fn())
    times = {k: [] for k in variants}
    for _ in range(repeats):
        for k, fn in variants.items():
            t = time.perf_counter()
            jax.block_until_ready(fn())
            times[k].append((time.perf_counter() - t) * 1e3)
    return {k: {"min_ms": float(np.min(v)), "median_ms": float(np.median(v))} for k, v in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "image.json"))
    args = parser.parse_args(argv)

    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3)).astype(np.uint8)
    jv, shifts, transforms = jax_variants(image)
    variants = {("jax", k): fn for k, fn in jv.items()}
    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch not installed: timing JAX only (no ratios).")
    if torch is not None:
        variants.update({("torch", k): fn for k, fn in torch_variants(image, shifts, transforms).items()})
    timings = time_round_robin(variants, args.repeats)

    print(f"sample extraction, {args.repeats} repeats, load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs; ms per call, min / median")
    print(f"{'workload':26s}{'jax':>20s}{'torch':>20s}{'torch / jax (min)':>20s}")
    rows = []
    for w in jv:
        j = timings[("jax", w)]
        row = {"workload": w, "jax": j}
        line = f"{w:26s}{j['min_ms']:10.2f} / {j['median_ms']:7.2f}"
        if torch is not None:
            t = timings[("torch", w)]
            row.update(torch=t, torch_over_jax_min=t["min_ms"] / j["min_ms"])
            line += f"{t['min_ms']:10.2f} / {t['median_ms']:7.2f}{row['torch_over_jax_min']:20.2f}"
        rows.append(row)
        print(line)
    result = {"benchmark": "image", "repeats": args.repeats, "rows": rows, "jax": jax.__version__,
              "torch": None if torch is None else torch.__version__,
              "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "load_average": os.getloadavg()[0]}
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
