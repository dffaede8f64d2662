"""Tracker speed on the shared real sequences: JAX (jitted) vs an eager PyTorch run of the same work, same run.

JAX side (``track.bench``, also ``atom-jax bench``): per sequence, compile times of init and step (ahead of
time, reported apart), initialisation time, per-frame mean and median; then frames/s of batched lockstep
tracking with B = 1, 4, 8.

PyTorch side (measured in this run, eager, 2 threads as pytracking runs here; ``--no-torch`` skips it): the
computations pytracking's ATOM performs, with pytracking's semantics, from the parity helpers in
``tests/parity`` (own PyTorch code), replaying what the JAX tracker did on each frame of the same sequence:
  * initialisation: the expanded patch and its 23 augmentations, ResNet-18 to layer3 on the 23 samples,
    feature normalisation, IoU-Net modulation, the first-frame Gauss-Newton (6 x 10 CG, double backprop);
  * a frame: patch sampling, ResNet-18 to layer3, normalisation, projection, filter scores, Fourier upsampling;
    unless the JAX tracker reported 'not_found' there, IoU-Net test features and 5 gradient-ascent steps on
    10 boxes; where the JAX tracker updated its filter (regular or hard negative), a CG filter update with
    the same iteration count over the full 250-sample memory.
Network weights are random on both sides (the cost does not depend on them; denormals are flushed in
PyTorch, as XLA does). It omits pytracking's Python bookkeeping, so it is faster than pytracking itself: the
recorded pytracking times on Crossing (``--reference-times``, not measured in this run) are printed too.

    python benchmarks/bench_tracker.py --weights ../shared/reference/pytracking_atom_seed0/atom_random_seed0.pth \
        --sequences ../shared/data/sequences --max-frames 40

Writes benchmarks/results/bench_tracker.json. Timings on a shared machine are noisy: the table gives means and
medians, and the JSON stores the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # for tests.parity helpers when run as a script


def torch_workload(frames, box_xywh, flags, trains, config, repeats: int = 2) -> dict:
    """Eager PyTorch timings of ATOM's init and per-frame computations (see the module docstring); frame
    ``k + 1`` does the work that ``flags[k]`` / ``trains[k]`` (the JAX run's ``aux``) say it did."""
    import torch
    import torch.nn.functional as F

    from tests.parity import torch_image, torch_optim
    from tests.parity.torch_networks import TorchAtomIoUNet, TorchResNet18, randomize_

    torch.set_num_threads(2)
    # The randomised BatchNorm statistics of the parity networks produce denormal activations, which make
    # PyTorch's CPU kernels ~3x slower; trained networks do not have them (and XLA flushes them).
    torch.set_flush_denormal(True)
    backbone = randomize_(TorchResNet18(), seed=1).eval()
    iou = randomize_(TorchAtomIoUNet(), seed=2).eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x, y, w, h = (float(v) for v in box_xywh)
    pos = torch.tensor([y + (h - 1) / 2, x + (w - 1) / 2])
    scale = float(np.sqrt(w * h * 25) / 288)
    aug = {"fliplr": True, "rotate": [5, -5, 10, -10, 20, -20, 30, -30, 45, -45, -60, 60],
           "blur": [(2, 0.2), (0.2, 2), (3, 1), (1, 3), (2, 2)],
           "relativeshift": [(0.6, 0.6), (-0.6, 0.6), (0.6, -0.6), (-0.6, -0.6)]}

    def features(patches_nchw):
        f = backbone((patches_nchw / 255 - mean) / std, ("layer2", "layer3"))
        l3 = f["layer3"]
        l3 = l3 / (l3.pow(2).mean(dim=(1, 2, 3), keepdim=True) + 1e-10).sqrt()
        return f, l3

    def init_once():
        with torch.no_grad():
            samples, _ = torch_image.init_samples(frames[0], pos.tolist(), scale, (288, 288), aug, [(3, -2)] * 18)
            f, l3 = features(torch.from_numpy(samples).permute(0, 3, 1, 2))
            iou.get_modulation(f["layer2"][:1], f["layer3"][:1], torch.tensor([[127.0, 93.0, 34.0, 99.0]]))
            xs = torch.cat([l3, F.dropout2d(l3[:1].expand(7, -1, -1, -1), 0.2, training=True)])
        labels = torch.rand(30, 1, 18, 18)
        params = [torch.randn(1, 64, 4, 4) / 1024, torch.randn(64, 256, 1, 1) / 16]
        sw = torch.full((30,), 1 / 30)
        torch_optim.gauss_newton_cg(lambda p: torch_optim.factorized_residuals(p, xs, labels, sw), params, 6, 10)

    init_times = []
    for _ in range(repeats):
        t = time.perf_counter()
        init_once()
        init_times.append(time.perf_counter() - t)

    proj = torch.randn(64, 256, 1, 1) / 16
    filt = torch.randn(1, 64, 4, 4) / 1024
    memory = torch.randn(250, 64, 18, 18)
    mem_labels = torch.rand(250, 1, 18, 18)
    mem_w = torch.full((250,), 1 / 250)
    modulation = (torch.randn(1, 256), torch.randn(1, 256))
    from atom_jax.localize import FLAG_NAMES

    not_found = FLAG_NAMES.index("not_found")
    cg_iters = {1: config.CG_iter, 2: config.hard_negative_CG_iter}
    steps = []
    for frame, flag, train in zip(frames[1:], flags, trains):
        t = time.perf_counter()
        with torch.no_grad():
            im = torch_image.image_to_tensor(frame)
            patch, _ = torch_image.sample_patch(im, pos, torch.tensor([288.0, 288.0]) * scale,
                                                torch.tensor([288.0, 288.0]))
            f, l3 = features(patch)
            s = torch_optim.conv_same(F.conv2d(l3, proj), filt)
            up = torch.fft.irfft2(torch.fft.rfft2(s), s=(288, 288))
            up.flatten().argmax()
        if flag != not_found:
            with torch.no_grad():
                c3, c4 = iou.get_iou_feat(f["layer2"], f["layer3"])
            boxes = torch.tensor([[120.0, 90.0, 35.0, 100.0]]).repeat(1, 10, 1) + torch.randn(1, 10, 4)
            for _ in range(5):
                b = boxes.clone().requires_grad_(True)
                out = iou.predict_iou(modulation, (c3, c4), b)
                out.backward(torch.ones_like(out))
                boxes = (b + b.grad * b[:, :, 2:].repeat(1, 1, 2)).detach()
        if train:
            torch_optim.gauss_newton_cg(lambda p: torch_optim.filter_residuals(p, memory, mem_labels, mem_w),
                                        [filt], 1, cg_iters[train], fletcher_reeves=False)
        steps.append(time.perf_counter() - t)
    steps = np.asarray(steps)
    return {"init_seconds": float(min(init_times)), "per_frame_mean_ms": float(steps.mean() * 1e3),
            "per_frame_median_ms": float(np.median(steps) * 1e3), "frames": len(steps) + 1}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=str(REPO.parent / "shared/reference/pytracking_atom_seed0/"
                                                                "atom_random_seed0.pth"))
    parser.add_argument("--sequences", default=str(REPO.parent / "shared/data/sequences"))
    parser.add_argument("--only", default="")
    parser.add_argument("--max-frames", type=int, default=40)
    parser.add_argument("--batch-sizes", default="1,4,8")
    parser.add_argument("--batch-frames", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-torch", action="store_true", help="skip the eager PyTorch workload")
    parser.add_argument("--reference-times", default=str(REPO.parent / "shared/reference/pytracking_atom_seed0/"
                                                                      "crossing_times.txt"))
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/bench_tracker.json"))
    args = parser.parse_args(argv)

    from track import bench

    jax_json = pathlib.Path(args.out).with_suffix(".jax.json")
    ref = args.reference_times if pathlib.Path(args.reference_times).is_file() else None
    bench_args = argparse.Namespace(weights=args.weights, sequences=args.sequences, only=args.only,
                                    max_frames=args.max_frames, batch_sizes=args.batch_sizes,
                                    batch_frames=args.batch_frames, repeats=args.repeats, reference_times=ref,
                                    set=[], json=str(jax_json))
    bench.run(bench_args)
    results = json.loads(jax_json.read_text())
    jax_json.unlink()
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    if not args.no_torch:
        from atom_jax.config import TrackerConfig

        config = TrackerConfig()  # what bench.run tracked with (no --set)
        print("\neager PyTorch, same computations (the JAX run's per-frame decisions), same run:")
        print(f"{'sequence':18s} {'init s':>7s} {'mean ms':>8s} {'median ms':>9s} {'updates':>7s} "
              f"{'torch/jax init':>14s} {'torch/jax mean':>14s}")
        results["torch"] = {}
        for name, frames, box in bench._sequences(args.sequences, args.only, args.max_frames):
            j = results["sequences"][name]
            t = torch_workload(frames, box, j["per_frame_flag"], j["per_frame_train"], config, args.repeats)
            t["ratio_init"] = t["init_seconds"] / j["init_seconds"]
            t["ratio_per_frame_mean"] = t["per_frame_mean_ms"] / j["per_frame_mean_ms"]
            t["ratio_per_frame_median"] = t["per_frame_median_ms"] / j["per_frame_median_ms"]
            results["torch"][name] = t
            updates = sum(1 for u in j["per_frame_train"] if u)
            print(f"{name:18s} {t['init_seconds']:7.2f} {t['per_frame_mean_ms']:8.1f} "
                  f"{t['per_frame_median_ms']:9.1f} {updates:7d} {t['ratio_init']:13.2f}x "
                  f"{t['ratio_per_frame_mean']:13.2f}x", flush=True)
        ts = results["torch"].values()
        results["torch_overall"] = {
            "ratio_init_median": float(np.median([t["ratio_init"] for t in ts])),
            "ratio_per_frame_mean": float(np.average([t["per_frame_mean_ms"] for t in ts],
                                                     weights=[t["frames"] - 1 for t in ts])
                                          / results["overall"]["per_frame_mean_ms"]),
        }
        print(f"overall: torch/jax init {results['torch_overall']['ratio_init_median']:.2f}x (median), "
              f"per frame {results['torch_overall']['ratio_per_frame_mean']:.2f}x (frame-weighted means)")
    results["load_average_end"] = os.getloadavg()
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
