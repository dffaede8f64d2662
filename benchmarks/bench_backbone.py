"""Per-frame cost of the tracker's feature extraction: ResNet-18 to layer3 + IoU-Net test-branch features.

Question: for a 288x288 search patch (batch 1, and batch 8 per frame), how does the jitted JAX computation
compare with the same computation in PyTorch (default NCHW, and channels_last) on this CPU? (2 threads each;
``--threads 1`` runs both single-threaded.)

Both sides use the same random weights (PyTorch modules with torchvision / pytracking names, converted by
``atom_jax.convert``) and the same input; PyTorch runs with 2 threads under ``inference_mode``. JAX variants:
  * ``jax-linen``: the Linen modules, BatchNorm applied as a separate step;
  * ``jax-folded``: ``backbone_features`` (BatchNorm folded into the kernels inside the jitted function);
  * ``jax-prefolded``: BatchNorm folded once outside (``fold_batchnorm``), the per-frame function only convolves.
Timings are interleaved (one call of every variant per round) so that load from other processes hits all
variants alike; the table gives the min and median over rounds, in ms per frame, and ratios to torch
channels_last. It also gives the process CPU time per frame (both threads summed), which is far less
sensitive to other processes than wall time on a shared machine; PyTorch's OpenMP threads may spin while
waiting, which counts as CPU time. ``--xla-flags`` sets XLA_FLAGS for this run; ``--sweep`` reruns the script in subprocesses for a
few XLA CPU flag sets. Writes ``benchmarks/results/bench_backbone*.json``.

    python benchmarks/bench_backbone.py [--rounds 20] [--batch 1 8] [--threads 1] [--xla-flags "..."] [--sweep]

Measured on the shared 2-core machine while other jobs ran (load average ~12): single-threaded CPU time per
frame, JAX (BatchNorm pre-folded, Winograd for the 36x36 layers) 53 ms vs PyTorch channels_last 56 ms at batch
1 (ratio 0.95) and 61 vs 60 ms at batch 8 (1.03); PyTorch NCHW 1.25x channels_last. With 2 threads under that
load PyTorch's OpenMP threads degrade badly (min 290 ms/frame at batch 1 vs JAX 76 ms), so the 2-thread wall
times say more about the load than about the code. None of the XLA CPU flags in SWEEP_FLAGS changed the
CPU time by more than the noise; BatchNorm folding did not either (XLA fuses it into the bias/ReLU pass).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SWEEP_FLAGS = ["", "--xla_cpu_use_xnnpack=false", "--xla_cpu_use_onednn=true", "--xla_cpu_enable_fast_math=true"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--size", type=int, default=288)
    parser.add_argument("--xla-flags", default=None, help="XLA_FLAGS for this run (default: the environment's)")
    parser.add_argument("--sweep", action="store_true", help=f"run once per XLA flag set in {SWEEP_FLAGS}")
    parser.add_argument("--threads", type=int, default=2, choices=[1, 2],
                        help="PyTorch threads; 1 also makes XLA single-threaded (a load-robust compute comparison)")
    parser.add_argument("--out", default=None, help="JSON output path")
    return parser.parse_args(argv)


def build(batch: int, size: int, threads: int):
    """Functions of every variant on shared weights and inputs: name -> callable blocking until done."""
    import jax
    import numpy as np
    import torch

    from atom_jax.backbone import ResNet18, backbone_features, backbone_features_folded, fold_batchnorm
    from atom_jax.convert import convert_state_dict
    from atom_jax.iou_net import get_iou_feat
    from tests.parity.torch_networks import TorchAtomIoUNet, TorchResNet18, randomize_, state_dict_numpy

    torch.set_num_threads(threads)
    backbone, iou = randomize_(TorchResNet18(), 0).eval(), randomize_(TorchAtomIoUNet(), 1).eval()
    state = {**state_dict_numpy(backbone, "feature_extractor."), **state_dict_numpy(iou, "bb_regressor.")}
    weights = jax.device_put(convert_state_dict(state, "bench")[0])
    folded = jax.device_put(fold_batchnorm(weights["backbone"]))
    x = np.random.default_rng(0).normal(size=(batch, size, size, 3)).astype(np.float32)
    x_jax = jax.device_put(x)
    layers = ("layer2", "layer3")

    @jax.jit
    def jax_linen(w, x):
        return get_iou_feat(w["iou_net"], ResNet18(layers).apply(w["backbone"], x))

    @jax.jit
    def jax_folded(w, x):
        return get_iou_feat(w["iou_net"], backbone_features(w["backbone"], x, layers))

    @jax.jit
    def jax_prefolded(w, folded, x):
        return get_iou_feat(w["iou_net"], backbone_features_folded(folded, x, layers))

    def torch_fn(memory_format):
        bb = TorchResNet18().eval().to(memory_format=memory_format)
        net = TorchAtomIoUNet().eval().to(memory_format=memory_format)
        bb.load_state_dict(backbone.state_dict())
        net.load_state_dict(iou.state_dict())
        xt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).contiguous(memory_format=memory_format)

        def run():
            with torch.inference_mode():
                feat = bb(xt, layers)
                return net.get_iou_feat(feat["layer2"], feat["layer3"])
        return run

    fns = {
        "jax-linen": lambda: jax.block_until_ready(jax_linen(weights, x_jax)),
        "jax-folded": lambda: jax.block_until_ready(jax_folded(weights, x_jax)),
        "jax-prefolded": lambda: jax.block_until_ready(jax_prefolded(weights, folded, x_jax)),
        "torch-nchw": torch_fn(torch.contiguous_format),
        "torch-channels-last": torch_fn(torch.channels_last),
    }
    # the variants compute the same thing: check before timing
    ref = [t.numpy() for t in fns["torch-nchw"]()]
    for name in ("jax-linen", "jax-folded", "jax-prefolded"):
        out = [np.asarray(a).transpose(0, 3, 1, 2) for a in fns[name]()]
        err = max(float(np.linalg.norm(a - b) / np.linalg.norm(b)) for a, b in zip(out, ref))
        assert err < 1e-4, (name, err)
    return fns


def measure(batch: int, size: int, rounds: int, threads: int) -> dict:
    import numpy as np

    fns = build(batch, size, threads)
    for fn in fns.values():  # compile / warm up
        fn()
        fn()
    wall = {name: [] for name in fns}
    cpu = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            start_cpu, start = time.process_time(), time.perf_counter()
            fn()
            wall[name].append((time.perf_counter() - start) * 1000 / batch)
            cpu[name].append((time.process_time() - start_cpu) * 1000 / batch)
    return {name: {"min_ms": float(np.min(wall[name])), "median_ms": float(np.median(wall[name])),
                   "cpu_min_ms": float(np.min(cpu[name])), "cpu_median_ms": float(np.median(cpu[name]))}
            for name in fns}


def print_table(result: dict) -> None:
    print(f"\nXLA_FLAGS={result['xla_flags']!r}  (ms per {result['size']}x{result['size']} frame; "
          "ratio = JAX / torch channels-last, < 1 is faster)")
    print(f"{'batch':>5}  {'variant':<20} {'min ms':>8} {'median ms':>10} {'ratio(min)':>10} {'ratio(med)':>10}"
          f" {'cpu ms(med)':>11} {'cpu ratio':>9}")
    for batch, rows in result["batches"].items():
        ref = rows["torch-channels-last"]
        for name, row in rows.items():
            print(f"{batch:>5}  {name:<20} {row['min_ms']:8.2f} {row['median_ms']:10.2f} "
                  f"{row['min_ms'] / ref['min_ms']:10.2f} {row['median_ms'] / ref['median_ms']:10.2f}"
                  f" {row['cpu_median_ms']:11.2f} {row['cpu_median_ms'] / ref['cpu_median_ms']:9.2f}")


def main(argv=None) -> int:
    args = parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.sweep:
        for i, flags in enumerate(SWEEP_FLAGS):
            cmd = [sys.executable, __file__, "--rounds", str(args.rounds), "--size", str(args.size),
                   "--batch", *map(str, args.batch), "--xla-flags", flags,
                   "--out", str(RESULTS / f"bench_backbone_sweep{i}.json")]
            subprocess.run(cmd, check=True)
        return 0
    if args.xla_flags is not None:
        os.environ["XLA_FLAGS"] = args.xla_flags  # before JAX is imported
    if args.threads == 1:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                                   + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    sys.path.insert(0, str(REPO))
    import jax
    import torch

    result = {"question": "ResNet-18 to layer3 + IoU-Net test-branch features per frame, JAX vs PyTorch",
              "xla_flags": os.environ.get("XLA_FLAGS", ""), "size": args.size, "rounds": args.rounds,
              "jax": jax.__version__, "torch": torch.__version__, "torch_threads": args.threads,
              "cpu": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "loadavg_before": os.getloadavg(), "batches": {}}
    for batch in args.batch:
        result["batches"][batch] = measure(batch, args.size, args.rounds, args.threads)
    result["loadavg_after"] = os.getloadavg()
    print_table(result)
    default_name = "bench_backbone.json" if args.threads == 2 else "bench_backbone_1thread.json"
    out = pathlib.Path(args.out) if args.out else RESULTS / default_name
    out.write_text(json.dumps(result, indent=2))
    print(f"load average before/after: {result['loadavg_before'][0]:.1f} / {result['loadavg_after'][0]:.1f}; "
          f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
