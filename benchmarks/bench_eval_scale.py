"""Batched evaluation throughput against batch size and device count, and the share of frame time spent
outside the jitted step.

For each device count N (JAX's forced host devices, ``XLA_FLAGS=--xla_force_host_platform_device_count=N``,
one subprocess each) and batch size B, a :class:`track.api.BatchTracker` over N devices tracks B of the shared
sequences in lockstep (a sequence that ends starts again) as ``atom-jax eval --batch B --devices N`` does:
decode (read-ahead thread), pad into the canvas, upload, the jitted step, fetch the boxes. Reported after
two warm-up steps:
  * frames/s: tracked frames per second of wall time (the loop above, per batch step: B frames);
  * step ms: the jitted step alone (from its call to ``block_until_ready`` on its outputs), same frames;
  * outside: 1 - step / loop time, what decoding, padding, the uploads and the box fetch add per step.

The forced host devices share this machine's CPU cores (2 here, shared with other jobs): N devices do not
bring N times the compute, so frames/s against N shows the overhead of sharding, not the gain a machine with
N GPUs would see. The tracker runs the default config with pytracking's random reference checkpoint.

    python benchmarks/bench_eval_scale.py --weights ../shared/reference/pytracking_atom_seed0/atom_random_seed0.pth \
        --sequences ../shared/data/sequences [--devices 1,2,4] [--batches 1,2,4,8] [--steps 10]

Prints a table and writes benchmarks/results/bench_eval_scale.json (with the load average: timings on a
shared machine are noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]


def measure(weights: str, root: str, batches: list[int], steps: int) -> list[dict]:
    """In this process (its device count fixed at start-up): one row per batch size."""
    import itertools

    import jax
    import numpy as np

    from track.api import make_batch_tracker
    from atom_jax.data.registry import load_dataset

    sequences = load_dataset("generic", pathlib.Path(root))
    rows = []
    for batch in batches:
        trk = make_batch_tracker(weights, {}, 0, batch)
        chosen = list(itertools.islice(itertools.cycle(sequences), batch))
        streams = [itertools.chain.from_iterable(s.images() for s in itertools.repeat(seq)) for seq in chosen]
        for slot, (seq, frames) in enumerate(zip(chosen, streams)):
            trk.initialize(slot, next(frames), seq.init_box_xywh)
        step, jitted = [], trk._step

        def timed(*args):  # the jitted step alone, waited for (update fetches the boxes right after anyway)
            start = time.perf_counter()
            out = jax.block_until_ready(jitted(*args))
            step.append(time.perf_counter() - start)
            return out

        trk._step = timed
        loop = []
        for i in range(steps + 2):
            start = time.perf_counter()
            trk.update([next(f) for f in streams])
            loop.append(time.perf_counter() - start)
        loop, step = loop[2:], step[2:]
        loop_s, step_s = float(np.median(loop)), float(np.median(step))
        rows.append({"devices": trk.mesh.size, "batch": batch, "slots": trk.num_slots,
                     "frames_per_second": batch / loop_s, "loop_ms": loop_s * 1e3, "step_ms": step_s * 1e3,
                     "outside_fraction": max(0.0, 1.0 - step_s / loop_s)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--sequences", required=True)
    parser.add_argument("--devices", default="1,2,4")
    parser.add_argument("--batches", default="1,2,4,8")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    if args.child:
        measure(args.weights, args.sequences, batches, args.steps)
        return 0
    rows = []
    for n in (int(d) for d in args.devices.split(",")):
        env = dict(os.environ, PYTHONPATH=str(REPO), XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")
        mine = ",".join(str(b) for b in batches if b >= n)  # fewer sequences than devices leaves devices idle
        out = subprocess.run([sys.executable, __file__, "--child", "--weights", args.weights, "--sequences",
                              args.sequences, "--batches", mine, "--steps", str(args.steps)],
                             env=env, cwd=REPO, capture_output=True, text=True, check=True).stdout
        rows += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    print(f"{'devices':>7s} {'batch':>5s} {'slots':>5s} {'frames/s':>9s} {'loop ms':>8s} {'step ms':>8s} "
          f"{'outside':>8s}")
    for r in rows:
        print(f"{r['devices']:7d} {r['batch']:5d} {r['slots']:5d} {r['frames_per_second']:9.2f} "
              f"{r['loop_ms']:8.1f} {r['step_ms']:8.1f} {r['outside_fraction']:8.1%}")
    print(f"(forced host devices on {os.cpu_count()} CPU cores: the cores, not the devices, are the limit)")
    out = REPO / "benchmarks" / "results" / "bench_eval_scale.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "cpu_count": os.cpu_count(), "load_average_end": os.getloadavg(),
                               "steps": args.steps}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
