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

On a machine with accelerators (``benchmarks/gpu_check.sh``), ``--devices local`` measures this process's own
devices (no forced host devices), ``--synthetic N`` renders N synthetic sequences into a temporary folder
(:mod:`atom_jax.data.synthetic`, nothing needed beside the repository), ``--weights`` left out takes the built-in
weights and ``--set NAME=VALUE`` changes tracker settings::

    python benchmarks/bench_eval_scale.py --devices local --synthetic 8 --batches 1,2,4,8,16,32,64 \
        --out "$OUT/bench_eval_scale.json"

Prints a table and writes benchmarks/results/bench_eval_scale.json or ``--out`` (with the load average: timings
on a shared machine are noisy), rewritten after every row, so a run cut short keeps the rows it measured.
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


def measure(weights: str | None, root: str, batches: list[int], steps: int, overrides: dict,
            on_row=None) -> list[dict]:
    """In this process (its device count fixed at start-up): one row per batch size; ``on_row(rows)`` after each."""
    import itertools

    import jax
    import numpy as np

    from track.api import make_batch_tracker
    from atom_jax.data.registry import load_dataset

    sequences = load_dataset("generic", pathlib.Path(root))
    rows = []
    for batch in batches:
        trk = make_batch_tracker(weights, overrides, 0, batch)
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
        if on_row:
            on_row(rows)
    return rows


def synthetic_sequences(folder: pathlib.Path, num: int, num_frames: int, frame_wh: tuple[int, int]) -> str:
    """``num`` synthetic sequences (seed 0) written in the OTB layout under ``folder``; returns the folder."""
    import numpy as np

    from atom_jax.data import synthetic

    config = synthetic.SyntheticConfig(num_frames=num_frames, frame_wh=frame_wh)
    images = synthetic.bundled_images()
    for i in range(num):
        seed = int(np.random.SeedSequence([0, i]).generate_state(1)[0])
        synthetic.write_sequence(synthetic.make_sequence(seed, images, config), folder / f"synthetic_{i}")
    return str(folder)


def print_table(rows: list[dict]) -> None:
    print(f"{'devices':>7s} {'batch':>5s} {'slots':>5s} {'frames/s':>9s} {'loop ms':>8s} {'step ms':>8s} "
          f"{'outside':>8s}")
    for r in rows:
        print(f"{r['devices']:7d} {r['batch']:5d} {r['slots']:5d} {r['frames_per_second']:9.2f} "
              f"{r['loop_ms']:8.1f} {r['step_ms']:8.1f} {r['outside_fraction']:8.1%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=None, help="ATOM weights (default: the built-in weights)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--sequences", help="a folder of sequences (generic layout)")
    source.add_argument("--synthetic", type=int, metavar="N", help="N synthetic sequences instead (seed 0)")
    parser.add_argument("--synthetic-frames", type=int, default=30, help="frames per synthetic sequence")
    parser.add_argument("--synthetic-size", default="640x360", help="synthetic frame size WxH")
    parser.add_argument("--devices", default="1,2,4",
                        help="forced host device counts, one subprocess each; 'local': this process's devices")
    parser.add_argument("--batches", default="1,2,4,8")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                        help="tracker setting override (repeatable)")
    parser.add_argument("--out", type=pathlib.Path, default=REPO / "benchmarks" / "results" / "bench_eval_scale.json")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    if args.synthetic is not None and not args.child:
        import tempfile

        w, h = (int(v) for v in args.synthetic_size.lower().split("x"))
        with tempfile.TemporaryDirectory(prefix="bench_eval_scale_") as tmp:
            args.sequences = synthetic_sequences(pathlib.Path(tmp), args.synthetic, args.synthetic_frames, (w, h))
            return run(args, batches)
    return run(args, batches)


def run(args, batches: list[int]) -> int:
    from track.runner import parse_overrides

    overrides = parse_overrides(args.overrides)
    if args.child:
        measure(args.weights, args.sequences, batches, args.steps, overrides)
        return 0
    meta = {"cpu_count": os.cpu_count(), "steps": args.steps, "weights": args.weights or "built-in",
            "overrides": overrides, "sequences": "synthetic" if args.synthetic is not None else args.sequences}

    def write(rows):
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"rows": rows, **meta, "load_average_end": os.getloadavg()}, indent=2) + "\n")

    if args.devices == "local":
        import jax

        meta["devices"] = [str(d) for d in jax.local_devices()]
        rows = measure(args.weights, args.sequences, batches, args.steps, overrides, on_row=write)
        print_table(rows)
        print(f"wrote {args.out}")
        return 0
    rows = []
    for n in (int(d) for d in args.devices.split(",")):
        env = dict(os.environ, PYTHONPATH=str(REPO), XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")
        mine = ",".join(str(b) for b in batches if b >= n)  # fewer sequences than devices leaves devices idle
        cmd = [sys.executable, __file__, "--child", "--sequences", args.sequences, "--batches", mine,
               "--steps", str(args.steps), *(a for o in args.overrides for a in ("--set", o))]
        cmd += ["--weights", args.weights] if args.weights else []
        out = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, check=True).stdout
        rows += [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        write(rows)
    print_table(rows)
    print(f"(forced host devices on {os.cpu_count()} CPU cores: the cores, not the devices, are the limit)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
