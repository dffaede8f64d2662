"""Training step time and pairs/s: the jitted JAX step vs an eager PyTorch step, same batch, same run.

Both steps do the same work: frozen ResNet-18 (running statistics) on the train and test crops, the IoU-Net in
training mode on 16 proposals per pair, MSE loss, backward through the head, one Adam update. The PyTorch side
is the modules of ``tests/parity/torch_networks.py`` (torchvision / pytracking layouts, eager Precise RoI
Pooling). Also timed: making a batch on the host (``train.processing``, one process), which the pipeline's
workers overlap with the step. Repeats are interleaved (JAX, torch, JAX, ...) and the median is reported,
because other jobs share this machine.

    python benchmarks/bench_train.py [--batch 8] [--size 288] [--repeats 5]

``--no-torch`` times the JAX step alone (weights from the config's seeded initialisation; no PyTorch needed:
what ``benchmarks/gpu_check.sh`` runs on an accelerator), ``--out`` names the JSON file.
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

import jax
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=288, help="crop size (ATOM: 288)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-torch", action="store_true", help="time the JAX step only")
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "benchmarks" / "results" / "bench_train.json")
    args = ap.parse_args()

    from train import loop, pipeline
    from train import train as T
    from train.configs import load_config, resolve_data

    cfg = resolve_data(load_config("demo"))
    scale = args.size / 288
    cfg["processing"].update({"output_size": args.size, "search_area_factor": 5.0 * scale,
                              "center_jitter": [0.0, 4.5 * scale]})
    cfg["batch_size"] = args.batch
    spec = loop._spec(cfg, "train")

    t = time.perf_counter()
    batches = [b for _, b in pipeline.batches(spec, range(args.repeats + 1), args.batch)]
    t_data = (time.perf_counter() - t) / len(batches)

    if args.no_torch:
        weights = T.init_weights(cfg)
    else:
        import torch

        from atom_jax.convert import convert_state_dict
        from tests.parity.torch_networks import TorchAtomIoUNet, TorchResNet18, randomize_, state_dict_numpy

        backbone = randomize_(TorchResNet18(), seed=1).eval()
        head = randomize_(TorchAtomIoUNet(), seed=2).train()
        state_dict = {**state_dict_numpy(backbone, "feature_extractor."), **state_dict_numpy(head, "bb_regressor.")}
        weights, _ = convert_state_dict(state_dict, "bench")
    trainable = T.trainable_of(weights, False)
    state = {"step": np.zeros((), np.int32), "weights": weights, "opt_state": T.make_optimizer(cfg).init(trainable)}
    state = jax.tree_util.tree_map(jax.numpy.asarray, state)
    step = T.make_train_step(cfg)

    def jax_step(b):
        nonlocal state
        t = time.perf_counter()
        state, m = step(state, b)
        jax.block_until_ready(m)
        return time.perf_counter() - t

    t_compile = jax_step(batches[0])
    if args.no_torch:
        t_jax = [jax_step(b) for b in batches[1:]]
        jm = statistics.median(t_jax)
        print(f"batch {args.batch} pairs, {args.size}x{args.size} crops, 16 proposals/pair, {args.repeats} repeats "
              f"(median) on {jax.devices()[0].platform}: JAX jitted train_step {jm:.4f} s/step, "
              f"{args.batch / jm:.1f} pairs/s (compile {t_compile:.1f} s); host batch making {t_data:.3f} s")
        write_json(args.out, {"batch": args.batch, "size": args.size, "repeats": args.repeats, "jax_step_s": t_jax,
                              "pairs_per_second": args.batch / jm, "data_s_per_batch": t_data,
                              "jax_compile_s": t_compile, "device": str(jax.devices()[0])})
        return

    head_t = copy.deepcopy(head)
    opt = torch.optim.Adam(head_t.parameters(), lr=1e-3)
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    nchw = lambda x: torch.from_numpy(np.ascontiguousarray(((x / 255.0 - mean) / std).transpose(0, 3, 1, 2)))

    def torch_step(b):
        with torch.no_grad():
            f1 = backbone(nchw(b["train_images"]), ("layer2", "layer3"))
            f2 = backbone(nchw(b["test_images"]), ("layer2", "layer3"))
        pred = head_t([f1["layer2"], f1["layer3"]], [f2["layer2"], f2["layer3"]],
                      torch.from_numpy(b["train_box_xywh"]), torch.from_numpy(b["proposals_xywh"]))
        loss = torch.nn.functional.mse_loss(pred, torch.from_numpy(b["proposal_iou"]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.detach())

    torch_step(batches[0])  # warm-up
    t_jax, t_torch = [], []
    for b in batches[1:]:
        t_jax.append(jax_step(b))
        t = time.perf_counter()
        torch_step(b)
        t_torch.append(time.perf_counter() - t)

    jm, tm = statistics.median(t_jax), statistics.median(t_torch)
    rows = [("JAX jitted train_step", jm, args.batch / jm), ("PyTorch eager step", tm, args.batch / tm),
            ("host batch making (1 process)", t_data, args.batch / t_data)]
    print(f"batch {args.batch} pairs, {args.size}x{args.size} crops, 16 proposals/pair, {args.repeats} repeats "
          f"(median), torch threads {torch.get_num_threads()}, cpus {os.cpu_count()}, JAX compile {t_compile:.1f} s")
    print(f"{'':32s} {'s/step':>8s} {'pairs/s':>8s}")
    for name, s, p in rows:
        print(f"{name:32s} {s:8.3f} {p:8.2f}")
    print(f"JAX step speed-up over PyTorch: {tm / jm:.2f}x (min times: {min(t_torch) / min(t_jax):.2f}x)")
    write_json(args.out, {
        "batch": args.batch, "size": args.size, "repeats": args.repeats, "jax_step_s": t_jax,
        "torch_step_s": t_torch, "data_s_per_batch": t_data, "jax_compile_s": t_compile,
        "speedup_median": tm / jm, "torch_threads": torch.get_num_threads()})


def write_json(path: pathlib.Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**record, "load_average_end": os.getloadavg()}, indent=1))


if __name__ == "__main__":
    main()
