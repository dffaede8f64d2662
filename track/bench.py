"""``atom-jax bench``: time the tracker on real sequences: compile, initialisation, per-frame steps, batches.

    atom-jax bench --weights W --sequences DIR [--max-frames 60] [--batch-sizes 1,4,8] [--repeats 2]
                   [--reference-times pytracking_times.txt] [--json out.json] [--set name=value ...]

For every sequence folder under ``DIR`` (OTB or VOT layout): compile times of init and step for its frame
size (ahead of time, reported apart), the initialisation time (min over ``--repeats``), and the per-frame
step times (mean and median over the first ``--max-frames`` frames). Then batch tracking: ``B`` slots filled
round-robin with the sequences, frames/s of the vmapped step after a warm-up call, for each ``B``.

``--reference-times`` takes pytracking's per-frame wall times (one number per line, line 1 = initialisation,
as pytracking writes ``<seq>_time.txt``) and adds ratios to the table. Note when those times were not
measured in this run (they are then a recorded reference, not a same-run comparison).

Timings on a shared machine are noisy: minima and medians are reported, and the CPU load average is stored.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import time

import numpy as np

from atom_jax.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", default=None, help="atom-jax .npz weights, a pytracking .pth or a built-in name "
                        "(default: the built-in demo weights)")
    parser.add_argument("--sequences", required=True, help="folder of sequence folders (OTB/VOT layout)")
    parser.add_argument("--only", default="", help="comma-separated sequence names (default: all)")
    parser.add_argument("--max-frames", type=int, default=60, help="frames per sequence (default 60)")
    parser.add_argument("--batch-sizes", default="1,4,8", help="batch sizes for lockstep tracking")
    parser.add_argument("--batch-frames", type=int, default=20, help="timed batched steps per batch size")
    parser.add_argument("--repeats", type=int, default=2, help="initialisations per sequence (min reported)")
    parser.add_argument("--reference-times", help="pytracking per-frame times file for ratios")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--json", help="write the results as JSON here")


def _sequences(root, only: str, max_frames: int):
    from atom_jax.data.folders import generic

    seqs = list(generic(pathlib.Path(root)))
    if only:
        names = set(only.split(","))
        seqs = [s for s in seqs if s.name in names]
    if not seqs:
        raise InputError(f"{root}: no sequences found")
    out = []
    for s in seqs:
        frames = [im for _, im in zip(range(max_frames), s.images())]
        out.append((s.name, frames, s.init_box_xywh))
    return out


def time_sequence(weights, config, frames, box_xywh, repeats: int = 2) -> dict:
    """Compile, init and per-frame timings of one sequence (see the module docstring)."""
    import jax
    import jax.numpy as jnp

    from atom_jax import tracker as atom
    from track.api import as_rgb
    from track.compiled import compile_tracker, timing_stats

    frames = [as_rgb(f) for f in frames]
    box = jnp.asarray(atom.validate_init(frames[0].shape, box_xywh), jnp.float32)
    compiled = compile_tracker(weights, config, frames[0].shape)
    init_times = []
    for _ in range(max(repeats, 1)):
        t = time.perf_counter()
        state = compiled.init(weights, frames[0], box, jax.random.PRNGKey(0))
        jax.block_until_ready(state)
        init_times.append(time.perf_counter() - t)
    steps, decisions = [], []
    for frame in frames[1:]:
        t = time.perf_counter()
        state, out, aux = compiled.step(weights, state, frame)
        jax.block_until_ready(out)
        steps.append(time.perf_counter() - t)
        decisions.append((int(aux["flag"]), int(aux["train"])))  # after the clock: read back off the timing
    stats = timing_stats(min(init_times), steps, compiled.compile_seconds)
    stats["init_seconds_all"] = init_times
    # What each frame did (which parts of the computation ran), so that a comparison can replay the same work:
    # flag (atom_jax.localize.FLAG_NAMES; 'not_found' skips the IoU-Net) and the filter update (0 none,
    # 1 regular, 2 hard negative).
    stats["per_frame_flag"] = [f for f, _ in decisions]
    stats["per_frame_train"] = [u for _, u in decisions]
    return stats


def time_batch(weights, config, sequences, batch_size: int, num_frames: int) -> dict:
    """Frames/s of ``batch_size`` sequences advanced in lockstep (after one warm-up step)."""
    from track.api import BatchTracker

    trk = BatchTracker(weights, config, 0, batch_size)
    slots = [sequences[i % len(sequences)] for i in range(batch_size)]
    for slot, (_, frames, box) in enumerate(slots):
        trk.initialize(slot, frames[0], box)
    t = time.perf_counter()
    trk.update([frames[1 % len(frames)] for _, frames, _ in slots])
    warmup = time.perf_counter() - t
    times = []
    for k in range(num_frames):
        batch = [frames[(2 + k) % len(frames)] for _, frames, _ in slots]
        t = time.perf_counter()
        trk.update(batch)
        times.append(time.perf_counter() - t)
    per_step = float(np.median(times))
    return {"batch_size": batch_size, "first_call_seconds": warmup, "step_median_ms": per_step * 1e3,
            "frames_per_second": batch_size / per_step}


def _reference(path):
    if not path:
        return None
    values = np.loadtxt(path).reshape(-1)
    return {"init_seconds": float(values[0]), "per_frame_mean_ms": float(values[1:].mean() * 1e3),
            "per_frame_median_ms": float(np.median(values[1:]) * 1e3), "source": str(path)}


def run(args) -> int:
    from atom_jax.config import parse_set_arguments
    from track.api import prepare

    weights, config = prepare(args.weights, parse_set_arguments(args.set))
    sequences = _sequences(args.sequences, args.only, args.max_frames)
    results = {"load_average": os.getloadavg(), "cpu_count": os.cpu_count(), "sequences": {}, "batch": []}
    print(f"{'sequence':18s} {'frames':>6s} {'compile init/step s':>20s} {'init s':>7s} {'mean ms':>8s} "
          f"{'median ms':>9s}")
    for name, frames, box in sequences:
        stats = time_sequence(weights, config, frames, box, args.repeats)
        results["sequences"][name] = stats
        c = stats["compile_seconds"]
        print(f"{name:18s} {stats['frames']:6d} {c['init']:9.1f} / {c['step']:7.1f} {stats['init_seconds']:7.2f} "
              f"{stats['per_frame_mean_ms']:8.1f} {stats['per_frame_median_ms']:9.1f}", flush=True)
    all_steps = [s for s in results["sequences"].values()]
    results["overall"] = {
        "init_seconds_median": float(np.median([s["init_seconds"] for s in all_steps])),
        "per_frame_mean_ms": float(np.average([s["per_frame_mean_ms"] for s in all_steps],
                                              weights=[s["frames"] - 1 for s in all_steps])),
    }
    ref = _reference(args.reference_times)
    if ref:
        results["reference"] = ref
        o = results["overall"]
        print(f"pytracking (recorded, {ref['source']}): init {ref['init_seconds']:.2f} s, per frame mean "
              f"{ref['per_frame_mean_ms']:.0f} ms / median {ref['per_frame_median_ms']:.0f} ms; ratios init "
              f"{ref['init_seconds'] / o['init_seconds_median']:.2f}x, per frame "
              f"{ref['per_frame_mean_ms'] / o['per_frame_mean_ms']:.2f}x")
    print(f"{'batch':>5s} {'step median ms':>15s} {'frames/s':>9s}")
    for b in [int(v) for v in args.batch_sizes.split(",") if v]:
        r = time_batch(weights, config, sequences, b, args.batch_frames)
        results["batch"].append(r)
        print(f"{b:5d} {r['step_median_ms']:15.1f} {r['frames_per_second']:9.2f}", flush=True)
    if args.json:
        from track.files import atomic_write_text

        atomic_write_text(args.json, json.dumps(results, indent=2) + "\n")
    return 0
