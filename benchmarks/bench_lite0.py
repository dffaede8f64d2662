"""EfficientNet-Lite0 on this CPU: (1) its feature maps against a PyTorch Lite0 of the same computation, (2) the
whole tracker per frame with Lite0 (the built-in weights) against ResNet-18 (pytracking's reference
checkpoint), both measured in the same run.

(1) The maps the built-in weights use (``block5_expand`` and ``block10``) of 288x288 patches at batch 1 (a tracked
frame) and 5 (the multi-scale search): JAX jitted with the depthwise convolution as shifted taps and as a grouped
convolution, BatchNorm folded outside the timed function; PyTorch eager (``tests/parity/torch_efficientnet.py``,
NCHW and channels_last, ``inference_mode``, same number of threads). Same ImageNet weights and inputs; outputs
checked equal before timing. Interleaved rounds; min and median wall ms, and process CPU ms.

(2) ``atom-jax``'s tracker (``track.api.make_tracker``) over the first ``--frames`` frames of each shared
sequence: initialisation (blocked until done) and per-frame mean/median after the first update (compilation
excluded), Lite0 built-in weights and settings vs ResNet-18 with pytracking's random reference weights.

    python benchmarks/bench_lite0.py [--rounds 20] [--frames 60] [--threads 2]

Prints tables and writes ``benchmarks/results/bench_lite0.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SEQUENCES = REPO.parent / "shared" / "data" / "sequences"
REFERENCE = REPO.parent / "shared" / "reference" / "pytracking_atom_seed0" / "atom_random_seed0.pth"
MAPS = ("block5_expand", "block10")


def bench_features(batch: int, rounds: int, threads: int) -> dict:
    import jax
    import numpy as np
    import torch

    from atom_jax import backbones, efficientnet as en
    from tests.parity.torch_efficientnet import TorchEfficientNetLite

    torch.set_num_threads(threads)
    variables = backbones.get("efficientnet_lite0").pretrained()
    folded = jax.tree_util.tree_map(jax.numpy.asarray, en.fold_batchnorm(variables))
    x = np.random.default_rng(0).uniform(0, 255, (batch, 288, 288, 3)).astype(np.float32)
    xj = jax.numpy.asarray(x)
    net = TorchEfficientNetLite("lite0").eval()
    net.load_state_dict(torch.load(backbones.efficientnet_checkpoint("lite0"), map_location="cpu", weights_only=True))
    xt = torch.from_numpy(np.asarray(en.normalize(x)).transpose(0, 3, 1, 2).copy())

    def jax_fn(form):
        f = jax.jit(lambda fo, im: en.features_folded(fo, en.normalize(im), MAPS, depthwise=form))
        return lambda: jax.block_until_ready(f(folded, xj))

    def torch_fn(fmt):
        model = net.to(memory_format=fmt)
        inp = xt.contiguous(memory_format=fmt)

        def run():
            with torch.inference_mode():
                out = model(inp, MAPS)
            return out
        return run

    fns = {"jax-taps": jax_fn("taps"), "jax-grouped": jax_fn("grouped"),
           "torch-nchw": torch_fn(torch.contiguous_format), "torch-channels-last": torch_fn(torch.channels_last)}
    ref = {k: v.numpy().transpose(0, 2, 3, 1) for k, v in fns["torch-nchw"]().items()}
    for name in ("jax-taps", "jax-grouped"):
        out = fns[name]()
        for k in MAPS:
            err = float(np.linalg.norm(np.asarray(out[k]) - ref[k]) / np.linalg.norm(ref[k]))
            assert err < 1e-4, (name, k, err)
    for fn in fns.values():
        fn()
    wall, cpu = {n: [] for n in fns}, {n: [] for n in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            wall[name].append((time.perf_counter() - t0) * 1e3)
            cpu[name].append((time.process_time() - c0) * 1e3)
    return {n: {"min_ms": float(np.min(wall[n])), "median_ms": float(np.median(wall[n])),
                "cpu_median_ms": float(np.median(cpu[n]))} for n in fns}


def bench_tracker(weights, frames: int) -> dict:
    import jax
    import numpy as np

    from atom_jax.data.registry import load_dataset
    from track.api import make_tracker

    out = {}
    for seq in load_dataset("generic", SEQUENCES):
        images = [im for _, im in zip(range(frames), seq.images())]
        trk = make_tracker(weights, {}, 0)
        trk.initialize(images[0], seq.init_box_xywh)  # compiles (once per frame size)
        trk.update(images[1])
        t0 = time.perf_counter()
        trk.initialize(images[0], seq.init_box_xywh)
        jax.block_until_ready(trk.state)
        init_s = time.perf_counter() - t0
        times = []
        for im in images[1:]:
            t0 = time.perf_counter()
            trk.update(im)  # returns the box as NumPy: waits for the device
            times.append(time.perf_counter() - t0)
        out[seq.name] = {"init_s": init_s, "mean_ms": float(np.mean(times) * 1e3),
                         "median_ms": float(np.median(times) * 1e3), "frames": len(times)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--frames", type=int, default=60, help="frames per sequence for the tracker part")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-tracker", action="store_true")
    parser.add_argument("--skip-features", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    import numpy as np

    result = {"loadavg_before": os.getloadavg(), "features": {}, "tracker": {}}
    if not args.skip_features:
        print("Lite0 block5_expand + block10 of 288x288 patches (ms per call; ratio = PyTorch channels_last / JAX)")
    for batch in () if args.skip_features else (1, 5):
        rows = bench_features(batch, args.rounds, args.threads)
        result["features"][batch] = rows
        ref = rows["torch-channels-last"]["median_ms"]
        for name, r in rows.items():
            print(f"  batch {batch}  {name:20s} min {r['min_ms']:8.1f}  median {r['median_ms']:8.1f}  "
                  f"cpu {r['cpu_median_ms']:8.1f}  torch-cl/this {ref / r['median_ms']:5.2f}")
    if not args.skip_tracker:
        if not SEQUENCES.is_dir() or not REFERENCE.is_file():
            print(f"tracker part skipped: {SEQUENCES} or {REFERENCE} not found")
        else:
            for label, weights in (("lite0 (built-in)", None), ("resnet18 (reference)", str(REFERENCE))):
                result["tracker"][label] = bench_tracker(weights, args.frames)
            print(f"\nTracker, first {args.frames} frames of each shared sequence")
            print(f"  {'sequence':18s} " + "  ".join(f"{k:>34s}" for k in result["tracker"]))
            names = list(next(iter(result["tracker"].values())))
            for n in names:
                cells = [f"init {r[n]['init_s']:5.2f} s mean {r[n]['mean_ms']:6.1f} med {r[n]['median_ms']:6.1f}"
                         for r in result["tracker"].values()]
                print(f"  {n:18s} " + "  ".join(f"{c:>34s}" for c in cells))
            for label, r in result["tracker"].items():
                total = sum(v["frames"] for v in r.values())
                mean = sum(v["mean_ms"] * v["frames"] for v in r.values()) / total
                result["tracker"][label]["_overall"] = {"mean_ms": mean,
                                                        "init_median_s": float(np.median([v["init_s"] for v in r.values()]))}
                print(f"  {label}: per-frame mean {mean:.1f} ms (frame-weighted), init median "
                      f"{result['tracker'][label]['_overall']['init_median_s']:.2f} s")
    result["loadavg_after"] = os.getloadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / ("bench_lite0_tracker.json" if args.skip_features else "bench_lite0.json")
    out.write_text(json.dumps(result, indent=1))
    print(f"load average before/after: {result['loadavg_before'][0]:.1f} / {result['loadavg_after'][0]:.1f}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
